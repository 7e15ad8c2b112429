/**
 * The daemon's rules for callers that are not root (issue 19), on simulated
 * time with the observe-only backend: function keys, floors and budgets
 * handed down, per-uid quotas, a client's cpu_ms believed from root only,
 * invocations whose task exited ended by the daemon, invocations open too
 * long ended, and a registration the backend refuses leaving nothing open.
 */
import { describe, expect, it } from "vitest";
import type { DaemonConfig } from "../../src/frontend/config.js";
import {
  EXIT_GRACE_MS,
  functionKey,
  parseUidFloors,
  QuotaError,
  REAP_PERIOD_MS,
} from "../../src/frontend/daemon.js";
import { boostBudgetOf } from "../../src/backend/budget.js";
import { RecordError } from "../../src/errors.js";
import { daemonOnSimulatedTime, type SimulatedDaemon } from "./fixtures/simulated-daemon.js";

const member = { uid: 1234 };

/** Started: the reaper runs only after start(), and the tests below count on it. */
function setup(config: Partial<DaemonConfig> = {}): SimulatedDaemon {
  const started = daemonOnSimulatedTime({ learnPeriodMs: 500, ...config });
  started.daemon.start();
  return started;
}

describe("callers that are not root", () => {
  it("key functions as uid:name; root's names stay as they are", () => {
    expect(functionKey("fib", 0)).toBe("fib");
    expect(functionKey("fib", 1234)).toBe("1234:fib");
    const { backend, daemon } = setup();
    daemon.startInvocation("fib", 101, member);
    daemon.startInvocation("fib", 102);
    expect(backend.started).toEqual([
      { fn: "1234:fib", pid: 101 },
      { fn: "fib", pid: 102 },
    ]);
  });

  it("hand the backend a floor (0, or the uid's configured one) and the boost budget; root gets no floor", () => {
    expect(parseUidFloors(["1234:-5", "7:3"])).toEqual(
      new Map([
        [1234, -5],
        [7, 3],
      ]),
    );
    const { backend, daemon } = setup({ uidNiceFloors: ["1234:-5"], boostBudgetMs: 300 });
    daemon.startInvocation("a", 101, member);
    daemon.startInvocation("a", 102, { uid: 99 });
    daemon.startInvocation("a", 103);
    expect(backend.limits).toEqual([
      { floor: -5, boostBudgetNs: 300e6 },
      { floor: 0, boostBudgetNs: 300e6 },
      { boostBudgetNs: 300e6 },
    ]);
  });

  it("are held to per-uid quotas of open invocations and function names; root is not", () => {
    const { daemon } = setup({ uidMaxOpenInvocations: 2, uidMaxFunctions: 2 });
    daemon.startInvocation("a", 101, member);
    daemon.startInvocation("b", 102, member);
    expect(() => daemon.startInvocation("a", 103, member)).toThrow(QuotaError);
    expect(() => daemon.startInvocation("a", 103, member)).toThrow(/invocations open/);
    for (let i = 0; i < 5; i++) daemon.startInvocation(`root${i}`, 200 + i);
    expect(daemon.status().counters.invocations_refused_quota).toBe(2);
    const other = setup({ uidMaxOpenInvocations: 10, uidMaxFunctions: 2 }).daemon;
    other.startInvocation("a", 101, member);
    other.startInvocation("b", 102, member);
    expect(() => other.startInvocation("c", 103, member)).toThrow(/function names/);
    other.startInvocation("a", 104, member); // a name it has is fine
  });

  it("forget a name unused for the function lifetime, so the quota frees up", () => {
    const { clock, daemon } = setup({ uidMaxFunctions: 1, functionTtlSeconds: 10 });
    const id = daemon.startInvocation("a", 101, member);
    daemon.endInvocation(id);
    expect(() => daemon.startInvocation("b", 102, member)).toThrow(/function names/);
    clock.advance(11_000);
    daemon.startInvocation("b", 102, member);
  });

  it("have cpu_ms ignored (counted); root's is believed", () => {
    const { daemon } = setup();
    const mine = daemon.startInvocation("f", 2 ** 22 + 5, member); // no such task: no schedstat
    const rec = daemon.endInvocation(mine, { cpuMs: 60_000 });
    expect(rec).toMatchObject({ fn: "1234:f", cpuSource: "none", uid: 1234 });
    expect(daemon.status().counters.client_cpu_ignored).toBe(1);
    expect(daemon.status().counters.invocations_without_cpu).toBe(1);
    const roots = daemon.startInvocation("f", 2 ** 22 + 6);
    expect(daemon.endInvocation(roots, { cpuMs: 7 })).toMatchObject({
      cpuMs: 7,
      cpuSource: "client",
    });
  });
});

describe("invocations nobody ends", () => {
  it("are ended EXIT_GRACE_MS after their task exited, with the CPU the backend counted", () => {
    const { backend, clock, daemon } = setup();
    const id = daemon.startInvocation("f", 2 ** 22 + 7, member);
    clock.advance(40);
    backend.emitExit({ pid: 2 ** 22 + 7, cpuNs: 12e6 });
    // Exited but in its grace period: no longer counted against the uid.
    expect(daemon.openInvocation(id)?.exitedMs).toBeDefined();
    clock.advance(EXIT_GRACE_MS + REAP_PERIOD_MS);
    expect(daemon.openInvocation(id)).toBeUndefined();
    expect(daemon.reapedInvocation(id)).toMatchObject({
      reaped: "exited",
      cpuMs: 12,
      cpuSource: "exit",
      turnaroundMs: 40,
    });
    expect(daemon.status().counters.invocations_reaped_exited).toBe(1);
    expect(backend.ended).toEqual([2 ** 22 + 7]);
  });

  it("end normally when the end request comes within the grace period", () => {
    const { backend, clock, daemon } = setup();
    const id = daemon.startInvocation("f", 2 ** 22 + 8);
    backend.emitExit({ pid: 2 ** 22 + 8, cpuNs: 5e6 });
    clock.advance(100);
    expect(daemon.endInvocation(id, { cpuMs: 6 })).toMatchObject({ cpuSource: "client", cpuMs: 6 });
    expect(daemon.status().counters.invocations_reaped_exited).toBe(0);
  });

  it("exited ones never fill the open limits", () => {
    const { backend, daemon } = setup({ maxOpenInvocations: 3, uidMaxOpenInvocations: 2 });
    for (let i = 0; i < 20; i++) {
      daemon.startInvocation("f", 5000 + i, member);
      backend.emitExit({ pid: 5000 + i, cpuNs: undefined });
    }
    expect(daemon.status().open_invocations).toBe(20);
    expect(daemon.status().counters.invocations_refused_open_limit).toBe(0);
    expect(daemon.status().counters.invocations_refused_quota).toBe(0);
  });

  it("are ended after maxOpenSeconds", () => {
    const { backend, clock, daemon } = setup({ maxOpenSeconds: 5 });
    const old = daemon.startInvocation("f", 6001);
    clock.advance(3000);
    const young = daemon.startInvocation("f", 6002);
    clock.advance(2500);
    expect(daemon.openInvocation(old)).toBeUndefined();
    expect(daemon.openInvocation(young)).toBeDefined();
    expect(daemon.reapedInvocation(old)?.reaped).toBe("max_open");
    expect(backend.ended).toEqual([6001]);
  });
});

describe("a registration the backend refuses", () => {
  it("leaves nothing open and nothing counted against the uid", () => {
    const { backend, daemon } = setup({ uidMaxOpenInvocations: 1 });
    backend.refuse = new RecordError("the state directory is full");
    expect(() => daemon.startInvocation("f", 7001, member)).toThrow(RecordError);
    expect(daemon.status().open_invocations).toBe(0);
    backend.refuse = undefined;
    daemon.startInvocation("f", 7001, member); // the quota of 1 is still free
    expect(daemon.status().open_invocations).toBe(1);
  });
});

describe("the boost budget", () => {
  it("is the configured one, never less than twice the function's predicted run", () => {
    const policy = {
      functions: { long: { priority: 2, predicted_ms: 1500, slice_ms: 200 } },
      default: { priority: 1, predicted_ms: 5, slice_ms: 8 },
    };
    expect(boostBudgetOf(1000e6, policy, "short")).toBe(1000e6);
    expect(boostBudgetOf(1000e6, policy, "long")).toBe(3000e6);
  });
});
