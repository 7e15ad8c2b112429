import { describe, expect, it } from "vitest";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { formatStats, traceStats } from "../../src/trace/stats.js";

describe("trace stats", () => {
  it("counts, percentiles, per-function means, load and inter-arrival CV of a hand-made trace", () => {
    const invs: TraceInvocation[] = [
      { arrivalMs: 0, fn: "a", durationMs: 10 },
      { arrivalMs: 100, fn: "a", durationMs: 30 },
      { arrivalMs: 200, fn: "b", durationMs: 100, cpuMs: 40 },
      { arrivalMs: 300, fn: "c", durationMs: 1000 },
    ];
    const s = traceStats(invs, 2);
    expect(s.invocations).toBe(4);
    expect(s.functions).toBe(3);
    expect(s.span_ms).toBe(300);
    expect(s.total_cpu_ms).toBe(1080);
    expect(s.duration_ms).toEqual({ mean: 270, p50: 30, p90: 1000, p99: 1000, max: 1000, min: 10 });
    expect(s.function_mean_ms.p50).toBe(40); // a: 20, b: 40, c: 1000
    expect(s.offered_load).toBeCloseTo(1080 / 600, 12);
    expect(s.interarrival_cv).toBe(0); // evenly spaced
    expect(s.top10pct_functions_share).toBe(0.5);
    expect(formatStats("t.csv", s)).toContain("offered load   1.800 on 2 core(s)");
  });

  it("reports no load for a trace whose arrivals are all at one instant", () => {
    const s = traceStats([{ arrivalMs: 5, fn: "a", durationMs: 1 }], 1);
    expect(s.offered_load).toBeNull();
    expect(s.interarrival_cv).toBeNull();
  });
});
