/**
 * The simulator-only overrun rules (src/sim/overrun.ts): the rule itself, and
 * the weighted engine's event-driven levels under it against a plain
 * time-stepped reference that recomputes every level from the rule at every
 * step.
 */
import { describe, expect, it } from "vitest";
import {
  BASE_NICE,
  curveLevel,
  DEFAULT_CURVE,
  DEFAULT_IDLE_FROM,
  IDLE_WEIGHT,
  levelThresholdsMs,
  niceWeight,
  runsIdle,
} from "../../src/contracts/levels.js";
import type { Policy } from "../../src/contracts/policy.js";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { simulate } from "../../src/sim/index.js";
import {
  type OverrunOptions,
  type OverrunRule,
  overrunRemainingMs,
  parseOverrunRule,
} from "../../src/sim/overrun.js";

describe("overrunRemainingMs", () => {
  it("none: predicted − used, then 0", () => {
    const none = parseOverrunRule("none");
    expect(overrunRemainingMs(none, 50, 20, true)).toBe(30);
    expect(overrunRemainingMs(none, 50, 400, true)).toBe(0);
  });

  it("scale:K: K × the overrun past the prediction, for every function", () => {
    const r = parseOverrunRule("scale:2");
    expect(overrunRemainingMs(r, 50, 20, false)).toBe(30);
    expect(overrunRemainingMs(r, 50, 60, false)).toBe(20);
    expect(overrunRemainingMs(r, 50, 400, false)).toBe(700);
  });

  it("scale-unseen:K and las-unseen apply only to functions without an entry", () => {
    const s = parseOverrunRule("scale-unseen:1");
    expect(overrunRemainingMs(s, 50, 400, false)).toBe(0);
    expect(overrunRemainingMs(s, 50, 400, true)).toBe(350);
    const las = parseOverrunRule("las-unseen");
    expect(overrunRemainingMs(las, 50, 10, true)).toBe(40);
    expect(overrunRemainingMs(las, 50, 30, true)).toBe(30);
    expect(overrunRemainingMs(las, 50, 400, true)).toBe(400);
    expect(overrunRemainingMs(las, 50, 400, false)).toBe(0);
  });

  it("refuses a rule it does not know, naming the forms it takes", () => {
    expect(() => parseOverrunRule("scale:0")).toThrow(/scale:K/);
    expect(() => parseOverrunRule("las")).toThrow(/got 'las'/);
  });
});

const inv = (arrivalMs: number, durationMs: number, fn: string): TraceInvocation => ({
  arrivalMs,
  fn,
  durationMs,
});

/**
 * One core, weighted sharing stepped every `dt` ms; each step every
 * invocation's level comes from the rule: curveLevel(remaining), never below
 * BASE_NICE past the slice, never above it once lifted (yield bound from the
 * start, or from the implied size with liftFromSize, re-checked at most every
 * millisecond; liftFromSize 0: never while the rule rises). Completion times.
 */
function reference(
  trace: TraceInvocation[],
  policy: Policy,
  overrun: OverrunOptions,
  yieldBound: number,
  dt: number,
): number[] {
  const thresholds = levelThresholdsMs(DEFAULT_CURVE);
  const n = trace.length;
  const entry = trace.map((t) => policy.functions[t.fn] ?? policy.default);
  const unseen = trace.map((t) => policy.functions[t.fn] === undefined);
  const used = new Array<number>(n).fill(0);
  const done = new Array<number>(n).fill(Number.NaN);
  const liftAt = trace.map((t, j) =>
    yieldBound > 0 ? t.arrivalMs + yieldBound * entry[j]!.predicted_ms : Infinity,
  );
  const lifted = new Array<boolean>(n).fill(false);
  const weight = (l: number) => (runsIdle(l, DEFAULT_IDLE_FROM) ? IDLE_WEIGHT : niceWeight(l));
  for (let now = 0; done.some(Number.isNaN); now += dt) {
    const active: number[] = [];
    for (let j = 0; j < n; j++)
      if (trace[j]!.arrivalMs <= now + 1e-12 && Number.isNaN(done[j]!)) active.push(j);
    const level = new Map<number, number>();
    for (const j of active) {
      const e = entry[j]!;
      const rem = overrunRemainingMs(overrun.rule, e.predicted_ms, used[j]!, unseen[j]!);
      if (!lifted[j] && now >= liftAt[j]! - 1e-12) {
        const rises = overrunRemainingMs(overrun.rule, e.predicted_ms, 1e9, unseen[j]!) > 0;
        const size = used[j]! + rem;
        const at = trace[j]!.arrivalMs + (overrun.liftFromSize ?? 0) * size;
        if (overrun.liftFromSize === 0 && rises) liftAt[j] = Infinity;
        else if (overrun.liftFromSize !== undefined && rises && at > now)
          liftAt[j] = Math.max(at, now + 1);
        else lifted[j] = true;
      }
      let l = curveLevel(rem, DEFAULT_CURVE, thresholds);
      if (used[j]! >= e.slice_ms) l = Math.max(l, BASE_NICE);
      if (lifted[j]) l = Math.min(l, BASE_NICE);
      level.set(j, l);
    }
    const total = active.reduce((s, j) => s + weight(level.get(j)!), 0);
    for (const j of active) {
      used[j] = used[j]! + (dt * weight(level.get(j)!)) / total;
      if (used[j]! >= trace[j]!.durationMs) done[j] = now + dt;
    }
  }
  return done;
}

describe("the weighted engine under an overrun rule", () => {
  // f has an entry predicting 300 ms; g and h have none (default: 50 ms, slice 20).
  const policy: Policy = {
    functions: { f: { priority: 2, predicted_ms: 300, slice_ms: 300 } },
    default: { priority: 1, predicted_ms: 50, slice_ms: 20 },
  };
  const trace = [inv(0, 400, "f"), inv(5, 500, "g"), inv(30, 120, "h"), inv(200, 60, "f")];
  const engine = (overrun: OverrunOptions, yieldBound: number) =>
    simulate(trace, { policy: "alps", cores: 1, alps: { policy, overrun, yieldBound } })
      .outcomes.slice()
      .sort((a, b) => a.index - b.index)
      .map((o) => o.completionMs);

  const cases: [string, OverrunRule, number | undefined, number][] = [
    ["none, no bound", parseOverrunRule("none"), undefined, 0],
    ["scale:2, no bound", parseOverrunRule("scale:2"), undefined, 0],
    ["scale-unseen:1, bound 6 from the start", parseOverrunRule("scale-unseen:1"), undefined, 6],
    ["las-unseen, no bound", parseOverrunRule("las-unseen"), undefined, 0],
    ["las-unseen, bound 2 from the implied size", parseOverrunRule("las-unseen"), 2, 2],
    ["scale:1, never lifted while it overruns", parseOverrunRule("scale:1"), 0, 6],
    ["regrow-unseen:4, no bound", parseOverrunRule("regrow-unseen:4"), undefined, 0],
    ["regrow:3, bound 6 from the regrown size", parseOverrunRule("regrow:3"), 6, 6],
  ];
  for (const [name, rule, liftFromSize, yieldBound] of cases) {
    it(`matches a time-stepped reference: ${name}`, () => {
      const overrun = liftFromSize === undefined ? { rule } : { rule, liftFromSize };
      const got = engine(overrun, yieldBound);
      const want = reference(trace, policy, overrun, yieldBound, 0.002);
      for (let j = 0; j < trace.length; j++) expect(got[j]).toBeCloseTo(want[j]!, 0);
    });
  }

  it("a rule that rises changes the outcome (the reference is not blind to it)", () => {
    const none = engine({ rule: parseOverrunRule("none") }, 0);
    const las = engine({ rule: parseOverrunRule("las-unseen") }, 0);
    // g (unseen, 500 ms) yields as it overruns under las-unseen: it finishes later.
    expect(las[1]! - none[1]!).toBeGreaterThan(50);
  });

  it("rule none gives the kernel rule's outcomes exactly", () => {
    const without = simulate(trace, { policy: "alps", cores: 1, alps: { policy } }).outcomes;
    const none = simulate(trace, {
      policy: "alps",
      cores: 1,
      alps: { policy, overrun: { rule: parseOverrunRule("none") } },
    }).outcomes;
    expect(none.map((o) => o.completionMs)).toEqual(without.map((o) => o.completionMs));
  });
});
