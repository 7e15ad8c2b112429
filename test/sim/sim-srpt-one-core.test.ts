/**
 * srpt on one core has a loop of its own (plain variables instead of
 * per-core arrays). It must make exactly the decisions of the general
 * engine run with one core: same start and finish times to the bit, same
 * runs, same context switches, with and without a quantum, on traces with
 * ties, zero-CPU invocations and blocking time.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { JobTable } from "../../src/sim/jobs.js";
import { runPriorityOnCores, runSrptOneCore } from "../../src/sim/priority.js";

const traceArb = fc
  .array(
    fc.record({
      gap: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 0, max: 40 }).map((x) => x / 4),
        fc.double({ min: 0, max: 20, noNaN: true }),
      ),
      duration: fc.oneof(
        fc.integer({ min: 1, max: 80 }).map((x) => x / 4),
        fc.double({ min: 0.001, max: 50, noNaN: true }),
      ),
      cpuShare: fc.option(fc.constantFrom(0, 0.3, 1), { nil: undefined }),
    }),
    { minLength: 1, maxLength: 60 },
  )
  .map((rows) => {
    let t = 0;
    return rows.map((r, i): TraceInvocation => {
      t += r.gap;
      const inv: TraceInvocation = { arrivalMs: t, fn: `f${i % 3}`, durationMs: r.duration };
      if (r.cpuShare !== undefined) inv.cpuMs = r.duration * r.cpuShare;
      return inv;
    });
  });

describe("srpt on one core", () => {
  it("decides exactly as the general engine with one core", () => {
    fc.assert(
      fc.property(traceArb, fc.constantFrom(0, 0.5, 2, 8), (trace, quantumMs) => {
        const general = new JobTable(trace, true);
        const single = new JobTable(trace, true);
        const g = runPriorityOnCores(general, 1, quantumMs);
        const s = runSrptOneCore(single, quantumMs);
        expect(s.contextSwitches).toBe(g.contextSwitches);
        expect(Array.from(single.completions())).toEqual(Array.from(general.completions()));
        expect(Array.from(single.firstStart)).toEqual(Array.from(general.firstStart));
        expect(single.runs).toEqual(general.runs);
      }),
      { numRuns: 400 },
    );
  });
});
