import { describe, expect, it } from "vitest";
import { defaultConfig } from "../../src/frontend/config.js";
import {
  learnerParams,
  type LearnerParams,
  learnPolicy,
  overloadFactor,
  overloadedSlice,
} from "../../src/frontend/learner.js";
import type { InvocationRecord } from "../../src/frontend/window.js";

/** Invocations spaced far apart, so each runs alone and its one run is its whole CPU time. */
function spaced(fns: { fn: string; cpu: number[] }[], gapMs = 10_000): InvocationRecord[] {
  const out: InvocationRecord[] = [];
  let t = 0;
  const longest = Math.max(...fns.map((f) => f.cpu.length));
  for (let i = 0; i < longest; i++) {
    for (const { fn, cpu } of fns) {
      const c = cpu[i];
      if (c === undefined) continue;
      out.push({ fn, arrivalMs: t, cpuMs: c, waitMs: 0, turnaroundMs: c });
      t += gapMs;
    }
  }
  return out;
}

// The slice cases below are worked out for a floor of 8 ms (the SRPT quantum);
// the default's own floor is checked in its own case.
const P: LearnerParams = {
  ...learnerParams(defaultConfig(), 2),
  smoothing: 0.5,
  sliceFloorMs: 8,
};

describe("learner on crafted windows", () => {
  it("predicts the crafted run lengths", () => {
    const w = spaced([
      { fn: "a", cpu: [5, 5, 5, 5] },
      { fn: "b", cpu: [150, 150, 150] },
      { fn: "c", cpu: [40, 60] },
    ]);
    const p = learnPolicy(w, P);
    expect(p.functions.a?.predicted_ms).toBeCloseTo(5, 6);
    expect(p.functions.b?.predicted_ms).toBeCloseTo(150, 6);
    expect(p.functions.c?.predicted_ms).toBeCloseTo(50, 6);
    expect(p.functions.a?.explain.samples).toBe(4);
    expect(p.functions.c?.explain.stddev_ms).toBeCloseTo(10, 6);
  });

  it("ranks the shortest predicted run first and puts the rank in the output", () => {
    const w = spaced([
      { fn: "long", cpu: [300, 310] },
      { fn: "short", cpu: [3, 4] },
      { fn: "mid", cpu: [40, 42] },
    ]);
    const p = learnPolicy(w, P);
    expect(p.functions.short?.priority).toBe(1);
    expect(p.functions.mid?.priority).toBe(2);
    expect(p.functions.long?.priority).toBe(3);
    expect(p.default.priority).toBe(4);
  });

  it("with the clamp on, keeps slices non-increasing with rank (never longer than a more urgent function's)", () => {
    // "steady" is longer than "noisy" on average but far more predictable: its raw slice would be the larger.
    const w = spaced([
      { fn: "noisy", cpu: [10, 90, 10, 90] }, // mean 50, sd 40 → raw 10
      { fn: "steady", cpu: [100, 100, 100, 100] }, // mean 100, sd 0 → raw 100, clamped to 10
      { fn: "huge", cpu: [400, 400] }, // capped at 200, clamped to 10
    ]);
    const p = learnPolicy(w, { ...P, sliceClamp: true });
    const ranked = Object.values(p.functions).sort((x, y) => x.priority - y.priority);
    expect(ranked.map((e) => e.priority)).toEqual([1, 2, 3]);
    for (let i = 1; i < ranked.length; i++) {
      expect(ranked[i]?.slice_ms).toBeLessThanOrEqual(ranked[i - 1]?.slice_ms as number);
    }
    expect(p.functions.steady?.explain.raw_slice_ms).toBeCloseTo(100, 6);
    expect(p.functions.steady?.slice_ms).toBeCloseTo(10, 6);
    expect(p.functions.huge?.explain.widened_ms).toBe(200);
    // Off (the default, see sliceClamp in config.ts), each function keeps its own slice.
    const own = learnPolicy(w, P);
    expect(own.functions.steady?.slice_ms).toBeCloseTo(100, 6);
    expect(own.functions.huge?.slice_ms).toBeCloseTo(200, 6);
    expect(own.functions.steady?.explain.clamped_to_ms).toBeNull();
  });

  it("gives an unpredictable function a shorter slice than a steady one with the same mean", () => {
    const steady = learnPolicy(spaced([{ fn: "f", cpu: [50, 50, 50, 50] }]), P);
    const noisy = learnPolicy(spaced([{ fn: "f", cpu: [20, 80, 20, 80] }]), P);
    expect(steady.functions.f?.predicted_ms).toBeCloseTo(50, 6);
    expect(noisy.functions.f?.predicted_ms).toBeCloseTo(50, 6);
    expect(steady.functions.f?.slice_ms).toBeCloseTo(50, 6);
    expect(noisy.functions.f?.slice_ms).toBeCloseTo(50 - 30, 6); // β·stddev = 1 × 30
    expect(noisy.functions.f?.explain.stddev_penalty_ms).toBeCloseTo(30, 6);
  });

  it("never learns a slice below the floor, unless the floor is 0", () => {
    // Runs 1 and 9 ms: mean 5, stddev 4 → 5 − 4 = 1 ms, raised to the 8 ms floor.
    const w = spaced([{ fn: "jumpy", cpu: [1, 9, 1, 9] }]);
    const floored = learnPolicy(w, { ...P, sliceFloorMs: 8 });
    expect(floored.functions.jumpy?.explain.raw_slice_ms).toBeCloseTo(8, 6);
    const bare = learnPolicy(w, { ...P, sliceFloorMs: 0 });
    expect(bare.functions.jumpy?.explain.raw_slice_ms).toBeCloseTo(1, 6);
    // The floor never lifts a slice above the cap.
    const capped = learnPolicy(w, { ...P, sliceFloorMs: 50, capMs: 20 });
    expect(capped.functions.jumpy?.slice_ms).toBeCloseTo(20, 6);
    // The default floor, 24 ms, keeps a 10-12 ms function boosted to its end
    // (mean 11 − stddev 1 = 10 would lose it two ms early).
    const short = spaced([{ fn: "short", cpu: [10, 12, 10, 12] }]);
    const byDefault = learnPolicy(short, learnerParams(defaultConfig(), 2));
    expect(byDefault.functions.short?.slice_ms).toBeCloseTo(24, 6);
    expect(learnPolicy(short, P).functions.short?.slice_ms).toBeCloseTo(10, 6);
  });

  it("shrinks slices by (100 + θ − util)/(100·γ) under overload, not by β", () => {
    const w = spaced([
      { fn: "a", cpu: [10, 10] },
      { fn: "b", cpu: [100, 100] },
    ]);
    // No floor here: this is the factor alone (the floor's own case is below).
    const params = { ...P, theta: 50, gamma: 1.25, beta: 0.5, sliceFloorMs: 0 };
    const calm = learnPolicy(w, params, undefined, 40);
    const busy = learnPolicy(w, params, undefined, 90);
    const factor = (100 + 50 - 90) / (100 * 1.25); // 0.48
    expect(overloadFactor(90, 50, 1.25)).toBeCloseTo(factor, 12);
    expect(calm.learner.overload_factor).toBe(1);
    for (const fn of ["a", "b"]) {
      expect(busy.functions[fn]?.slice_ms).toBeCloseTo(
        (calm.functions[fn]?.slice_ms as number) * factor,
        9,
      );
    }
    expect(busy.default.slice_ms).toBeCloseTo(calm.default.slice_ms * factor, 9);
  });

  it("never shrinks a slice below the floor under overload, nor lifts one that was below it", () => {
    const w = spaced([
      { fn: "a", cpu: [10, 10] },
      { fn: "b", cpu: [100, 100] },
    ]);
    const params = { ...P, theta: 50, gamma: 1, sliceFloorMs: 8, defaultSliceMs: 10 };
    const busy = learnPolicy(w, params, undefined, 100); // factor 0.5
    expect(busy.learner.overload_factor).toBeCloseTo(0.5, 12);
    // a: 10 ms → 5 ms by the factor, held at the 8 ms floor; b: 100 → 50, above the floor.
    expect(busy.functions.a?.slice_ms).toBeCloseTo(8, 9);
    expect(busy.functions.a?.explain.arithmetic).toContain("floor 8");
    expect(busy.functions.b?.slice_ms).toBeCloseTo(
      (busy.functions.b?.explain.slice_before_overload_ms as number) * 0.5,
      9,
    );
    expect(busy.default.slice_ms).toBeCloseTo(8, 9); // default 10 ms → 5, held at 8
    expect(overloadedSlice(4, 0.5, 8)).toBe(4); // a slice already below the floor (clamp on) is not raised
  });

  it("smooths the slice with the previous one and keeps the smoothed value", () => {
    const before = learnPolicy(spaced([{ fn: "f", cpu: [100, 100] }]), P);
    expect(before.functions.f?.slice_ms).toBeCloseTo(100, 6);
    const after = learnPolicy(
      spaced([{ fn: "f", cpu: [20, 20] }]),
      { ...P, smoothing: 0.25 },
      before,
    );
    // 0.25 × 100 + 0.75 × 20 = 40, and that is what is output (not the raw 20).
    expect(after.functions.f?.slice_ms).toBeCloseTo(40, 6);
    expect(after.functions.f?.explain.previous_slice_ms).toBeCloseTo(100, 6);
    expect(after.functions.f?.explain.raw_slice_ms).toBeCloseTo(20, 6);
    // Under overload the smoothing memory is the slice before the factor, so overload does not compound.
    const overloaded = learnPolicy(
      spaced([{ fn: "f", cpu: [20, 20] }]),
      { ...P, smoothing: 0.25 },
      before,
      100,
    );
    expect(overloaded.functions.f?.explain.slice_before_overload_ms).toBeCloseTo(40, 6);
    expect(overloaded.functions.f?.slice_ms).toBeCloseTo(40 * 0.5, 6);
  });

  it("replays overlapping invocations under SRPT: a long run is cut when a shorter one arrives", () => {
    // One core: "long" (100 ms) starts at 0, "short" (10 ms) arrives at 50; SRPT with an 8 ms quantum preempts.
    const w: InvocationRecord[] = [
      { fn: "long", arrivalMs: 0, cpuMs: 100, waitMs: 0, turnaroundMs: 110 },
      { fn: "short", arrivalMs: 50, cpuMs: 10, waitMs: 0, turnaroundMs: 10 },
    ];
    const p = learnPolicy(w, { ...P, cores: 1 });
    // The prediction is the whole burst (the kernel counts CPU from the burst's start)...
    expect(p.functions.long?.explain.samples).toBe(1);
    expect(p.functions.long?.predicted_ms).toBeCloseTo(100, 6);
    // ...while the slice starts from the runs SRPT cut it into: 50 and 50.
    expect(p.functions.long?.explain.runs).toBe(2);
    expect(p.functions.long?.explain.run_estimate_ms).toBeCloseTo(50, 6);
    expect(p.functions.short?.predicted_ms).toBeCloseTo(10, 6);
    expect(p.functions.long?.explain.mean_wait_ms).toBeCloseTo(10, 6);
  });

  it("gives functions beyond maxFunctions the default entry and counts them", () => {
    const w = spaced([
      { fn: "a", cpu: [5, 5, 5] },
      { fn: "b", cpu: [50, 50] },
      { fn: "c", cpu: [9] },
    ]);
    const p = learnPolicy(w, { ...P, maxFunctions: 2 });
    expect(Object.keys(p.functions).sort()).toEqual(["a", "b"]);
    expect(p.learner.overflow).toEqual(["c"]);
  });

  it("keeps functions with too few samples on the default entry", () => {
    const w = spaced([
      { fn: "a", cpu: [5, 5, 5] },
      { fn: "new", cpu: [7] },
    ]);
    const p = learnPolicy(w, { ...P, minSamples: 2 });
    expect(p.functions.new).toBeUndefined();
    expect(p.learner.pending).toEqual(["new"]);
  });

  it("handles an empty window and zero-CPU invocations without crashing", () => {
    expect(Object.keys(learnPolicy([], P).functions)).toEqual([]);
    const p = learnPolicy([{ fn: "idle", arrivalMs: 0, cpuMs: 0, waitMs: 0, turnaroundMs: 3 }], P);
    expect(p.functions.idle).toBeUndefined();
    expect(p.learner.zero_cpu_invocations).toBe(1);
    expect(p.learner.pending).toEqual(["idle"]);
  });
});
