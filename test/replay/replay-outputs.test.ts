import { describe, expect, it } from "vitest";
import { modeCsv } from "../../src/replay/csv.js";
import { prewarmCounts } from "../../src/replay/prewarm.js";
import { limitTrace } from "../../src/replay/replay.js";
import { cdfRows, decileRows, functionRows } from "../../src/replay/report-data.js";
import { sandboxDirName } from "../../src/replay/sandboxes.js";
import type { MeasuredInvocation } from "../../src/replay/types.js";

const m = (
  index: number,
  fn: string,
  durationMs: number,
  turnaroundMs: number,
): MeasuredInvocation => ({
  index,
  arrivalMs: index,
  fn,
  durationMs,
  turnaroundMs,
  startMs: 0.5,
  cpuMs: durationMs,
  dispatchLagMs: 0.25,
  cold: index === 1,
});

describe("replay outputs", () => {
  it("writes one CSV row per invocation in trace order, quoting names that need it", () => {
    const csv = modeCsv([m(1, 'a,"b"', 2, 3), m(0, "fib", 1.23456, 4)]);
    expect(csv.split("\n")).toEqual([
      "arrival_ms,function,duration_ms,turnaround_ms,start_ms,cpu_ms,dispatch_lag_ms,cold,register_ms,first_nice,first_policy,pid,start_mono_ms,end_mono_ms,host_stall_ms",
      "0,fib,1.235,4,0.5,1.235,0.25,0,,,,,,,",
      '1,"a,""b""",2,3,0.5,2,0.25,1,,,,,,,',
      "",
    ]);
  });

  it("writes the process and its monotonic start and end where the replay has them", () => {
    const csv = modeCsv([
      { ...m(0, "fib", 2, 5), pid: 4242, startMonoMs: 1000.25, endMonoMs: 1004.5, hostStallMs: 0 },
    ]);
    expect(csv.split("\n")[1]).toBe("0,fib,2,5,0.5,2,0.25,0,,,,4242,1000.25,1004.5,0");
  });

  it("prewarms each function for its overlap, at least one, within the caps", () => {
    const trace = [
      { arrivalMs: 0, fn: "a", durationMs: 100 },
      { arrivalMs: 10, fn: "a", durationMs: 100 },
      { arrivalMs: 20, fn: "a", durationMs: 100 },
      { arrivalMs: 5000, fn: "b", durationMs: 1 },
    ];
    expect(prewarmCounts(trace)).toEqual(
      new Map([
        ["a", 3],
        ["b", 1],
      ]),
    );
    expect(prewarmCounts(trace, { maxPerFunction: 2 }).get("a")).toBe(2);
    const many = Array.from({ length: 100 }, (_, i) => ({
      arrivalMs: 0,
      fn: `f${i % 10}`,
      durationMs: 50,
    }));
    const total = [...prewarmCounts(many, { maxTotal: 20 }).values()].reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(20);
  });

  it("says when the time limit cut the trace", () => {
    const notes: string[] = [];
    const kept = limitTrace(
      [
        { arrivalMs: 0, fn: "a", durationMs: 1 },
        { arrivalMs: 1500, fn: "a", durationMs: 1 },
      ],
      1,
      notes,
    );
    expect(kept).toHaveLength(1);
    expect(notes[0]).toMatch(/1 of 2 invocations/);
    expect(limitTrace(kept, undefined, notes)).toHaveLength(1);
  });

  it("computes the chart rows: CDF ends at 1, ten deciles, functions by invocation count", () => {
    const samples = Array.from({ length: 100 }, (_, i) => ({
      index: i,
      fn: i % 4 === 0 ? "busy" : `f${i}`,
      durationMs: i + 1,
      turnaroundMs: 2 * (i + 1),
    }));
    const cdf = cdfRows("cfs", "measured", samples, 30);
    expect(cdf.at(-1)?.fraction).toBe(1);
    expect(cdf.length).toBeLessThanOrEqual(31);
    const deciles = decileRows("cfs", samples);
    expect(deciles.map((d) => d.decile)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const d of deciles) expect(d.mean_slowdown).toBeCloseTo(2, 6);
    expect(functionRows("cfs", samples, 3)[0]).toMatchObject({ function: "busy", invocations: 25 });
  });

  it("names sandbox directories safely and uniquely", () => {
    expect(sandboxDirName(3, "a/b c..d")).toBe("f3-a_b_c..d");
    expect(sandboxDirName(0, "x")).not.toBe(sandboxDirName(1, "x"));
  });
});
