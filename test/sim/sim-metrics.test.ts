/**
 * Summary metrics: nearest-rank percentiles (by selection) agree with a full
 * sort, and summarize follows docs/formats.md's definitions.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { percentileNearestRank, percentilesNearestRank, summarize } from "../../src/sim/index.js";

describe("nearest-rank percentiles", () => {
  it("p-th percentile is the value at rank ceil(p/100 · n)", () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentileNearestRank(sorted, 50)).toBe(5);
    expect(percentileNearestRank(sorted, 90)).toBe(9);
    expect(percentileNearestRank(sorted, 99)).toBe(10);
    expect(percentileNearestRank(sorted, 0)).toBe(1);
    expect(percentileNearestRank([], 50)).toBe(0);
  });

  it("selection equals sorting, for any values and ranks", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 300 }),
        fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 1, maxLength: 6 }),
        (values, ps) => {
          const sorted = [...values].sort((a, b) => a - b);
          const got = percentilesNearestRank(Float64Array.from(values), ps);
          expect(got).toEqual(ps.map((p) => percentileNearestRank(sorted, p)));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("summarize", () => {
  it("turnaround, slowdown, wait, makespan and labels", () => {
    const s = summarize(
      [
        { fn: "a", arrivalMs: 0, durationMs: 2, completionMs: 4, firstStartMs: 1 },
        { fn: "b", arrivalMs: 1, durationMs: 1, completionMs: 2 },
      ],
      { cores: 2, label: { mode: "cfs" }, contextSwitches: 3 },
    );
    expect(s).toEqual({
      mode: "cfs",
      cores: 2,
      invocations: 2,
      turnaround_ms: { mean: 2.5, p50: 1, p90: 4, p99: 4, max: 4 },
      slowdown: { mean: 1.5, p50: 1, p99: 2 },
      wait_ms: { mean: 0.5, p99: 1 },
      context_switches: 3,
      makespan_ms: 4,
    });
  });
});
