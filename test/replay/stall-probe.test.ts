/**
 * The stall probes' rules that need no kernel: their lines, how stalls of
 * several CPUs add up, what each invocation is charged, and when no probe
 * may run. The kernel test stall-probe shows a probe held up is reported.
 */
import { describe, expect, it } from "vitest";
import {
  hostStallNote,
  markStalls,
  parseProbeLine,
  stallIntervals,
  stallOverlapMs,
  stallProbeUnavailable,
  stallReport,
  watchStalls,
} from "../../src/replay/stall-probe.js";
import type { MeasuredInvocation } from "../../src/replay/types.js";

const inv = (index: number, arrivalMono: number, endMono: number): MeasuredInvocation => ({
  index,
  arrivalMs: index,
  fn: "f",
  durationMs: 1,
  turnaroundMs: endMono - arrivalMono,
  startMs: 1,
  cpuMs: 1,
  dispatchLagMs: 0,
  cold: false,
  startMonoMs: arrivalMono + 1,
  endMonoMs: endMono,
});

describe("a probe's lines", () => {
  it("reads stalls, its end and its refusal, in ms", () => {
    expect(parseProbeLine("S 1 5000000000 120500000")).toEqual({
      kind: "stall",
      stall: { cpu: 1, atMonoMs: 5000, ms: 120.5 },
    });
    expect(parseProbeLine("E 0 1200 3500000")).toEqual({
      kind: "end",
      cpu: 0,
      wakeups: 1200,
      cpuMs: 3.5,
    });
    expect(parseProbeLine("X sched_setscheduler(SCHED_FIFO 99): Operation not permitted")).toEqual({
      kind: "refused",
      reason: "sched_setscheduler(SCHED_FIFO 99): Operation not permitted",
    });
  });
  it("refuses anything else, naming the line and field", () => {
    expect(() => parseProbeLine("S 1 5e9 3")).toThrow(/field 2 of 'S 1 5e9 3'/);
    expect(() => parseProbeLine("hello")).toThrow(/unexpected line 'hello'/);
  });
});

describe("stalls over time", () => {
  const stalls = [
    { cpu: 0, atMonoMs: 1100, ms: 100 }, // [1000, 1100]
    { cpu: 1, atMonoMs: 1090, ms: 95 }, // [995, 1090]: both CPUs at once, counted once
    { cpu: 1, atMonoMs: 3000, ms: 50 }, // [2950, 3000]
  ];
  it("merges the CPUs' stalls where they overlap", () => {
    expect(stallIntervals(stalls)).toEqual([
      [995, 1100],
      [2950, 3000],
    ]);
  });
  it("charges an invocation the stall between its arrival and its end", () => {
    const intervals = stallIntervals(stalls);
    expect(stallOverlapMs(intervals, 900, 1050)).toBe(55);
    expect(stallOverlapMs(intervals, 1050, 2960)).toBe(60);
    expect(stallOverlapMs(intervals, 1200, 2900)).toBe(0);
  });
  it("reports the count, the longest and the union, and marks the invocations", () => {
    const report = stallReport(stalls, [0, 1]);
    expect(report).toMatchObject({ probed: true, count: 3, longest_ms: 100, total_ms: 155 });
    expect(report.stalls[0]).toEqual({ cpu: 1, at_mono_ms: 1090, ms: 95 });
    const invocations = [inv(0, 900, 1050), inv(1, 1200, 2900)];
    markStalls(invocations, report);
    expect(invocations.map((i) => i.hostStallMs)).toEqual([55, 0]);
  });
  it("says so beside the figures only for a long stall, or when nothing was probed", () => {
    const invocations = [inv(0, 900, 1050), inv(1, 1200, 2900)];
    const short = stallReport(stalls, [0, 1]);
    markStalls(invocations, short);
    expect(hostStallNote("alps", short, invocations)).toBeUndefined();
    const long = stallReport([{ cpu: 0, atMonoMs: 1100, ms: 400 }], [0, 1]);
    markStalls(invocations, long);
    expect(hostStallNote("alps", long, invocations)).toMatch(
      /^alps: the host stood still for up to 400 ms .* 1 invocations were in flight/,
    );
    const none = { ...long, probed: false, why_not: "not built" };
    expect(hostStallNote("none", none, [])).toBe("none: no stall probe ran (not built)");
  });
});

describe("where probes run", () => {
  it("starts none without the binary or without RT throttling, and says why", async () => {
    expect(stallProbeUnavailable("/nonexistent/stall-probe")).toMatch(/is not built/);
    const unthrottled = () => ({ runtimeUs: -1, periodUs: 1_000_000, disabled: true });
    expect(stallProbeUnavailable(process.execPath, unthrottled)).toMatch(/RT throttling is off/);
    const report = await watchStalls({ path: "/nonexistent/stall-probe", cpus: [0] }).stop();
    expect(report).toMatchObject({ probed: false, count: 0 });
    expect(report.why_not).toMatch(/is not built/);
  });
  it("a probe that ends before the run does leaves the run unprobed, and says so", async () => {
    // /bin/true stands in for a probe that exits at once (it changes nothing).
    const watch = watchStalls({ path: "/bin/true", cpus: [0] });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const report = await watch.stop();
    expect(report.probed).toBe(false);
    expect(report.why_not).toMatch(/cpu 0: stall-probe ended before the run did, with 0/);
  });
});
