import { describe, expect, it } from "vitest";
import { BurstLog } from "../../src/frontend/burst-log.js";

const sample = (i: number) => ({ fn: `f${i % 3}`, tid: 100 + i, cpuMs: i / 10, atMs: 1000 + i });

describe("burst log", () => {
  it("returns the bursts after a sequence number, oldest first, and where to read on", () => {
    const log = new BurstLog(8);
    for (let i = 1; i <= 5; i++) log.add({ ...sample(i), monoMs: 50 + i }, i % 2 === 0);
    const page = log.read(2);
    expect(page.missed).toBe(0);
    expect(page.next).toBe(5);
    expect(page.bursts.map((b) => b.seq)).toEqual([3, 4, 5]);
    expect(page.bursts[0]).toEqual({
      seq: 3,
      function: "f0",
      tid: 103,
      cpu_ms: 0.3,
      end_ms: 1003,
      end_mono_ms: 53,
      learned: false,
    });
    expect(log.read(5)).toEqual({ next: 5, missed: 0, bursts: [] });
  });

  it("counts what the ring overwrote before a reader got to it", () => {
    const log = new BurstLog(4);
    for (let i = 1; i <= 10; i++) log.add(sample(i), true);
    const page = log.read(0);
    // Only 7..10 are left: 1..6 were overwritten.
    expect(page.bursts.map((b) => b.seq)).toEqual([7, 8, 9, 10]);
    expect(page.missed).toBe(6);
    expect(page.bursts[0]?.end_mono_ms).toBeNull();
  });

  it("pages with a limit", () => {
    const log = new BurstLog(16);
    for (let i = 1; i <= 10; i++) log.add(sample(i), true);
    const first = log.read(0, 4);
    expect(first.bursts.map((b) => b.seq)).toEqual([1, 2, 3, 4]);
    expect(log.read(first.next, 100).bursts.map((b) => b.seq)).toEqual([5, 6, 7, 8, 9, 10]);
  });
});
