import { describe, expect, it } from "vitest";
import { type InvocationRecord, InvocationWindow } from "../../src/frontend/window.js";

const rec = (fn: string, arrivalMs: number, cpuMs = 1): InvocationRecord => ({
  fn,
  arrivalMs,
  cpuMs,
  waitMs: 0,
  turnaroundMs: cpuMs,
});

describe("invocation window", () => {
  it("keeps the last N invocations per function and counts the evicted", () => {
    const w = new InvocationWindow({ maxInvocations: 10, maxAgeMs: 0 });
    for (let i = 0; i < 100; i++) w.add(rec("a", i, i));
    w.add(rec("b", 100));
    const kept = w.records(101);
    expect(kept.filter((r) => r.fn === "a").map((r) => r.cpuMs)).toEqual([
      90, 91, 92, 93, 94, 95, 96, 97, 98, 99,
    ]);
    expect(kept.filter((r) => r.fn === "b")).toHaveLength(1);
    expect(w.counters().evictedByCount).toBe(90);
    expect(w.size).toBe(11);
  });

  it("keeps the last T seconds, and forgets functions unseen for the TTL", () => {
    const w = new InvocationWindow({ maxInvocations: 1000, maxAgeMs: 1000, functionTtlMs: 5000 });
    w.add(rec("old", 0));
    for (let t = 0; t < 3000; t += 100) w.add(rec("busy", t));
    const kept = w.records(3000);
    expect(kept.every((r) => r.arrivalMs >= 2000)).toBe(true);
    expect(w.functions()).toEqual(["busy"]); // "old" has no record left in the window
    expect(w.counters().evictedByAge).toBe(1 + 20);
    const w2 = new InvocationWindow({ maxInvocations: 10, maxAgeMs: 0, functionTtlMs: 5000 });
    w2.add(rec("x", 0));
    w2.add(rec("y", 9000));
    w2.prune(10_000);
    expect(w2.functions()).toEqual(["y"]);
    expect(w2.counters().agedOutFunctions).toBe(1);
  });

  it("refuses records of functions beyond the tracked limit, counted", () => {
    const w = new InvocationWindow({ maxTrackedFunctions: 3, maxAgeMs: 0 });
    for (const fn of ["a", "b", "c", "d", "e"]) w.add(rec(fn, 0));
    expect(w.functions().sort()).toEqual(["a", "b", "c"]);
    expect(w.counters().refusedFunctions).toBe(2);
    expect(w.add(rec("a", 1))).toBe(true);
  });

  it("stays bounded under a flood", () => {
    const w = new InvocationWindow({ maxInvocations: 50, maxTrackedFunctions: 20, maxAgeMs: 0 });
    for (let i = 0; i < 100_000; i++) w.add(rec(`f${i % 40}`, i));
    expect(w.size).toBeLessThanOrEqual(20 * Math.ceil(50 * 1.25) + 20);
    expect(w.records(100_000)).toHaveLength(20 * 50);
    expect(w.counters().refusedFunctions).toBe(50_000);
  });
});
