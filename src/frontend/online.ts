/**
 * The daemon learning online over simulated time: what `alps simulate
 * --policy alps` runs without a policy file, and the feedback benchmark.
 *
 * The real Daemon runs on a ManualClock that the simulator advances, with
 * the daemon's config (window, learning period, the early run for a new
 * function, the learner's parameters), so the simulation learns exactly as
 * a host would: each invocation enters the window when it completes (as
 * `alps invoke` ends it), each learned policy takes effect from the instant
 * it was learned, and the overload rule sees the simulated cores' busy share
 * since the previous learning run (as UtilizationMeter reads /proc/stat).
 */
import type { Backend, BackendStatus } from "../backend/types.js";
import { emptyPolicy, type Policy } from "../contracts/policy.js";
import { type SandboxLayout, type SimInput, type SimResult, simulate } from "../sim/index.js";
import type { TraceInvocation } from "../contracts/trace.js";
import type { CompletedInvocation, GittinsOptions, PolicyFeed } from "../sim/types.js";
import { ManualClock } from "./clock.js";
import type { ConfigKey, DaemonConfig } from "./config.js";
import { Daemon, type DaemonStatus } from "./daemon.js";
import { LEARNER_KEYS } from "./learner.js";
import type { Log } from "./log.js";

/** The daemon's options a simulated daemon reads: `alps simulate` takes them as the daemon does. */
export const ONLINE_KEYS = [
  "strategy",
  "idleFromNice",
  "yieldBound",
  "levelStep",
  "learnPeriodMs",
  "newFunctionLearnMs",
  "provisionalCapMs",
  "provisionalPeriodMs",
  ...LEARNER_KEYS,
  "windowInvocations",
  "windowSeconds",
  "functionTtlSeconds",
  "maxTrackedFunctions",
] as const satisfies readonly ConfigKey[];

/** The backend of a simulated host: it keeps the policy the daemon applies, for the simulator. */
class SimulatedBackend implements Backend {
  readonly mode = "alps" as const;
  readonly sensor = "none" as const;
  applied: Policy = emptyPolicy();
  async addSandbox(): Promise<void> {}
  async removeSandbox(): Promise<void> {}
  startInvocation(): void {}
  endInvocation(): void {}
  applyPolicy(policy: Policy): void {
    this.applied = policy;
  }
  onBurst(): void {}
  status(): BackendStatus {
    return { mode: "alps", sensor: "none", reasons: ["simulated"], counters: {} };
  }
  async close(): Promise<void> {}
}

export class DaemonFeed implements PolicyFeed {
  readonly initial: Policy;
  readonly daemon: Daemon;
  readonly #clock = new ManualClock(0);
  readonly #backend = new SimulatedBackend();
  readonly #cores: number;
  /** Done with their CPU work, waiting for their completion time, in completion order. */
  #pending: CompletedInvocation[] = [];
  #given: Policy;
  #nowMs = 0;
  #busyMs = 0;
  #sample = { atMs: 0, busyMs: 0, pct: 0 };
  /** Each function's samples behind the policy in force, read lazily from the window. */
  #samples: Map<string, number[]> | undefined;

  readonly #keepSamples: boolean;
  /**
   * The trace's arrivals, for the provisional rule (provisional.ts): the
   * daemon learns of each invocation when it arrives, as startInvocation
   * tells a host's daemon. Empty when the rule is off or no trace was given.
   */
  readonly #arrivals: { fn: (i: number) => string; arrival: ArrayLike<number>; n: number };
  #arrived = 0;
  /** Simulated invocations open, by function and arrival: the daemon's handles. */
  readonly #openHandles = new Map<string, number[]>();

  constructor(
    config: DaemonConfig,
    cores: number,
    log?: Log,
    keepSamples = false,
    trace?: SimInput,
  ) {
    if (config.policyFile !== undefined)
      throw new RangeError("a daemon with a policy file does not learn: simulate that policy");
    this.#cores = cores;
    this.#keepSamples = keepSamples;
    this.#arrivals =
      trace === undefined || !(config.provisionalCapMs > 0)
        ? { fn: () => "", arrival: [], n: 0 }
        : arrivalsOf(trace);
    this.daemon = new Daemon({
      backend: this.#backend,
      config,
      clock: this.#clock,
      cores,
      utilization: () => this.#utilization(),
      // It only records finished invocations: nothing to reap, and its clock keeps the learner's instants only.
      reap: false,
      ...(log === undefined ? {} : { log }),
    });
    this.daemon.start();
    this.initial = this.#backend.applied;
    this.#given = this.initial;
  }

  /** Busy share of the simulated cores since the previous sample, % (as UtilizationMeter). */
  #utilization(): number {
    const elapsed = this.#nowMs - this.#sample.atMs;
    if (elapsed > 0)
      this.#sample = {
        atMs: this.#nowMs,
        busyMs: this.#busyMs,
        pct: (100 * (this.#busyMs - this.#sample.busyMs)) / (this.#cores * elapsed),
      };
    return this.#sample.pct;
  }

  nextDecisionMs(): number {
    const due = this.#clock.nextDueMs();
    // The daemon learns a function it has not seen at the first multiple of
    // newFunctionLearnMs after its record arrives (a timer armed by the record).
    // Records arrive here at decisions: decide at the first such instant after
    // the earliest pending completion, so a record is as early as on a host.
    // The provisional rule's timer starts when an invocation arrives: decide
    // at each arrival, so the daemon learns of it on time (see decide).
    const arrival =
      this.#arrived < this.#arrivals.n
        ? (this.#arrivals.arrival[this.#arrived] as number)
        : Number.POSITIVE_INFINITY;
    const soon = this.daemon.config.newFunctionLearnMs;
    const first = this.#pending[0];
    if (soon <= 0 || soon >= this.daemon.config.learnPeriodMs || first === undefined)
      return Math.min(due, arrival);
    return Math.min(due, arrival, Math.ceil(first.completionMs / soon) * soon);
  }

  cpuDone(invocation: CompletedInvocation): void {
    // Mostly in order already: CPU work ends in time order, blocking time shifts a few.
    const p = this.#pending;
    let i = p.length;
    while (i > 0 && (p[i - 1] as CompletedInvocation).completionMs > invocation.completionMs) i--;
    p.splice(i, 0, invocation);
  }

  decide(nowMs: number, busyMs: number): Policy | undefined {
    this.#nowMs = nowMs;
    this.#busyMs = busyMs;
    let done = 0;
    for (const inv of this.#pending) {
      if (inv.completionMs > nowMs) break;
      const turnaroundMs = inv.completionMs - inv.arrivalMs;
      this.#closeOpen(inv.fn, inv.arrivalMs);
      this.daemon.recordFinished({
        fn: inv.fn,
        arrivalMs: inv.arrivalMs,
        cpuMs: inv.cpuMs,
        waitMs: Math.max(0, turnaroundMs - inv.cpuMs),
        turnaroundMs,
      });
      done++;
    }
    if (done > 0) this.#pending.splice(0, done);
    this.#clock.advance(nowMs - this.#clock.now());
    // After the clock reached nowMs: a decision falls on every arrival, so
    // these arrived at nowMs, and the rule's timer starts from there.
    const a = this.#arrivals;
    for (; this.#arrived < a.n && (a.arrival[this.#arrived] as number) <= nowMs; this.#arrived++) {
      const fn = a.fn(this.#arrived);
      const key = `${fn}\0${a.arrival[this.#arrived] as number}`;
      const handle = this.daemon.simulatedArrival(fn, a.arrival[this.#arrived] as number);
      const same = this.#openHandles.get(key);
      if (same === undefined) this.#openHandles.set(key, [handle]);
      else same.push(handle);
    }
    if (this.#backend.applied === this.#given) return undefined;
    this.#given = this.#backend.applied;
    // The learner ran at this instant, on the window as it is now.
    this.#samples = undefined;
    if (this.#keepSamples) this.#samples = this.#windowSamples();
    return this.#given;
  }

  /** A simulated invocation completed: the daemon no longer counts it open. */
  #closeOpen(fn: string, arrivalMs: number): void {
    const key = `${fn}\0${arrivalMs}`;
    const same = this.#openHandles.get(key);
    const handle = same?.shift();
    if (handle === undefined) return;
    if (same?.length === 0) this.#openHandles.delete(key);
    this.daemon.simulatedEnd(handle);
  }

  #windowSamples(): Map<string, number[]> {
    const byFn = new Map<string, number[]>();
    for (const r of this.daemon.windowRecords()) {
      // The learner's bursts: invocations with CPU (it replays no others).
      if (!(r.cpuMs > 0)) continue;
      const runs = byFn.get(r.fn);
      if (runs === undefined) byFn.set(r.fn, [r.cpuMs]);
      else runs.push(r.cpuMs);
    }
    return byFn;
  }

  /**
   * The CPU of each burst of `fn` in the window when the policy in force was
   * learned: the learner's samples. Kept only when asked for at construction
   * (keepSamples), so runs that do not read them pay nothing.
   */
  runSamples(fn: string): readonly number[] | undefined {
    if (!this.#keepSamples)
      throw new Error("DaemonFeed: runSamples needs a feed constructed with keepSamples");
    return this.#samples?.get(fn);
  }

  status(): DaemonStatus {
    return this.daemon.status();
  }
}

export interface OnlineRun {
  result: SimResult;
  /** The daemon at the end: learner runs, window, the last policy. */
  status: DaemonStatus;
  policy: Policy;
}

/**
 * `alps` over `trace` with the daemon learning online from it, configured by
 * `config` (strategy, idleFromNice, yieldBound, levelStep and the learner's options included).
 */
export function simulateOnline(
  trace: SimInput,
  config: DaemonConfig,
  opts: {
    cores: number;
    keepOutcomes?: boolean;
    log?: Log;
    sandboxes?: SandboxLayout;
    /** Remaining time from the Gittins index of the learned runs (simulator only). */
    gittins?: GittinsOptions;
  },
): OnlineRun {
  const feed = new DaemonFeed(config, opts.cores, opts.log, opts.gittins !== undefined, trace);
  const result = simulate(trace, {
    policy: "alps",
    cores: opts.cores,
    keepOutcomes: opts.keepOutcomes ?? true,
    ...(opts.sandboxes === undefined ? {} : { sandboxes: opts.sandboxes }),
    alps: {
      feed,
      strategy: config.strategy,
      idleFrom: config.idleFromNice,
      yieldBound: config.yieldBound,
      levelStep: config.levelStep,
      ...(opts.gittins === undefined ? {} : { gittins: opts.gittins }),
    },
  });
  return { result, status: feed.status(), policy: feed.daemon.policy() };
}

/** Each invocation's function and arrival, from either form of a trace. */
function arrivalsOf(trace: SimInput): {
  fn: (i: number) => string;
  arrival: ArrayLike<number>;
  n: number;
} {
  if (Array.isArray(trace)) {
    const list = trace as readonly TraceInvocation[];
    return {
      fn: (i) => (list[i] as TraceInvocation).fn,
      arrival: list.map((inv) => inv.arrivalMs),
      n: list.length,
    };
  }
  const columns = trace as Exclude<SimInput, readonly TraceInvocation[]>;
  return {
    fn: (i) => columns.names[columns.fn[i] as number] as string,
    arrival: columns.arrival,
    n: columns.length,
  };
}
