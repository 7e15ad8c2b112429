import { describe, expect, it } from "vitest";
import { compareInference, type InferredBurst } from "../../src/replay/inference.js";

const burst = (tid: number, end: number | null, cpu: number, fn = "f"): InferredBurst => ({
  function: fn,
  tid,
  cpu_ms: cpu,
  end_mono_ms: end,
});

describe("inferred invocations against the real ones", () => {
  const real = [
    // A warm worker (pid 10) running two invocations, a fork (pid 20) one.
    { fn: "f", pid: 10, startMonoMs: 100, endMonoMs: 110, cpuMs: 10 },
    { fn: "f", pid: 10, startMonoMs: 200, endMonoMs: 204, cpuMs: 4 },
    { fn: "f", pid: 20, startMonoMs: 150, endMonoMs: 160, cpuMs: 6 },
  ];
  const opts = { functions: new Set(["f"]), fromMonoMs: 0, toMonoMs: 1000, lost: 3 };

  it("matches bursts by process and time, and measures offsets and CPU", () => {
    const report = compareInference(
      real,
      [
        burst(10, 50, 5), // before the worker's first invocation: warm-up, spurious
        burst(10, 110.2, 10.1), // the first invocation, one burst (its report ends it)
        burst(11, 120, 2), // a helper thread of the worker: spurious
        burst(20, 155, 3), // the fork: split in two bursts (it blocked once)
        burst(20, 175, 3), // ... and its exit came 15 ms after its end (a wait for a CPU)
        burst(10, 900, 1, "other"), // another function: not counted
        burst(10, 2000, 1), // after the run: not counted
        burst(30, null, 1), // no monotonic stamp: counted, not placed
      ],
      opts,
    );
    expect(report.invocations).toBe(3);
    expect(report.bursts).toBe(6);
    expect(report.matched).toBe(2);
    expect(report.missed).toBe(1); // the second invocation of pid 10 left no burst
    expect(report.split).toBe(1);
    expect(report.spurious).toBe(2);
    expect(report.spurious_cpu_ms).toBeCloseTo(7, 9);
    // The warm-up burst is of a process before its first invocation; the helper thread ran none.
    expect(report.spurious_early).toBe(1);
    expect(report.spurious_examples).toEqual([
      { tid: 10, cpu_ms: 5, end_mono_ms: 50, before_first_ms: 50 },
      { tid: 11, cpu_ms: 2, end_mono_ms: 120, before_first_ms: null },
    ]);
    expect(report.unstamped).toBe(1);
    expect(report.lost).toBe(3);
    // Starts: pid 10: 110.2 − 10.1 − 100 = 0.1; pid 20: 155 − 3 − 150 = 2.
    expect(report.start_offset_ms.mean).toBeCloseTo((0.1 + 2) / 2, 9);
    // Ends: 110.2 − 110 = 0.2; 175 − 160 = 15.
    expect(report.end_offset_ms.p95).toBeCloseTo(15, 9);
    expect(report.end_offset_ms.p50).toBeCloseTo(15, 9);
    expect(report.cpu_ratio.mean).toBeCloseTo((10.1 / 10 + 6 / 6) / 2, 9);
    expect(report.cpu_attributed).toBeCloseTo((10.1 + 6) / 20, 9);
  });

  it("lists the first five spurious bursts and counts them all", () => {
    const helpers = Array.from({ length: 7 }, (_, i) => burst(40 + i, 300 + i, 0.5));
    const report = compareInference(real, helpers, opts);
    expect(report.spurious).toBe(7);
    expect(report.spurious_early).toBe(0);
    expect(report.spurious_examples.map((e) => e.tid)).toEqual([40, 41, 42, 43, 44]);
  });

  it("reports no offsets when nothing matched", () => {
    const report = compareInference(real, [], opts);
    expect(report.matched).toBe(0);
    expect(report.missed).toBe(3);
    expect(Number.isNaN(report.start_offset_ms.mean)).toBe(true);
    expect(report.cpu_attributed).toBe(0);
    expect(report.spurious_examples).toEqual([]);
  });
});
