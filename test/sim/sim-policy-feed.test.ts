/**
 * A policy that changes during a simulation (PolicyFeed, the daemon learning
 * online): the engines stop at each decision, take a new policy from that
 * instant on (dynamic/static: for running invocations too, as the kernel
 * reads its policy map at every runtime update; rt: for later arrivals), and
 * hand over every invocation once with its completion time. A feed that
 * never changes the policy gives exactly the fixed policy's run.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Policy } from "../../src/contracts/policy.js";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { simulate } from "../../src/sim/index.js";
import type { CompletedInvocation, PolicyFeed } from "../../src/sim/types.js";

const STRATEGIES = ["dynamic", "static", "rt"] as const;

/** Decides every `everyMs`; at `switchAt` (if any) the policy becomes `then`. */
class ScriptedFeed implements PolicyFeed {
  readonly done: CompletedInvocation[] = [];
  readonly busy: [number, number][] = [];
  #next: number;
  constructor(
    readonly initial: Policy,
    private readonly everyMs: number,
    private readonly then?: { atMs: number; policy: Policy },
    private readonly echo = false,
  ) {
    this.#next = everyMs;
  }
  nextDecisionMs(): number {
    return this.#next;
  }
  decide(nowMs: number, busyMs: number): Policy | undefined {
    this.busy.push([nowMs, busyMs]);
    this.#next = nowMs + this.everyMs;
    if (this.then !== undefined && nowMs === this.then.atMs) return this.then.policy;
    // The same policy again, as a new object: must change nothing.
    return this.echo ? structuredClone(this.initial) : undefined;
  }
  cpuDone(invocation: CompletedInvocation): void {
    this.done.push(invocation);
  }
}

const policyOf = (entries: Record<string, [number, number, number]>): Policy => ({
  functions: Object.fromEntries(
    Object.entries(entries).map(([fn, [priority, predicted_ms, slice_ms]]) => [
      fn,
      { priority, predicted_ms, slice_ms },
    ]),
  ),
  default: { priority: Object.keys(entries).length + 1, predicted_ms: 50, slice_ms: 20 },
});

const traceArb = fc
  .array(
    fc.record({
      gap: fc.double({ min: 0, max: 30, noNaN: true }),
      fn: fc.constantFrom("a", "b", "c", "d"),
      duration: fc.double({ min: 0.5, max: 200, noNaN: true }),
      cpuShare: fc.double({ min: 0.2, max: 1, noNaN: true }),
    }),
    { minLength: 1, maxLength: 40 },
  )
  .map((rows) => {
    let t = 0;
    return rows.map((r): TraceInvocation => {
      t += r.gap;
      return { arrivalMs: t, fn: r.fn, durationMs: r.duration, cpuMs: r.duration * r.cpuShare };
    });
  });

const POLICY = policyOf({ a: [1, 5, 8], b: [2, 40, 30], c: [3, 150, 60] });

describe("a feed that never changes the policy", () => {
  for (const strategy of STRATEGIES)
    it(`gives the fixed policy's completions (${strategy}), and hands over every invocation once`, () => {
      fc.assert(
        fc.property(
          traceArb,
          fc.integer({ min: 1, max: 3 }),
          fc.boolean(),
          (trace, cores, echo) => {
            const fixed = simulate(trace, {
              policy: "alps",
              cores,
              alps: { policy: POLICY, strategy },
            });
            const feed = new ScriptedFeed(POLICY, 7, undefined, echo);
            const fed = simulate(trace, { policy: "alps", cores, alps: { feed, strategy } });
            fed.outcomes.forEach((o, i) => {
              expect(o.completionMs).toBeCloseTo(fixed.outcomes[i]?.completionMs as number, 6);
            });
            expect(feed.done).toHaveLength(trace.length);
            // Each invocation once: the same (arrival, function, cpu) as the trace.
            const key = (x: { arrivalMs: number; fn: string; cpuMs?: number }) =>
              `${x.arrivalMs}|${x.fn}|${x.cpuMs}`;
            expect(feed.done.map(key).sort()).toEqual(trace.map(key).sort());
            const completions = fed.outcomes.map((o) => o.completionMs).sort((x, y) => x - y);
            expect(feed.done.map((d) => d.completionMs).sort((x, y) => x - y)).toEqual(completions);
          },
        ),
        { numRuns: 60 },
      );
    });
});

describe("a policy that changes mid-run", () => {
  // Two 100 ms invocations on one core, both arriving at 0.
  const two: TraceInvocation[] = [
    { arrivalMs: 0, fn: "a", durationMs: 100 },
    { arrivalMs: 0, fn: "b", durationMs: 100 },
  ];
  const equal = policyOf({});
  const aFirst = policyOf({ a: [1, 1, 1000], b: [2, 1000, 1000] });
  const completionOfA = (alps: Parameters<typeof simulate>[1]["alps"]) =>
    simulate(two, { policy: "alps", cores: 1, alps }).outcomes[0]?.completionMs as number;

  it("dynamic: from the decision on, running invocations take their new entries", () => {
    const before = completionOfA({ policy: equal });
    const after = completionOfA({ policy: aFirst });
    const switched = completionOfA({
      feed: new ScriptedFeed(equal, 50, { atMs: 50, policy: aFirst }),
    });
    // Shared equally until 50 ms (25 ms each), then a is boosted and b yields.
    expect(before).toBeCloseTo(200, 6);
    expect(after).toBeLessThan(110);
    expect(switched).toBeGreaterThan(after);
    expect(switched).toBeLessThan(before - 50);
  });

  it("rt: an invocation keeps the entry of the policy in force when it arrived", () => {
    const trace: TraceInvocation[] = [
      { arrivalMs: 0, fn: "a", durationMs: 100 },
      { arrivalMs: 60, fn: "b", durationMs: 100 },
    ];
    const none = policyOf({ a: [1, 100, 0], b: [2, 100, 0] }); // no real-time budget
    const bRt = policyOf({ a: [2, 100, 0], b: [1, 100, 1000] });
    const run = (alps: Parameters<typeof simulate>[1]["alps"]) =>
      simulate(trace, { policy: "alps", cores: 1, alps: { ...alps, strategy: "rt" } as never })
        .outcomes;
    const fixedNone = run({ policy: none });
    // Without a budget both share the fair class: b waits its turns.
    expect(fixedNone[1]?.completionMs).toBeGreaterThan(170);
    const switched = run({ feed: new ScriptedFeed(none, 50, { atMs: 50, policy: bRt }) });
    // b arrived after the switch: real-time at once, preempting a, which had its entry of before.
    expect(switched[1]?.firstStartMs).toBeCloseTo(60, 6);
    expect(switched[1]?.completionMs).toBeCloseTo(160, 6);
    expect(switched[0]?.completionMs).toBeCloseTo(200, 6);
  });

  it("busy time: what the cores gave invocations so far", () => {
    const feed = new ScriptedFeed(equal, 50);
    simulate(two, { policy: "alps", cores: 2, alps: { feed } });
    // Two cores, each invocation on its own from 0 to 100.
    expect(feed.busy.find(([t]) => t === 50)?.[1]).toBeCloseTo(100, 6);
    expect(feed.busy.find(([t]) => t === 100)?.[1]).toBeCloseTo(200, 6);
  });

  it("a feed whose next decision does not move on is an error, not a hang", () => {
    const stuck: PolicyFeed = {
      initial: equal,
      nextDecisionMs: () => 10,
      decide: () => undefined,
      cpuDone: () => {},
    };
    expect(() => simulate(two, { policy: "alps", cores: 1, alps: { feed: stuck } })).toThrow(
      /not later/,
    );
  });
});

describe("the yield bound under a policy that changes", () => {
  // One core, both arriving at 0, 100 ms each. First a is predicted 1 ms
  // (boosted; its bound, 6 × 1 ms, passes at 6 ms while it is not yielding)
  // and b runs at nice 0 (its 0.001 ms slice is spent at once). At 50 ms a
  // new policy predicts a 1000 ms long: a yield, but its bound has passed.
  const trace: TraceInvocation[] = [
    { arrivalMs: 0, fn: "a", durationMs: 100 },
    { arrivalMs: 0, fn: "b", durationMs: 100 },
  ];
  const first = policyOf({ a: [1, 1, 1000], b: [2, 1, 0.001] });
  const then = policyOf({ a: [2, 1000, 1000], b: [1, 1, 0.001] });
  const run = (yieldBound: number) =>
    simulate(trace, {
      policy: "alps",
      cores: 1,
      alps: { feed: new ScriptedFeed(first, 50, { atMs: 50, policy: then }), yieldBound },
    }).outcomes;

  it("an invocation whose bound passed while it was not yielding never yields after it", () => {
    const [a, b] = run(6);
    // a ran ahead until 50 ms and shares equally after it: it finishes first,
    // and the core is never idle, so the last one ends at 200 ms.
    expect(a?.completionMs).toBeLessThan(b?.completionMs as number);
    expect(b?.completionMs).toBeCloseTo(200, 6);
    // Without the bound, a yields from 50 ms on and b finishes first.
    const [a0, b0] = run(0);
    expect(a0?.completionMs).toBeGreaterThan(b0?.completionMs as number);
  });

  it("no invocation finishes sooner than its CPU time after it arrives, on any trace", () => {
    const long = policyOf({ a: [4, 400, 60], b: [3, 150, 60], c: [2, 40, 30], d: [1, 5, 8] });
    fc.assert(
      fc.property(
        traceArb,
        fc.integer({ min: 1, max: 3 }),
        fc.double({ min: 1, max: 40, noNaN: true }),
        (trace, cores, switchAt) => {
          const atMs = Math.round(switchAt);
          const feed = new ScriptedFeed(POLICY, 1, { atMs, policy: long });
          const outcomes = simulate(trace, {
            policy: "alps",
            cores,
            alps: { feed, yieldBound: 2 },
          }).outcomes;
          for (const o of outcomes)
            expect(o.completionMs - o.arrivalMs).toBeGreaterThanOrEqual(
              (o.cpuMs ?? o.durationMs) * (1 - 1e-9),
            );
        },
      ),
      { numRuns: 100 },
    );
  });
});
