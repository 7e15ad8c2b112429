import { describe, expect, it } from "vitest";
import { DiffWatcher } from "../../../src/frontend/platforms/diff-watcher.js";
import type { SandboxEvent, SandboxInfo } from "../../../src/frontend/platforms/types.js";

describe("DiffWatcher", () => {
  it("emits adds, removes, and remove+add when a recycled id changes function; keeps state on scan errors", async () => {
    const scans: (SandboxInfo[] | Error)[] = [
      [{ id: "cg-1", fn: "a", cgroupPath: "/c/cg-1" }],
      [
        { id: "cg-1", fn: "b", cgroupPath: "/c/cg-1" },
        { id: "cg-2", fn: "a", cgroupPath: "/c/cg-2" },
      ],
      new Error("EIO"),
      [{ id: "cg-2", fn: "a", cgroupPath: "/c/cg-2" }],
    ];
    let i = 0;
    const errors: string[] = [];
    const w = new DiffWatcher(
      async () => {
        const s = scans[Math.min(i++, scans.length - 1)];
        if (s instanceof Error) throw s;
        return s ?? [];
      },
      5,
      (e) => errors.push(e.message),
    );
    const events: string[] = [];
    await w.start((e: SandboxEvent) => events.push(`${e.type} ${e.id} ${e.fn}`));
    expect(events).toEqual(["add cg-1 a"]);
    while (i < scans.length + 1) await new Promise((r) => setTimeout(r, 5));
    await w.stop();
    expect(events).toEqual([
      "add cg-1 a",
      "remove cg-1 a",
      "add cg-1 b",
      "add cg-2 a",
      "remove cg-1 b",
    ]);
    expect(errors).toEqual(["EIO"]);
    expect(w.snapshot()).toEqual([{ id: "cg-2", fn: "a", cgroupPath: "/c/cg-2" }]);
  });

  it("rejects start when the first scan fails", async () => {
    const w = new DiffWatcher(
      async () => Promise.reject(new Error("no root")),
      5,
      () => {},
    );
    await expect(w.start(() => {})).rejects.toThrow("no root");
  });
});
