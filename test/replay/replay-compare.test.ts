import { describe, expect, it } from "vitest";
import { compareWithBaseline, durationGroups, toFinished } from "../../src/replay/compare.js";
import type { MeasuredInvocation } from "../../src/replay/types.js";
import { summarize } from "../../src/sim/index.js";

function inv(index: number, durationMs: number, turnaroundMs: number): MeasuredInvocation {
  return {
    index,
    arrivalMs: index * 10,
    fn: `f${index % 3}`,
    durationMs,
    turnaroundMs,
    startMs: 0,
    cpuMs: durationMs,
    dispatchLagMs: 0,
    cold: false,
  };
}

describe("replay comparison with the baseline", () => {
  it("groups the shorter half and the longest tenth by duration, ties by trace order", () => {
    const durations = [5, 1, 9, 1, 7, 3, 20, 2, 8, 4];
    const { short, long } = durationGroups(durations);
    expect([...short].sort((a, b) => a - b)).toEqual([1, 3, 5, 7, 9]);
    expect([...long]).toEqual([6]);
  });

  it("computes the ratios on the same invocations in both modes", () => {
    const durations = [1, 2, 3, 4, 5, 6, 7, 8, 9, 100];
    const cfs = durations.map((d, i) => inv(i, d, d * 4));
    // The other mode halves every short turnaround and doubles the long one.
    const other = durations.map((d, i) => inv(i, d, i === 9 ? d * 8 : d * 2));
    const v = compareWithBaseline(cfs, other, summarize, 2);
    expect(v.long_p99_ratio).toBeCloseTo(2, 6);
    expect(v.short_slowdown).toBeCloseTo(2, 6);
    const cfsMean = cfs.reduce((s, m) => s + m.turnaroundMs, 0) / 10;
    const otherMean = other.reduce((s, m) => s + m.turnaroundMs, 0) / 10;
    expect(v.mean_turnaround_ratio).toBeCloseTo(otherMean / cfsMean, 6);
  });

  it("refuses to compare runs of different traces", () => {
    expect(() => compareWithBaseline([inv(0, 1, 1)], [], summarize, 2)).toThrow(/different traces/);
  });

  it("turns measurements into finished invocations with completion = arrival + turnaround", () => {
    const [f] = toFinished([{ ...inv(3, 5, 12), startMs: 2 }]);
    expect(f).toEqual({
      fn: "f0",
      arrivalMs: 30,
      durationMs: 5,
      completionMs: 42,
      firstStartMs: 32,
    });
  });
});
