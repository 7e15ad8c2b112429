import { describe, expect, it } from "vitest";
import { loadAddon } from "../../src/host/addon.js";
import {
  ALPS_MAX_CGROUPS,
  ALPS_MAX_FNS,
  ALPS_MAX_LEVELS,
  ALPS_MAX_TASKS,
  COUNTER_NAMES,
  STRUCTS,
} from "../../src/host/addon-types.js";
import { requireHost } from "../helpers/host.js";

const loaded = loadAddon();

describe.skipIf(
  !requireHost(`the built native addon (${loaded.ok ? "" : loaded.reason})`, loaded.ok),
)("addon struct layout", () => {
  const layout = loaded.ok ? loaded.addon.structLayout() : undefined;

  for (const [name, def] of Object.entries(STRUCTS)) {
    it(`${name}: C sizeof/offsetof equal the TypeScript definition`, () => {
      const native = layout?.[name as keyof typeof STRUCTS];
      expect(native?.size).toBe(def.size);
      const tsOffsets = Object.fromEntries(
        Object.entries(def.fields).map(([f, l]) => [f, l.offset]),
      );
      expect(native?.offsets).toEqual(tsOffsets);
    });
  }

  it("fields do not overlap and fit in the struct", () => {
    for (const def of Object.values(STRUCTS)) {
      const fields = Object.values(def.fields).sort((a, b) => a.offset - b.offset);
      for (let i = 0; i < fields.length; i++) {
        const f = fields[i] as { offset: number; size: number };
        const next = fields[i + 1];
        expect(f.offset + f.size).toBeLessThanOrEqual(next ? next.offset : def.size);
      }
    }
  });

  it("compiled limits and counter count agree", () => {
    expect(layout?.constants).toEqual({
      ALPS_MAX_LEVELS,
      ALPS_MAX_FNS,
      ALPS_MAX_TASKS,
      ALPS_MAX_CGROUPS,
      ALPS_NR_COUNTERS: COUNTER_NAMES.length,
    });
  });

  it("validates arguments in C++ (TypeError / RangeError)", () => {
    if (!loaded.ok) return;
    expect(() => loaded.addon.setNice("1" as unknown as number, 0)).toThrow(TypeError);
    expect(() => loaded.addon.setNice(process.pid, 40)).toThrow(RangeError);
    expect(() => loaded.addon.setAttr(process.pid, { policy: 0 } as never)).toThrow(TypeError);
  });

  it("reports a vanished task as ESRCH", () => {
    if (!loaded.ok) return;
    // pid_max is at most 4194304; this tid cannot exist.
    expect(() => loaded.addon.getNice(4_194_305)).toThrow(
      expect.objectContaining({ code: "ESRCH" }),
    );
  });
});
