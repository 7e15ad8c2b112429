/**
 * Every constant of the kernel boundary, one by one: bpf/alps.h read as
 * text against the TypeScript mirror in src/host/addon-types.ts. No addon,
 * no root: a change to the header fails here until the TypeScript side
 * follows, and a constant added to the header fails until it is mirrored
 * (or listed below as the kernel's own).
 */
import { describe, expect, it } from "vitest";
import * as types from "../../src/host/addon-types.js";
import { readHeader } from "./alps-h.js";

const header = readHeader();

/** #defines the TypeScript side has no use for, and why. */
const KERNEL_ONLY: Record<string, string> = {
  ALPS_H: "the include guard",
};

/** Each #define with its TypeScript mirror. */
const DEFINES: Record<string, number> = {
  ALPS_MAX_LEVELS: types.ALPS_MAX_LEVELS,
  ALPS_MAX_FNS: types.ALPS_MAX_FNS,
  ALPS_MAX_TASKS: types.ALPS_MAX_TASKS,
  ALPS_MAX_CGROUPS: types.ALPS_MAX_CGROUPS,
  ALPS_RINGBUF_BYTES: types.ALPS_RINGBUF_BYTES,
  ALPS_TASK_EXPIRED: types.TASK_EXPIRED,
  ALPS_TASK_REGISTERED: types.TASK_REGISTERED,
  ALPS_TASK_SEEN_RUNNING: types.TASK_SEEN_RUNNING,
};

/** Each enum, member by member, with its TypeScript mirror. */
const ENUMS: Record<string, [string, number][]> = {
  alps_strategy: [
    ["ALPS_STRATEGY_DYNAMIC", types.STRATEGY_CODE.dynamic],
    ["ALPS_STRATEGY_STATIC", types.STRATEGY_CODE.static],
    ["ALPS_STRATEGY_RT", types.STRATEGY_CODE.rt],
    ["ALPS_STRATEGY_OBSERVE", types.STRATEGY_OBSERVE],
  ],
  alps_event_type: [
    ["ALPS_EV_LEVEL", types.EV_LEVEL],
    ["ALPS_EV_EXPIRED", types.EV_EXPIRED],
    ["ALPS_EV_BLOCKED", types.EV_BLOCKED],
    ["ALPS_EV_WOKE", types.EV_WOKE],
    ["ALPS_EV_EXITED", types.EV_EXITED],
  ],
  alps_counter: [
    ...types.COUNTER_NAMES.map((name, i): [string, number] => [name, i]),
    ["ALPS_NR_COUNTERS", types.COUNTER_NAMES.length],
  ],
};

describe("bpf/alps.h constants against src/host/addon-types.ts", () => {
  it("every #define is mirrored or listed as the kernel's own", () => {
    const unmirrored = [...header.defines.keys()].filter(
      (name) => !(name in DEFINES) && !(name in KERNEL_ONLY),
    );
    expect(unmirrored).toEqual([]);
  });

  for (const [name, value] of Object.entries(DEFINES)) {
    it(`#define ${name}`, () => {
      expect(header.defines.get(name)).toBe(value);
    });
  }

  it("names no enum the TypeScript side does not mirror", () => {
    expect([...header.enums.keys()].sort()).toEqual(Object.keys(ENUMS).sort());
  });

  for (const [name, members] of Object.entries(ENUMS)) {
    it(`enum ${name}: the same members, in order, with the same values`, () => {
      expect(header.enums.get(name)).toEqual(members);
    });
  }

  it("names no struct the TypeScript side does not lay out", () => {
    expect([...header.structs.keys()].sort()).toEqual(Object.keys(types.STRUCTS).sort());
  });

  for (const [name, def] of Object.entries(types.STRUCTS)) {
    it(`struct ${name}: size, and each field's offset and size`, () => {
      const parsed = header.structs.get(name);
      expect(parsed?.size).toBe(def.size);
      // Explicit padding (_pad*) has no TypeScript field.
      const fields = Object.fromEntries(
        (parsed?.fields ?? [])
          .filter((f) => !f.name.startsWith("_pad"))
          .map((f) => [f.name, { offset: f.offset, size: f.size }]),
      );
      expect(fields).toEqual(def.fields);
    });
  }
});

describe("the alps.h reader", () => {
  it("counts implicit enum values on from the last explicit one", () => {
    const h = readHeader("enum e { A = 3, B, C = 10, D, };");
    expect(h.enums.get("e")).toEqual([
      ["A", 3],
      ["B", 4],
      ["C", 10],
      ["D", 11],
    ]);
  });

  it("lays out a struct with natural alignment and tail padding", () => {
    const h = readHeader("#define N 2\nstruct s { __u32 a; __u64 b[N]; __s32 c; };");
    expect(h.structs.get("s")).toEqual({
      size: 32,
      fields: [
        { name: "a", offset: 0, size: 4 },
        { name: "b", offset: 8, size: 16 },
        { name: "c", offset: 24, size: 4 },
      ],
    });
  });

  it("evaluates the header's constant expressions and refuses others", () => {
    expect(readHeader("#define A (1u << 3)\n#define B (A * 4)").defines.get("B")).toBe(32);
    expect(() => readHeader("#define A sizeof(int)")).toThrow(/not an integer constant/);
    expect(() => readHeader("struct s { char c; };")).toThrow(/cannot lay out/);
  });
});
