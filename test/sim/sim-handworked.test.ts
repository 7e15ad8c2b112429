/**
 * Small cases worked out by hand (the working is in the comments), checked
 * against the simulator's completion and first-start times.
 */
import { describe, expect, it } from "vitest";
import type { LevelCurve } from "../../src/contracts/levels.js";
import type { Policy, PolicyEntry } from "../../src/contracts/policy.js";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { type SimOptions, simulate } from "../../src/sim/index.js";

const inv = (arrivalMs: number, durationMs: number, fn = "f", cpuMs?: number): TraceInvocation =>
  cpuMs === undefined ? { arrivalMs, fn, durationMs } : { arrivalMs, fn, durationMs, cpuMs };

const completions = (trace: TraceInvocation[], opts: SimOptions): number[] =>
  simulate(trace, opts).outcomes.map((o) => o.completionMs);

// A@0 (4), B@0 (2), C@1 (3), D@2 (1)
const TWO = [inv(0, 4), inv(0, 2), inv(1, 3), inv(2, 1)];
// A@0 (8), B@0 (6), C@0 (4), D@0 (2), E@1 (1), F@1 (3), G@3 (5)
const FOUR = [inv(0, 8), inv(0, 6), inv(0, 4), inv(0, 2), inv(1, 1), inv(1, 3), inv(3, 5)];

/** Two 10 ms invocations, of functions a and b, arriving together on one core under alps dynamic. */
function alpsPair(a: PolicyEntry, b: PolicyEntry, curve?: LevelCurve) {
  return simulate([inv(0, 10, "a"), inv(0, 10, "b")], {
    policy: "alps",
    cores: 1,
    alps: {
      policy: { functions: { a, b }, default: b },
      ...(curve === undefined ? {} : { curve }),
    },
  });
}

describe("2 cores", () => {
  it("fifo: C takes the core B frees at 2, D the core A frees at 4", () => {
    const r = simulate(TWO, { policy: "fifo", cores: 2 });
    expect(r.outcomes.map((o) => o.completionMs)).toEqual([4, 2, 5, 5]);
    expect(r.outcomes.map((o) => o.firstStartMs)).toEqual([0, 0, 2, 4]);
  });

  it("srpt: C(3) does not displace A(3) at 1 (tie, earlier wins); D(1) displaces A(2) at 2", () => {
    // t2: remaining A 2, C 3, D 1 -> D and A run; D done 3; C 3-6; A resumes 2-4.
    const r = simulate(TWO, { policy: "srpt", cores: 2, recordRuns: true });
    expect(r.outcomes.map((o) => o.completionMs)).toEqual([4, 2, 6, 3]);
    expect(r.outcomes.map((o) => o.runs)).toEqual([[2, 2], [2], [3], [1]]);
    // core0 A->D->C, core1 B->A
    expect(r.contextSwitches).toBe(3);
  });

  it("ps: rates 1, 2/3, 1/2, 2/3, 1", () => {
    // 0-1 A,B at 1: A 3, B 1. 1-2 three at 2/3: A 7/3, B 1/3, C 7/3.
    // 2-8/3 four at 1/2: B done; A 2, C 2, D 2/3. 8/3-11/3 three at 2/3: D done;
    // A 4/3, C 4/3. Then two at 1: both done at 5.
    const got = completions(TWO, { policy: "ps", cores: 2 });
    const want = [5, 8 / 3, 5, 11 / 3];
    got.forEach((c, i) => {
      expect(c).toBeCloseTo(want[i] as number, 10);
    });
  });
});

describe("4 cores", () => {
  it("fifo", () => {
    // D frees a core at 2 -> E 2-3, then F 3-6 on it; C frees one at 4 -> G 4-9.
    expect(completions(FOUR, { policy: "fifo", cores: 4 })).toEqual([8, 6, 4, 2, 3, 6, 9]);
  });

  it("srpt", () => {
    // t1: E(1) displaces A(7), F(3) displaces B(5). t2: E, D done -> B(5), A(7) resume.
    // t3: G(5) displaces A(6). t4: F, C done -> A resumes; B done 7, G 8, A 10.
    expect(completions(FOUR, { policy: "srpt", cores: 4 })).toEqual([10, 7, 4, 2, 2, 4, 8]);
  });

  it("ps", () => {
    // 0-1 four at 1. 1-2.5 six at 2/3: D, E done. 2.5-3 four at 1.
    // 3-4.875 five at 0.8: C, F done. Then three at 1: B 6.875, G 8.375, A 8.875.
    const got = completions(FOUR, { policy: "ps", cores: 4 });
    const want = [8.875, 6.875, 4.875, 2.5, 2.5, 4.875, 8.375];
    got.forEach((c, i) => {
      expect(c).toBeCloseTo(want[i] as number, 10);
    });
  });
});

describe("one core, the other policies", () => {
  const ABCD = [inv(0, 10, "a"), inv(1, 2, "b"), inv(2, 4, "c"), inv(2, 6, "a", 3)];
  const policy: Policy = {
    functions: {
      a: { priority: 2, predicted_ms: 8, slice_ms: 20 },
      b: { priority: 1, predicted_ms: 2, slice_ms: 5 },
    },
    default: { priority: 3, predicted_ms: 5, slice_ms: 5 },
  };

  it("blocking time follows the CPU work (fifo)", () => {
    // D's CPU 16-19, then 3 ms blocked.
    expect(completions(ABCD, { policy: "fifo", cores: 1 })).toEqual([10, 12, 16, 22]);
  });

  it("srpt with a quantum: a run is protected for Q ms", () => {
    const r = simulate([inv(0, 10), inv(1, 2)], {
      policy: "srpt",
      cores: 1,
      quantumMs: 4,
      recordRuns: true,
    });
    expect(r.outcomes.map((o) => o.completionMs)).toEqual([12, 6]);
    expect(r.outcomes.map((o) => o.runs)).toEqual([[4, 6], [2]]);
  });

  it("cfs: 3 ms slices by least vruntime, arrivals placed at the queue minimum", () => {
    // A 0-3; B,C,D placed at 0. B 3-5, C 5-8, D 8-11 (CPU done) +3 blocked;
    // A(3) before C(3) by arrival: A 11-14, C 14-15, A 15-19.
    const r = simulate(ABCD, { policy: "cfs", cores: 1, recordRuns: true });
    expect(r.outcomes.map((o) => o.completionMs)).toEqual([19, 5, 15, 14]);
    expect(r.outcomes[0]?.runs).toEqual([3, 3, 3, 1]);
  });

  it("cfs: a switch cost delays each switch to another invocation", () => {
    // A 0-3 (first on the core: no switch), B: cost 3-4, runs 4-6; A: cost 6-7,
    // runs 7-14 (slices 7-10, 10-13, 13-14 with no switch between them).
    const r = simulate([inv(0, 10), inv(1, 2)], {
      policy: "cfs",
      cores: 1,
      cfs: { switchCostMs: 1 },
    });
    expect(r.outcomes.map((o) => o.completionMs)).toEqual([14, 6]);
    expect(r.contextSwitches).toBe(2);
  });

  it("sfs: FILTER for one slice, then the fair class", () => {
    // slice 2: A FILTER 0-2, B (waiting 1 < 3 slices) FILTER 2-3, A fair 3-6.
    const got = completions([inv(0, 5), inv(1, 1)], {
      policy: "sfs",
      cores: 1,
      sfs: { initialSliceMs: 2 },
    });
    expect(got).toEqual([6, 3]);
  });

  it("sfs: an invocation that waited more than 3 slices skips FILTER", () => {
    // slice 0.2: A FILTER 0-0.2; B@0.1 FILTER 0.2-0.4; C@0.1 0.4-0.6 (waited 0.3);
    // D@0.1 0.6-0.8 (waited 0.5 <= 0.6); E@0.1 would enter at 0.8 having waited
    // 0.7 > 3 × 0.2, so it goes to the fair class. All fair at vruntime 0, by
    // arrival: A 0.8-1.6, B -2.4, C -3.2, D -4.0, E 4.0-5.0 in one run.
    const trace = [inv(0, 1), inv(0.1, 1), inv(0.1, 1), inv(0.1, 1), inv(0.1, 1)];
    const r = simulate(trace, {
      policy: "sfs",
      cores: 1,
      sfs: { initialSliceMs: 0.2 },
      recordRuns: true,
    });
    const want = [0, 0.2, 0.4, 0.6, 4];
    r.outcomes.forEach((o, i) => {
      expect(o.firstStartMs).toBeCloseTo(want[i] as number, 9);
    });
    expect(r.outcomes[4]?.runs).toEqual([1]);
    expect(r.outcomes[3]?.runs?.length).toBe(2);
    expect(r.outcomes[3]?.runs?.[0]).toBeCloseTo(0.2, 9);
    expect(r.outcomes[4]?.completionMs).toBeCloseTo(5, 9);
  });

  it("alps rt: a more urgent function preempts, and the slice ends the RT class", () => {
    // A(fn a, prio 2, slice 2) RT 0-1; B(fn b, prio 1) preempts, 1-3; A RT 3-4 (its
    // last 1 ms of slice), then fair 4-7.
    const r = simulate([inv(0, 5, "a"), inv(1, 2, "b")], {
      policy: "alps",
      cores: 1,
      alps: {
        policy: {
          functions: {
            a: { priority: 2, predicted_ms: 5, slice_ms: 2 },
            b: { priority: 1, predicted_ms: 2, slice_ms: 5 },
          },
          default: { priority: 3, predicted_ms: 5, slice_ms: 5 },
        },
        strategy: "rt",
      },
      recordRuns: true,
    });
    expect(r.outcomes.map((o) => o.completionMs)).toEqual([7, 3]);
    expect(r.outcomes[0]?.runs).toEqual([1, 1, 3]);
  });

  it("alps-ideal: strict priority by predicted remaining time", () => {
    // A key 8; B key 2 < 7 at 1 -> B 1-3; then C (5) < A (7) < D (8): C 3-7, A 7-16, D 16-19 +3.
    expect(completions(ABCD, { policy: "alps-ideal", cores: 1, alps: { policy } })).toEqual([
      16, 3, 7, 22,
    ]);
  });

  it("alps static: CPU in proportion to nice weights (-20: 88761, -17: 46273)", () => {
    const r = simulate([inv(0, 10, "a"), inv(0, 10, "b")], {
      policy: "alps",
      cores: 1,
      alps: {
        policy: {
          functions: {
            a: { priority: 1, predicted_ms: 10, slice_ms: 1000 },
            b: { priority: 2, predicted_ms: 10, slice_ms: 1000 },
          },
          default: { priority: 3, predicted_ms: 10, slice_ms: 1000 },
        },
        strategy: "static",
      },
    });
    expect(r.outcomes[0]?.completionMs).toBeCloseTo((10 * (88761 + 46273)) / 88761, 9);
    expect(r.outcomes[1]?.completionMs).toBeCloseTo(20, 9);
  });

  it("alps dynamic: equal levels share equally until a slice runs out, then nice 0 (1024) vs -7 (4904)", () => {
    // A boost-only band: -20..-1 over 1..1000 ms. Remaining 100 and 98 ms both map to
    // nice -7. Both run at 1/2 until A has used its 2 ms slice (t=4); then B needs 8 ms
    // at 4904/5928.
    const r = alpsPair(
      { priority: 1, predicted_ms: 100, slice_ms: 2 },
      { priority: 1, predicted_ms: 100, slice_ms: 100 },
      { niceMin: -20, niceMax: -1, loMs: 1, hiMs: 1000, staticStep: 3 },
    );
    expect(r.outcomes[1]?.completionMs).toBeCloseTo(4 + (8 * (1024 + 4904)) / 4904, 9);
    expect(r.outcomes[0]?.completionMs).toBeCloseTo(20, 9);
  });

  it("alps dynamic, default band: a long prediction yields at 19 (SCHED_IDLE, 3) to a short one at -20 (88761)", () => {
    // Default curve -20..19 over 5..2000 ms: predicted 2000 ms remaining is level 19
    // (SCHED_IDLE from DEFAULT_IDLE_FROM, weight 3) and stays there for the 10 ms A runs
    // (the next threshold is ~1716 ms); B's remaining is at most 5 ms, nice -20. B gets
    // 88761/88764 of the core until it is done.
    const r = alpsPair(
      { priority: 2, predicted_ms: 2000, slice_ms: 1000 },
      { priority: 1, predicted_ms: 5, slice_ms: 1000 },
    );
    expect(r.outcomes[1]?.completionMs).toBeCloseTo((10 * (88761 + 3)) / 88761, 9);
    expect(r.outcomes[0]?.completionMs).toBeCloseTo(20, 9);
  });

  it("alps dynamic: a yield ends at the bound, yieldBound × predicted after the start", () => {
    // As above, A yields at 19 (weight 3) to B at -20 (88761). With a bound of
    // 0.002 × 2000 ms, A's yield ends at t=4: from then on it is at nice 0 (1024;
    // min(19, 0), inside its slice), and B's rate drops to 88761/89785.
    const a = { priority: 2, predicted_ms: 2000, slice_ms: 1000 };
    const b = { priority: 1, predicted_ms: 5, slice_ms: 1000 };
    const run = (yieldBound: number) =>
      simulate([inv(0, 10, "a"), inv(0, 10, "b")], {
        policy: "alps",
        cores: 1,
        alps: { policy: { functions: { a, b }, default: b }, yieldBound },
      });
    const bAt4 = (4 * 88761) / 88764;
    const bounded = run(0.002);
    expect(bounded.outcomes[1]?.completionMs).toBeCloseTo(4 + ((10 - bAt4) * 89785) / 88761, 9);
    expect(bounded.outcomes[0]?.completionMs).toBeCloseTo(20, 9);
    // No bound (0): A yields until B is done, as in the case above.
    const unbounded = run(0);
    expect(unbounded.outcomes[1]?.completionMs).toBeCloseTo((10 * 88764) / 88761, 9);
  });

  it("alps dynamic: running out of its slice never raises a yielding invocation to nice 0", () => {
    // Both predicted 2000 ms (nice 19). A's 2 ms slice runs out at t=4, but a yielding
    // level is not a boost: A stays at 19, so both keep sharing equally and finish at 20.
    // (Dropping A to nice 0 would finish it at 4 + 6·(1024+15)/1024 ≈ 10.1.)
    const r = alpsPair(
      { priority: 1, predicted_ms: 2000, slice_ms: 2 },
      { priority: 1, predicted_ms: 2000, slice_ms: 1000 },
    );
    expect(r.outcomes[0]?.completionMs).toBeCloseTo(20, 9);
    expect(r.outcomes[1]?.completionMs).toBeCloseTo(20, 9);
  });
});

describe("keepOutcomes: false", () => {
  it("gives the same summary with no per-invocation objects", () => {
    const full = simulate(FOUR, { policy: "srpt", cores: 4 });
    const lean = simulate(FOUR, { policy: "srpt", cores: 4, keepOutcomes: false });
    expect(lean.outcomes).toEqual([]);
    expect(lean.summary).toEqual(full.summary);
    expect(lean.summary.turnaround_ms.max).toBe(10);
  });
});

describe("alps policy entries the schema would refuse", () => {
  it("throw a RangeError naming the function instead of stalling the clock", () => {
    const policy = {
      functions: { a: { priority: 0, predicted_ms: 10, slice_ms: 10 } },
      default: { priority: 1, predicted_ms: 10, slice_ms: 10 },
    };
    for (const strategy of ["static", "dynamic"] as const) {
      expect(() =>
        simulate([inv(0, 10, "a")], { policy: "alps", cores: 1, alps: { policy, strategy } }),
      ).toThrow(/policy entry of 'a': priority must be an integer >= 1, got 0/);
    }
    const nan = {
      ...policy,
      functions: { a: { priority: 1, predicted_ms: Number.NaN, slice_ms: 1 } },
    };
    expect(() =>
      simulate([inv(0, 10, "a")], { policy: "alps", cores: 1, alps: { policy: nan } }),
    ).toThrow(/predicted_ms must be finite/);
  });
});
