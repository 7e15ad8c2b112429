/**
 * Strategy dynamic with the Gittins remaining time (AlpsCommon.gittins): the
 * weighted engine reads each invocation's level from its function's table of
 * attained-time breakpoints, built from the runs the policy was learned
 * from, with the slice and the yield bound on top.
 */
import { describe, expect, it } from "vitest";
import type { Policy } from "../../src/contracts/policy.js";
import { loadConfig } from "../../src/frontend/config.js";
import { DaemonFeed, simulateOnline } from "../../src/frontend/online.js";
import { simulate } from "../../src/sim/index.js";
import type { GittinsOptions, PolicyFeed } from "../../src/sim/types.js";
import { readTraceColumns } from "../../src/trace/native.js";

/** A feed that holds one policy for the whole run and hands out fixed samples. */
function fixedFeed(policy: Policy, samples: Record<string, number[]>): PolicyFeed {
  return {
    initial: policy,
    nextDecisionMs: () => Number.POSITIVE_INFINITY,
    decide: () => undefined,
    cpuDone: () => {},
    runSamples: (fn) => samples[fn],
  };
}

/**
 * Two functions: `mix` usually runs 10 ms but one run in ten takes 1000 ms
 * (mean 109), `mid` always runs 60 ms. Long slices, no yield bound: only
 * the remaining time differs between the two rules.
 */
const policy: Policy = {
  functions: {
    mid: { priority: 1, predicted_ms: 60, slice_ms: 5000 },
    mix: { priority: 2, predicted_ms: 109, slice_ms: 5000 },
  },
  default: { priority: 3, predicted_ms: 50, slice_ms: 20 },
};
const samples = { mix: [...Array<number>(9).fill(10), 1000], mid: [60] };

function completions(
  trace: { arrivalMs: number; fn: string; durationMs: number }[],
  gittins: GittinsOptions | undefined,
): number[] {
  const r = simulate(trace, {
    policy: "alps",
    cores: 1,
    alps: {
      feed: fixedFeed(policy, samples),
      yieldBound: 0,
      ...(gittins === undefined ? {} : { gittins }),
    },
  });
  return r.outcomes.map((o) => o.completionMs - o.arrivalMs);
}

describe("the weighted engine with Gittins levels", () => {
  it("boosts a usually-short function at its start, where the mean ranks it behind a 60 ms one", () => {
    const trace = [
      { arrivalMs: 0, fn: "mix", durationMs: 10 },
      { arrivalMs: 0, fn: "mid", durationMs: 60 },
    ];
    // mean: mix has 109 ms left against mid's 60, so mid takes most of the core.
    const [mixMean] = completions(trace, undefined);
    // Gittins: mix's 1/G at 0 is 100/9 = 11.1 ms, far more urgent than mid's 60.
    const [mixGittins, midGittins] = completions(trace, {});
    expect(mixMean as number).toBeGreaterThan(20);
    expect(mixGittins as number).toBeLessThan(12);
    expect(midGittins as number).toBeCloseTo(70, 0);
  });

  it("makes a run that outlived the short mode yield, where the mean boosts it to its end", () => {
    // mix runs long this time; mid arrives when mix has used 100 ms.
    const trace = [
      { arrivalMs: 0, fn: "mix", durationMs: 500 },
      { arrivalMs: 100, fn: "mid", durationMs: 60 },
    ];
    // mean: mix has 9 ms "left" at 100 and 0 after: the top boost until it ends at 500.
    const [, midMean] = completions(trace, undefined);
    // Gittins: past 10 ms mix is one of the 1000 ms runs, 900 ms left: it yields to mid.
    const [, midGittins] = completions(trace, {});
    expect(midMean as number).toBeGreaterThan(300);
    expect(midGittins as number).toBeLessThan(80);
  });

  it("the slice ends a boost as under dynamic: past it never below nice 0", () => {
    const short: Policy = {
      ...policy,
      functions: { ...policy.functions, mix: { priority: 2, predicted_ms: 109, slice_ms: 2 } },
    };
    const trace = [
      { arrivalMs: 0, fn: "mix", durationMs: 10 },
      { arrivalMs: 0, fn: "mid", durationMs: 60 },
    ];
    const run = (slice: boolean) =>
      simulate(trace, {
        policy: "alps",
        cores: 1,
        alps: { feed: fixedFeed(short, samples), yieldBound: 0, gittins: { slice } },
      }).outcomes[0]?.completionMs as number;
    // With the slice rule mix runs at nice 0 after 2 ms while mid (60 ms, boosted) leads.
    expect(run(true)).toBeGreaterThan(run(false) + 5);
  });

  it("one point at the predicted run (from: mean) is dynamic exactly, learning online on azure-like", () => {
    const trace = readTraceColumns("workloads/azure-like.csv");
    const config = loadConfig({ flags: {} });
    const dynamic = simulateOnline(trace, config, { cores: 2 }).result.summary;
    const onePoint = simulateOnline(trace, config, { cores: 2, gittins: { from: "mean" } }).result
      .summary;
    const gittins = simulateOnline(trace, config, { cores: 2, gittins: {} }).result.summary;
    // Equal to rounding: the table holds predicted − threshold, which the engine otherwise
    // computes at each crossing, and the events may land an ulp apart.
    for (const key of ["mean", "p50", "p90", "p99", "max"] as const)
      expect(onePoint.turnaround_ms[key]).toBeCloseTo(dynamic.turnaround_ms[key], 6);
    for (const key of ["mean", "p50", "p99"] as const)
      expect(onePoint.slowdown[key]).toBeCloseTo(dynamic.slowdown[key], 9);
    // The learned runs are not one point: the levels, and so the figures, differ.
    expect(gittins.turnaround_ms.mean).not.toBe(dynamic.turnaround_ms.mean);
  });

  it("learning online on every bundled workload, no invocation ends before its arrival plus its duration", () => {
    const config = loadConfig({ flags: {} });
    for (const w of ["azure-like", "huawei-like", "azure-heldout", "huawei-heldout"]) {
      const trace = readTraceColumns(`workloads/${w}.csv`);
      for (const gittins of [
        {},
        { slice: false },
        { resolution: { kind: "grid", firstMs: 1, ratio: 2 } },
      ] as GittinsOptions[]) {
        const { outcomes } = simulateOnline(trace, config, { cores: 2, gittins }).result;
        expect(outcomes.length).toBe(trace.length);
        for (const o of outcomes)
          expect(o.completionMs - o.arrivalMs).toBeGreaterThanOrEqual(
            o.durationMs * (1 - 1e-9) - 1e-9,
          );
      }
    }
  });

  it("refuses a fixed policy (no samples) and strategies other than dynamic", () => {
    const trace = [{ arrivalMs: 0, fn: "mix", durationMs: 10 }];
    expect(() =>
      simulate(trace, { policy: "alps", cores: 1, alps: { policy, gittins: {} } }),
    ).toThrow(/needs the learner's run samples/);
    expect(() =>
      simulate(trace, {
        policy: "alps",
        cores: 1,
        alps: { feed: fixedFeed(policy, samples), strategy: "static", gittins: {} },
      }),
    ).toThrow(/strategy dynamic, not static/);
  });
});

describe("DaemonFeed.runSamples", () => {
  it("gives the CPU of the window's bursts behind the policy in force, none with no CPU", () => {
    const config = loadConfig({ flags: { learnPeriodMs: "1000", newFunctionLearnMs: "0" } });
    const feed = new DaemonFeed(config, 1, undefined, true);
    feed.cpuDone({ fn: "f", arrivalMs: 0, cpuMs: 30, completionMs: 40 });
    feed.cpuDone({ fn: "f", arrivalMs: 10, cpuMs: 0, completionMs: 50 });
    feed.cpuDone({ fn: "f", arrivalMs: 20, cpuMs: 70, completionMs: 90 });
    expect(feed.decide(1000, 100)).toBeDefined();
    expect([...(feed.runSamples("f") ?? [])].sort((a, b) => a - b)).toEqual([30, 70]);
    expect(feed.runSamples("g")).toBeUndefined();
    // A record that arrives later does not change the samples until a policy is learned from it.
    feed.cpuDone({ fn: "f", arrivalMs: 1100, cpuMs: 500, completionMs: 1600 });
    expect(feed.decide(1500, 100)).toBeUndefined();
    expect(feed.runSamples("f")?.length).toBe(2);
  });

  it("a feed not asked to keep samples says so rather than answer nothing", () => {
    const feed = new DaemonFeed(loadConfig({ flags: {} }), 1);
    expect(() => feed.runSamples("f")).toThrow(/keepSamples/);
  });
});
