/**
 * Sandboxes as scheduling groups in the simulator (src/sim/groups.ts): when
 * a function's concurrent invocations share one sandbox, they share one
 * weight. Hand-worked cases on one core, and the identity that a sandbox per
 * invocation changes nothing.
 */
import { describe, expect, it } from "vitest";
import type { Policy } from "../../src/contracts/policy.js";
import { simulate } from "../../src/sim/index.js";
import { waterFill } from "../../src/sim/groups.js";
import type { TraceInvocation } from "../../src/contracts/trace.js";

const inv = (arrivalMs: number, fn: string, durationMs: number): TraceInvocation => ({
  arrivalMs,
  fn,
  durationMs,
});

/** Three invocations of A and one of B, all 30 ms, at time 0. */
const TRACE = [inv(0, "A", 30), inv(0, "A", 30), inv(0, "A", 30), inv(0, "B", 30)];

const completions = (r: ReturnType<typeof simulate>): number[] =>
  [...r.outcomes]
    .sort((a, b) => a.index - b.index)
    .map((o) => Math.round(o.completionMs * 1000) / 1000);

describe("water-filling", () => {
  it("shares by weight and never gives an entry more than its cap", () => {
    const out = new Float64Array(3);
    waterFill(2, 3, [10, 1, 1], [1, 1, 1], out, new Int32Array(3));
    // The heavy one would get 2*10/12 > 1: capped at 1; the rest split 1 evenly.
    expect([...out]).toEqual([1, 0.5, 0.5]);
    waterFill(1, 2, [3, 1], [5, 5], out, new Int32Array(2));
    expect([...out.subarray(0, 2)]).toEqual([0.75, 0.25]);
  });
});

describe("ps with one sandbox per function", () => {
  it("gives each sandbox an equal share, split among its members", () => {
    // B's sandbox gets half the core: done at 60 ms. A's three share the
    // other half (10 ms each by 60 ms), then the whole core: 20 ms left each
    // at 1/3 → 120 ms.
    const grouped = simulate(TRACE, { policy: "ps", cores: 1, sandboxes: "function" });
    expect(completions(grouped)).toEqual([120, 120, 120, 60]);
    // Per invocation (the default) all four share equally and end together.
    expect(completions(simulate(TRACE, { policy: "ps", cores: 1 }))).toEqual([120, 120, 120, 120]);
  });
});

describe("alps with one sandbox per function", () => {
  const policy: Policy = {
    functions: {
      A: { priority: 2, predicted_ms: 1000, slice_ms: 1000 },
      B: { priority: 1, predicted_ms: 30, slice_ms: 1000 },
    },
    default: { priority: 3, predicted_ms: 100, slice_ms: 10 },
  };
  it("a sandbox of one invocation each is the per-task model", () => {
    const trace = [inv(0, "A", 40), inv(5, "B", 30)];
    // Distinct functions, one invocation each: grouping by function changes nothing.
    const byFn = simulate(trace, {
      policy: "alps",
      cores: 1,
      alps: { policy },
      sandboxes: "function",
    });
    const plain = simulate(trace, { policy: "alps", cores: 1, alps: { policy } });
    expect(completions(byFn)).toEqual(completions(plain));
  });
  it("members share their sandbox's weight: three yielding As against one boosted B", () => {
    const grouped = simulate(TRACE, {
      policy: "alps",
      cores: 1,
      alps: { policy },
      sandboxes: "function",
    });
    const plain = simulate(TRACE, { policy: "alps", cores: 1, alps: { policy } });
    const [a1, , , b] = completions(grouped);
    // B finishes first either way, and the As when the core has done all 120 ms.
    expect(b).toBeLessThan(a1 as number);
    expect(completions(grouped)[0]).toBeCloseTo(120, 6);
    // Against one yielding sandbox (one weight of 3) B loses less than against
    // three yielding tasks (3 + 3 + 3).
    expect(b).toBeLessThan(completions(plain)[3] as number);
  });
  it("policies that do not model sandboxes refuse the layout", () => {
    expect(() => simulate(TRACE, { policy: "cfs", cores: 1, sandboxes: "function" })).toThrow(
      /ps and alps/,
    );
  });
});
