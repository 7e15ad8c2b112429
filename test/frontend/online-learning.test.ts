/**
 * The daemon learning online on simulated time (DaemonFeed): the real Daemon
 * on a manual clock. An invocation enters the window when it completes; the
 * learner runs at the daemon's instants (period, and soon after a new
 * function); the overload rule sees the simulated cores' busy share.
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/frontend/config.js";
import type { LearnedPolicy } from "../../src/frontend/learner.js";
import { DaemonFeed, simulateOnline } from "../../src/frontend/online.js";

const config = (flags: Record<string, string>) => loadConfig({ flags });

describe("DaemonFeed", () => {
  it("decides at the daemon's instants and learns only from completed invocations", () => {
    const feed = new DaemonFeed(config({ learnPeriodMs: "1000", newFunctionLearnMs: "0" }), 2);
    expect(Object.keys(feed.initial.functions)).toEqual([]);
    expect(feed.nextDecisionMs()).toBe(1000);
    // CPU done at 400, but blocking keeps it open until 1500.
    feed.cpuDone({ fn: "slow", arrivalMs: 0, cpuMs: 400, completionMs: 1500 });
    expect(feed.decide(1000, 800)).toBeUndefined(); // nothing completed: nothing learned
    expect(feed.nextDecisionMs()).toBe(2000);
    const learned = feed.decide(2000, 800) as LearnedPolicy;
    expect(learned.functions.slow?.predicted_ms).toBe(400);
    expect(feed.status().counters.learner_runs).toBe(1);
  });

  it("learns a new function within newFunctionLearnMs, not a period later", () => {
    const feed = new DaemonFeed(config({ learnPeriodMs: "2000", newFunctionLearnMs: "250" }), 1);
    // Nothing new yet: the period; a function's completion brings the next 250 ms instant.
    expect(feed.nextDecisionMs()).toBe(2000);
    feed.cpuDone({ fn: "f", arrivalMs: 100, cpuMs: 5, completionMs: 105 });
    expect(feed.nextDecisionMs()).toBe(250);
    const p = feed.decide(250, 5);
    expect(p?.functions.f?.priority).toBe(1);
  });

  it("gives the overload rule the busy share of the simulated cores since the last run", () => {
    const feed = new DaemonFeed(config({ learnPeriodMs: "1000", newFunctionLearnMs: "0" }), 2);
    feed.cpuDone({ fn: "f", arrivalMs: 0, cpuMs: 10, completionMs: 10 });
    // 1800 ms of CPU over 2 cores × 1000 ms: 90 %.
    const p = feed.decide(1000, 1800) as LearnedPolicy;
    expect(p.learner.utilization_pct).toBeCloseTo(90, 9);
    expect(p.learner.overload_factor).toBeCloseTo((100 + 50 - 90) / 100, 9);
    feed.cpuDone({ fn: "f", arrivalMs: 1000, cpuMs: 10, completionMs: 1010 });
    const q = feed.decide(2000, 1800 + 400) as LearnedPolicy;
    expect(q.learner.utilization_pct).toBeCloseTo(20, 9);
  });

  it("a daemon with a policy file does not learn: refused", () => {
    expect(() => new DaemonFeed(config({ policyFile: "/nonexistent.json" }), 1)).toThrow(
      /does not learn/,
    );
  });
});

describe("simulateOnline", () => {
  it("ends with the policy the daemon learned from the whole run", () => {
    const trace = Array.from({ length: 40 }, (_, i) => ({
      arrivalMs: i * 100,
      fn: i % 2 === 0 ? "short" : "long",
      durationMs: i % 2 === 0 ? 2 : 60,
    }));
    const run = simulateOnline(trace, config({ learnPeriodMs: "500" }), { cores: 1 });
    expect(run.result.outcomes).toHaveLength(40);
    expect(run.policy.functions.short?.priority).toBe(1);
    expect(run.policy.functions.long?.priority).toBe(2);
    expect(run.policy.functions.long?.predicted_ms).toBeCloseTo(60, 6);
    expect(run.status.counters.learner_runs).toBeGreaterThanOrEqual(8);
  });
});
