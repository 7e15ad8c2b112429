/**
 * Properties of every policy on random small traces (fast-check):
 * every invocation completes having received exactly its CPU demand,
 * turnaround ≥ duration, the work-conserving policies never leave a core idle
 * while an invocation waits, SRPT has the least mean turnaround on one core,
 * and alps with all levels equal is processor sharing.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { LevelCurve } from "../../src/contracts/levels.js";
import type { Policy } from "../../src/contracts/policy.js";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { type InvocationOutcome, simulate } from "../../src/sim/index.js";
import { allConfigs } from "./sim-configs.js";

const FUNCTIONS = ["f0", "f1", "f2"] as const;

const invocationArb = fc.record({
  gap: fc.oneof(
    fc.constant(0),
    fc.integer({ min: 0, max: 40 }).map((x) => x / 4),
  ),
  fn: fc.constantFrom(...FUNCTIONS),
  duration: fc.integer({ min: 1, max: 80 }).map((x) => x / 4),
  cpuShare: fc.option(fc.constantFrom(0, 0.25, 0.5, 1), { nil: undefined }),
});

const traceArb = fc.array(invocationArb, { minLength: 1, maxLength: 14 }).map((rows) => {
  let t = 0;
  return rows.map((r): TraceInvocation => {
    t += r.gap;
    const inv: TraceInvocation = { arrivalMs: t, fn: r.fn, durationMs: r.duration };
    if (r.cpuShare !== undefined) inv.cpuMs = r.duration * r.cpuShare;
    return inv;
  });
});

const entryArb = fc.record({
  priority: fc.integer({ min: 1, max: 4 }),
  predicted_ms: fc.integer({ min: 0, max: 40 }),
  slice_ms: fc.integer({ min: 0, max: 60 }),
});
const policyArb = fc.record({
  functions: fc.record({ f0: entryArb, f1: entryArb }),
  default: entryArb,
}) as fc.Arbitrary<Policy>;

const coresArb = fc.integer({ min: 1, max: 4 });

/** CPU work ends `duration − cpu` before completion (blocking comes last). */
const cpuDone = (o: InvocationOutcome): number => o.completionMs - (o.durationMs - o.cpuMs);

/**
 * ∫ min(C, N(t)) dt over the run, N(t) = invocations arrived whose CPU work
 * is not done. It equals the total CPU demand exactly when no core idles
 * while an invocation waits (each invocation uses at most one core).
 */
function workConservingCapacity(outcomes: InvocationOutcome[], cores: number): number {
  const events: [number, number][] = [];
  for (const o of outcomes) {
    if (o.cpuMs === 0) continue;
    events.push([o.arrivalMs, 1], [cpuDone(o), -1]);
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let n = 0;
  let last = 0;
  let area = 0;
  for (const [t, delta] of events) {
    area += Math.min(cores, n) * (t - last);
    n += delta;
    last = t;
  }
  return area;
}

const meanTurnaround = (outcomes: InvocationOutcome[]): number =>
  outcomes.reduce((s, o) => s + o.completionMs - o.arrivalMs, 0) / outcomes.length;

describe("every policy", () => {
  it("completes every invocation with exactly its CPU demand; turnaround ≥ duration; runs add up", () => {
    fc.assert(
      fc.property(traceArb, coresArb, policyArb, (trace, cores, policy) => {
        for (const opts of allConfigs(cores, policy)) {
          const r = simulate(trace, { ...opts, recordRuns: true });
          expect(r.outcomes).toHaveLength(trace.length);
          expect(r.summary.invocations).toBe(trace.length);
          r.outcomes.forEach((o, i) => {
            const inv = trace[i] as TraceInvocation;
            expect(o.index).toBe(i);
            expect(o.cpuMs).toBe(inv.cpuMs ?? inv.durationMs);
            expect(Number.isFinite(o.completionMs)).toBe(true);
            expect(o.firstStartMs).toBeGreaterThanOrEqual(o.arrivalMs);
            expect(o.completionMs - o.arrivalMs).toBeGreaterThanOrEqual(o.durationMs - 1e-9);
            const ran = (o.runs ?? []).reduce((s, x) => s + x, 0);
            expect(ran).toBeCloseTo(o.cpuMs, 9);
          });
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe("work conservation", () => {
  it("no core idles while an invocation waits (ps, fifo, srpt, alps dynamic/static, alps-ideal)", () => {
    fc.assert(
      fc.property(traceArb, coresArb, policyArb, (trace, cores, policy) => {
        const configs = allConfigs(cores, policy).filter(
          (o) =>
            o.policy === "ps" ||
            o.policy === "fifo" ||
            o.policy === "srpt" ||
            o.policy === "alps-ideal" ||
            (o.policy === "alps" && o.alps?.strategy !== "rt"),
        );
        const demand = trace.reduce((s, inv) => s + (inv.cpuMs ?? inv.durationMs), 0);
        for (const opts of configs) {
          const { outcomes } = simulate(trace, opts);
          expect(workConservingCapacity(outcomes, cores)).toBeCloseTo(demand, 6);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("the check can fail: a core left idle is detected", () => {
    const trace: TraceInvocation[] = [
      { arrivalMs: 0, fn: "f", durationMs: 4 },
      { arrivalMs: 0, fn: "f", durationMs: 4 },
    ];
    const { outcomes } = simulate(trace, { policy: "fifo", cores: 1 });
    // Pretend the second one started 1 ms late on an idle core.
    const late = outcomes.map((o, i) => (i === 1 ? { ...o, completionMs: o.completionMs + 1 } : o));
    expect(workConservingCapacity(late, 1)).toBeGreaterThan(8);
  });
});

describe("srpt", () => {
  it("on one core has the smallest mean turnaround of all policies", () => {
    fc.assert(
      fc.property(traceArb, policyArb, (trace, policy) => {
        const best = meanTurnaround(simulate(trace, { policy: "srpt", cores: 1 }).outcomes);
        for (const opts of allConfigs(1, policy)) {
          expect(best).toBeLessThanOrEqual(meanTurnaround(simulate(trace, opts).outcomes) + 1e-9);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("alps with all levels equal", () => {
  const curve: LevelCurve = { niceMin: -5, niceMax: -5, loMs: 1, hiMs: 1000, staticStep: 0 };
  it.each(["dynamic", "static"] as const)("%s equals ps", (strategy) => {
    fc.assert(
      fc.property(traceArb, coresArb, entryArb, (trace, cores, entry) => {
        // Slices longer than any demand: nobody falls back to nice 0.
        const e = { ...entry, slice_ms: 10_000 };
        const policy: Policy = {
          functions: { f0: e },
          default: { ...e, priority: e.priority + 1 },
        };
        const ps = simulate(trace, { policy: "ps", cores }).outcomes;
        const alps = simulate(trace, {
          policy: "alps",
          cores,
          alps: { policy, strategy, curve },
        }).outcomes;
        alps.forEach((o, i) => {
          expect(o.completionMs).toBeCloseTo((ps[i] as InvocationOutcome).completionMs, 7);
        });
      }),
      { numRuns: 200 },
    );
  });
});
