/**
 * The level band a learned policy carries (fitBand) and how every consumer
 * reads it (curveForPolicy): the simulator, like the backends, spreads the
 * levels over the policy's band, and over the fixed band when it has none.
 */
import { describe, expect, it } from "vitest";
import {
  curveForPolicy,
  DEFAULT_CURVE,
  dynamicLevel,
  type LevelCurve,
} from "../../src/contracts/levels.js";
import { type Policy, PolicySchema } from "../../src/contracts/policy.js";
import { parsePolicyText } from "../../src/frontend/policy-file.js";
import { defaultConfig } from "../../src/frontend/config.js";
import { BAND_LO_MIN_MS, learnerParams, fitBand, learnPolicy } from "../../src/frontend/learner.js";
import type { InvocationRecord } from "../../src/frontend/window.js";
import { simulate } from "../../src/sim/index.js";

describe("fitBand", () => {
  it("ends at the longest predicted run and starts `ratio` times lower", () => {
    expect(fitBand([5, 600, 40], 30, 50)).toEqual({ lo_ms: 20, hi_ms: 600 });
  });

  it("never starts above loMaxMs, however long the longest run", () => {
    expect(fitBand([8, 60_000], 30, 50)).toEqual({ lo_ms: 50, hi_ms: 60_000 });
  });

  it("never starts below BAND_LO_MIN_MS, and never ends below its start", () => {
    expect(fitBand([0.3, 0.6], 30, 50)).toEqual({ lo_ms: BAND_LO_MIN_MS, hi_ms: BAND_LO_MIN_MS });
  });

  it("gives no band for ratio 0 or when nothing predicts a positive run", () => {
    expect(fitBand([5, 600], 0, 50)).toBeUndefined();
    expect(fitBand([0, 0], 30, 50)).toBeUndefined();
    expect(fitBand([], 30, 50)).toBeUndefined();
  });
});

/** Invocations far apart, so each one's single run is its whole CPU time. */
function spaced(runs: [string, number][]): InvocationRecord[] {
  return runs.map(([fn, cpuMs], i) => ({
    fn,
    arrivalMs: i * 10_000,
    cpuMs,
    waitMs: 0,
    turnaroundMs: cpuMs,
  }));
}

describe("the learned policy's band", () => {
  const window = spaced([
    ["short", 4],
    ["short", 6],
    ["long", 900],
    ["long", 1100],
  ]);
  const params = { ...learnerParams(defaultConfig(), 2), bandRatio: 30 };

  it("spans the policy's predicted runs, the default entry's included", () => {
    const policy = learnPolicy(window, params);
    expect(policy.functions.long?.predicted_ms).toBeCloseTo(1000, 6);
    expect(policy.band).toEqual({ lo_ms: 1000 / 30, hi_ms: 1000 });
    // The default entry (50 ms) is the longest when the functions are short.
    const shortOnly = learnPolicy(spaced([["short", 4]]), params);
    expect(shortOnly.band).toEqual({ lo_ms: 50 / 30, hi_ms: 50 });
  });

  it("is absent with bandRatio 0 (the default), and then the fixed band applies", () => {
    expect(defaultConfig().bandRatio).toBe(0);
    const policy = learnPolicy(window, { ...params, bandRatio: 0 });
    expect(policy.band).toBeUndefined();
    expect(curveForPolicy(policy)).toEqual(DEFAULT_CURVE);
  });

  it("survives the policy JSON round trip (what the daemon serves and --policy-file reads)", () => {
    const policy = learnPolicy(window, params);
    const parsed = PolicySchema.parse(JSON.parse(JSON.stringify(policy)));
    expect(curveForPolicy(parsed)).toEqual({ ...DEFAULT_CURVE, loMs: 1000 / 30, hiMs: 1000 });
  });
});

describe("a policy file's band", () => {
  it("is refused with the file, line and field when it ends below its start", () => {
    const text = [
      "{",
      '  "functions": {},',
      '  "default": { "priority": 1, "predicted_ms": 50, "slice_ms": 20 },',
      '  "band": { "lo_ms": 100,',
      '            "hi_ms": 10 }',
      "}",
    ].join("\n");
    expect(() => parsePolicyText(text, "p.json")).toThrow(
      "p.json:5: field 'band.hi_ms': hi_ms must be at least lo_ms",
    );
  });
});

describe("the simulator under a policy with a band", () => {
  // a: 100 ms predicted; b: 10 ms. Both arrive at 0 on one core.
  const trace = [
    { arrivalMs: 0, fn: "a", durationMs: 100 },
    { arrivalMs: 0, fn: "b", durationMs: 10 },
  ];
  const entries = {
    a: { priority: 2, predicted_ms: 100, slice_ms: 1000 },
    b: { priority: 1, predicted_ms: 10, slice_ms: 1000 },
  };
  const banded: Policy = {
    functions: entries,
    default: entries.a,
    band: { lo_ms: 10, hi_ms: 100 },
  };
  const completions = (policy: Policy, curve?: LevelCurve): number[] =>
    simulate(trace, {
      policy: "alps",
      cores: 1,
      alps: { policy, ...(curve === undefined ? {} : { curve }) },
    }).outcomes.map((o) => o.completionMs);

  it("uses the band: b at its start (nice -20), a at its end (nice 19)", () => {
    const curve = curveForPolicy(banded);
    expect(dynamicLevel(10, 0, 1000, curve)).toBe(-20);
    expect(dynamicLevel(100, 0, 1000, curve)).toBe(19);
    expect(completions(banded)).toEqual(completions(banded, curve));
    // Under the fixed band the same two would be -15 and 0: b would finish later.
    const fixed = completions({ functions: entries, default: entries.a });
    expect(fixed).toEqual(completions(banded, DEFAULT_CURVE));
    expect(completions(banded)[1]).toBeLessThan(fixed[1] as number);
  });
});
