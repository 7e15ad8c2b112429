/**
 * The prediction beside a replay's alps run is the daemon as the replay ran
 * it: learning online from nothing, with the daemon's own options. The policy
 * it had at the end, applied from the first invocation, predicts a daemon
 * that knew the trace in advance.
 */
import { describe, expect, it } from "vitest";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { loadConfig } from "../../src/frontend/config.js";
import { simulateOnline } from "../../src/frontend/online.js";
import { onlineFlags, predictRun } from "../../src/replay/predict.js";
import type { ModeRun } from "../../src/replay/types.js";
import { simulate } from "../../src/sim/index.js";

// One core at load 0.9: a 200 ms function every 250 ms, a 2 ms one every 20 ms.
const trace: TraceInvocation[] = [];
for (let t = 0; t < 3000; t += 250) trace.push({ arrivalMs: t, fn: "long", durationMs: 200 });
for (let t = 5; t < 3000; t += 20) trace.push({ arrivalMs: t, fn: "short", durationMs: 2 });
trace.sort((a, b) => a.arrivalMs - b.arrivalMs);

const alpsRun = (): ModeRun => ({
  requested: "alps",
  mode: "alps",
  setup: { driver: "api", workers: "warm", sandboxCgroups: "cpu" },
  strategy: "dynamic",
  reasons: [],
  invocations: [],
  contextSwitches: 0,
  coldStarts: 0,
  wallMs: 0,
});

const meanOf = (p: ReturnType<typeof predictRun>): number => {
  if (!("summary" in p)) throw new Error(`no prediction: ${p.error}`);
  return p.summary.turnaround_ms.mean;
};

describe("the replay's prediction for alps", () => {
  it("learns online from nothing, as the daemon the replay starts", () => {
    const predicted = predictRun(trace, alpsRun(), 1, [], {});
    const online = simulateOnline(trace, loadConfig({}), { cores: 1 });
    expect(meanOf(predicted)).toBeCloseTo(online.result.summary.turnaround_ms.mean, 9);
    expect(predicted.policy).toBe("alps (learning online)");
    // The policy learned by the end, applied from the start, is a daemon that
    // knew the trace in advance: the first long invocations do not get the
    // default entry's boost, so the short ones wait less.
    const known = simulate(trace, { policy: "alps", cores: 1, alps: { policy: online.policy } });
    expect(known.summary.turnaround_ms.mean).toBeLessThan(meanOf(predicted));
  });

  it("takes the daemon's learner flags and ALPS_* variables, and names the flags it cannot model", () => {
    const run = alpsRun();
    // With min-samples above the trace's count nothing is ever learned.
    const at = (minSamples: number) =>
      simulateOnline(trace, loadConfig({ flags: { minSamples } }), { cores: 1 }).result.summary
        .turnaround_ms.mean;
    expect(at(1000)).not.toBeCloseTo(at(3), 3);
    expect(meanOf(predictRun(trace, run, 1, ["--min-samples", "1000"], {}))).toBeCloseTo(
      at(1000),
      9,
    );
    expect(meanOf(predictRun(trace, run, 1, ["--min-samples=3"], {}))).toBeCloseTo(at(3), 9);
    expect(meanOf(predictRun(trace, run, 1, [], { ALPS_MIN_SAMPLES: "1000" }))).toBeCloseTo(
      at(1000),
      9,
    );
    const p = predictRun(trace, run, 1, ["--metrics-port", "0", "--min-samples", "1000"], {});
    expect(p.note).toMatch(/--metrics-port/);
    expect(onlineFlags(["--metrics-port", "0", "--min-samples", "1000"]).flags).toEqual({
      minSamples: "1000",
    });
  });

  it("a flag value the daemon would refuse is an error, not the default", () => {
    const p = predictRun(trace, alpsRun(), 1, ["--yield-bound", "-1"], {});
    expect("error" in p && p.error).toMatch(/yield/i);
  });
});
