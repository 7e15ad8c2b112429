import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { FinishedRecord } from "../../src/frontend/daemon.js";
import type { LearnedPolicy } from "../../src/frontend/learner.js";
import { readSchedstat } from "../../src/host/proc-task.js";
import { daemonOnSimulatedTime } from "./fixtures/simulated-daemon.js";

/** A short learning period, so a few simulated invocations are learned within one advance. */
const LOOP = { learnPeriodMs: 500 };

describe("the daemon loop on simulated time", () => {
  it("learns every period from finished invocations and applies the policy to the backend", () => {
    const { backend, clock, daemon } = daemonOnSimulatedTime(LOOP);
    const finished: FinishedRecord[] = [];
    daemon.onInvocationEnd((r) => finished.push(r));
    daemon.start();
    expect(backend.policies).toHaveLength(1); // the initial (empty) policy
    // Alternate a 150 ms and a 5 ms function; the test process's pid stands in for the task (never changed: observe-only).
    for (let i = 0; i < 6; i++) {
      for (const [fn, cpu] of [
        ["slow", 150],
        ["quick", 5],
      ] as const) {
        const id = daemon.startInvocation(fn, process.pid);
        clock.advance(cpu + 1);
        daemon.endInvocation(id, { cpuMs: cpu });
      }
    }
    expect(finished).toHaveLength(12);
    expect(finished[0]).toMatchObject({
      fn: "slow",
      cpuMs: 150,
      turnaroundMs: 151,
      cpuSource: "client",
    });
    const appliedBefore = backend.policies.length;
    clock.advance(500);
    expect(backend.policies.length).toBeGreaterThan(appliedBefore);
    const policy = daemon.policy() as LearnedPolicy;
    expect(policy.functions.quick?.priority).toBe(1);
    expect(policy.functions.slow?.priority).toBe(2);
    expect(policy.functions.quick?.predicted_ms).toBeCloseTo(5, 6);
    expect(backend.policies.at(-1)).toBe(policy);
    expect(backend.started).toHaveLength(12);
    expect(backend.ended).toHaveLength(12);
    expect(daemon.status().counters.learner_runs).toBeGreaterThan(0);
    daemon.stop();
    const runs = daemon.status().counters.learner_runs;
    clock.advance(5_000);
    expect(daemon.status().counters.learner_runs).toBe(runs); // stopped means stopped
  });

  it("learns from backend bursts for functions without explicit boundaries, and not twice for the others", () => {
    const { backend, clock, daemon } = daemonOnSimulatedTime(LOOP);
    daemon.start();
    const id = daemon.startInvocation("explicit", process.pid);
    daemon.endInvocation(id, { cpuMs: 30 });
    for (let i = 0; i < 4; i++) {
      clock.advance(100);
      backend.emitBurst({ fn: "sandboxed", tid: 4242, cpuMs: 12, atMs: clock.now() });
      backend.emitBurst({ fn: "explicit", tid: 4243, cpuMs: 999, atMs: clock.now() });
    }
    clock.advance(500);
    const policy = daemon.policy() as LearnedPolicy;
    expect(policy.functions.sandboxed?.predicted_ms).toBeCloseTo(12, 6);
    expect(policy.functions.sandboxed?.explain.samples).toBe(4);
    expect(policy.functions.explicit?.predicted_ms).toBeCloseTo(30, 6);
    expect(daemon.status().counters.bursts_ignored_explicit).toBe(4);
  });

  it("learns a new function within newFunctionLearnMs, and never re-runs early for one it left pending", () => {
    const { clock, daemon } = daemonOnSimulatedTime({
      learnPeriodMs: 2000,
      newFunctionLearnMs: 250,
      minSamples: 3,
    });
    daemon.start();
    const invoke = (fn: string, cpuMs: number): void => {
      const id = daemon.startInvocation(fn, process.pid);
      daemon.endInvocation(id, { cpuMs });
    };
    for (let i = 0; i < 3; i++) invoke("fresh", 5);
    clock.advance(300);
    // Well before the 2 s period: one early run gave it its entry.
    expect(daemon.policy().functions.fresh?.predicted_ms).toBeCloseTo(5, 6);
    expect(daemon.status().counters.learner_runs).toBe(1);
    // A function with too few samples stays pending; more records of it do not
    // trigger another early run, only the period does.
    invoke("rare", 7);
    clock.advance(300);
    expect(daemon.status().counters.learner_runs).toBe(2); // the run that first saw it
    for (let i = 0; i < 5; i++) {
      clock.advance(250);
      invoke("rare", 7);
    }
    expect(daemon.status().counters.learner_runs).toBe(2);
    clock.advance(1000); // the 2 s period
    expect(daemon.status().counters.learner_runs).toBe(3);
    // newFunctionLearnMs 0: only the period.
    const periodOnly = daemonOnSimulatedTime({ learnPeriodMs: 2000, newFunctionLearnMs: 0 });
    periodOnly.daemon.start();
    const id = periodOnly.daemon.startInvocation("fresh", process.pid);
    periodOnly.daemon.endInvocation(id, { cpuMs: 5 });
    periodOnly.clock.advance(1500);
    expect(periodOnly.daemon.status().counters.learner_runs).toBe(0);
  });

  it("drops a function's warm-up bursts from the window at its first explicit invocation", () => {
    const { backend, clock, daemon } = daemonOnSimulatedTime(LOOP);
    daemon.start();
    // A sandbox warming up: many short bursts of its runtime's threads.
    for (let i = 0; i < 20; i++) {
      clock.advance(10);
      backend.emitBurst({ fn: "warm", tid: 5000 + i, cpuMs: 0.5, atMs: clock.now() });
    }
    for (let i = 0; i < 3; i++) {
      clock.advance(100);
      const id = daemon.startInvocation("warm", process.pid);
      daemon.endInvocation(id, { cpuMs: 400 });
    }
    clock.advance(500);
    const policy = daemon.policy() as LearnedPolicy;
    expect(policy.functions.warm?.explain.samples).toBe(3);
    expect(policy.functions.warm?.predicted_ms).toBeCloseTo(400, 6);
    expect(daemon.status().counters.bursts_learned).toBe(20);
    expect(daemon.status().counters.bursts_ignored_explicit).toBe(20);
  });

  it("applies a policy file as is and never learns", () => {
    const dir = mkdtempSync(join(tmpdir(), "alps-daemon-"));
    const file = join(dir, "policy.json");
    const fixed = {
      functions: { fib: { priority: 1, predicted_ms: 12, slice_ms: 18.5 } },
      default: { priority: 2, predicted_ms: 50, slice_ms: 5 },
    };
    writeFileSync(file, JSON.stringify(fixed));
    const { backend, clock, daemon } = daemonOnSimulatedTime({
      learnPeriodMs: 100,
      policyFile: file,
    });
    daemon.start();
    const id = daemon.startInvocation("other", process.pid);
    daemon.endInvocation(id, { cpuMs: 1 });
    clock.advance(1_000);
    expect(backend.policies).toEqual([fixed]);
    expect(daemon.status().policy_source).toBe("file");
    expect(daemon.status().counters.learner_runs).toBe(0);
  });

  it("refuses invocations past the open limit, counted", () => {
    const { daemon } = daemonOnSimulatedTime({ maxOpenInvocations: 2 });
    daemon.startInvocation("a", process.pid);
    daemon.startInvocation("a", process.pid);
    expect(() => daemon.startInvocation("a", process.pid)).toThrow(/limit 2/);
    expect(daemon.status().counters.invocations_refused_open_limit).toBe(1);
  });

  it("measures CPU from schedstat when the client does not report it", async () => {
    const { daemon } = daemonOnSimulatedTime(LOOP);
    const id = daemon.startInvocation("self", process.pid);
    // The baseline is read once the caller yields (off the path to the function's first instruction).
    await Promise.resolve();
    // Burn 30 ms of the main thread's own CPU (what schedstat of the pid counts; process
    // CPU also holds GC and worker threads), bounded by 5 s of wall time.
    const mainCpuMs = (): number => readSchedstat(process.pid)?.cpuMs ?? Number.NaN;
    const end = mainCpuMs() + 30;
    const deadline = performance.now() + 5000;
    let x = 0;
    while (mainCpuMs() < end && performance.now() < deadline)
      for (let i = 0; i < 10_000; i++) x += i;
    const rec = daemon.endInvocation(id);
    expect(x).toBeGreaterThan(0);
    expect(rec?.cpuSource).toBe("schedstat");
    expect(rec?.cpuMs).toBeGreaterThanOrEqual(30);
    expect(rec?.cpuMs).toBeLessThan(30 + 1000);
  });
});
