/**
 * The daemon's loop (docs/architecture.md): sources → window → learner → backend.
 * Invocation boundaries come from the control API / `alps invoke` (or a
 * library caller such as the replay); bursts reported by the backend are a
 * source for sandboxes without explicit boundaries. Every `learnPeriodMs`
 * the learner replays the window and the result goes to `backend.applyPolicy`.
 * With a policy file, that policy is applied once and nothing is learned.
 *
 * Usable as a library: `new Daemon({ backend, config, clock })`, no sockets,
 * no signals, no process-wide state here (the command adds those).
 */
import { availableParallelism } from "node:os";
import type { Backend, BackendStatus, BurstSample } from "../backend/types.js";
import { emptyPolicy, type Policy } from "../contracts/policy.js";
import { type DaemonClock, realClock } from "./clock.js";
import { CONFIG_KEYS, type ConfigKey, type DaemonConfig, defaultConfig } from "./config.js";
import {
  LEARNER_KEYS,
  type LearnedPolicy,
  type LearnerParams,
  learnerParams,
  learnPolicy,
} from "./learner.js";
import type { Log } from "./log.js";
import { readPolicyFile } from "./policy-file.js";
import { readSchedstat } from "../host/proc-task.js";
import { UtilizationMeter } from "../host/utilization.js";
import { type InvocationRecord, InvocationWindow, type WindowCounters } from "./window.js";

export interface OpenInvocation {
  id: string;
  fn: string;
  pid: number;
  startMs: number;
  /**
   * The task's schedstat when it was registered (a warm sandbox may have run
   * before); read in a microtask after startInvocation returns, so an
   * invocation ended before its caller yields has none.
   */
  startCpu: { cpuMs: number; waitMs: number } | undefined;
}

export interface FinishedRecord extends InvocationRecord {
  id: string;
  pid: number;
  /** Where cpuMs came from. */
  cpuSource: "client" | "schedstat" | "none";
}

export interface DaemonCounters {
  invocations_started: number;
  invocations_ended: number;
  invocations_refused_open_limit: number;
  invocations_without_cpu: number;
  bursts_learned: number;
  /**
   * Bursts of functions with explicit boundaries, not learned: those reported
   * after the first explicit invocation, and those recorded before it
   * (dropped from the window then).
   */
  bursts_ignored_explicit: number;
  learner_runs: number;
  learner_errors: number;
  policies_applied: number;
  /**
   * Functions the policy in force leaves on the default entry because more
   * than `maxFunctions` were learned (the learner's `overflow`): a level, not
   * a running total, so it reads as "how many are over the map size now".
   */
  policy_overflow_functions: number;
}

export interface DaemonStatus {
  mode: BackendStatus["mode"];
  sensor: BackendStatus["sensor"];
  strategy: BackendStatus["strategy"] | null;
  reasons: string[];
  policy_source: "learned" | "file";
  learn_period_ms: number;
  open_invocations: number;
  sandboxes: number;
  last_learn_ms: number | null;
  last_learn_duration_ms: number | null;
  counters: DaemonCounters;
  window: WindowCounters & { size: number };
  backend: Record<string, number>;
}

export interface DaemonOptions {
  backend: Backend;
  config?: Partial<DaemonConfig>;
  clock?: DaemonClock;
  /** Cores the learner simulates; default: this host's. */
  cores?: number;
  /** Host utilization over the last period, %; default reads /proc/stat. `null` turns the overload rule off. */
  utilization?: (() => number) | null;
  /** Extra reasons (e.g. why the backend was chosen) shown in status. */
  reasons?: string[];
  /**
   * The content of `config.policyFile`, when the caller has read it already
   * (`alps daemon` does, before it touches the host); else it is read here.
   */
  policy?: Policy;
  log?: Log;
}

export class OpenLimitError extends Error {
  override readonly name = "OpenLimitError";
}

/**
 * Config keys a running daemon takes on reload (SIGHUP): the learner's, and
 * the policy file (read again even when its name is unchanged). Any other
 * change (mode, socket, state directory, window sizes...) needs a restart.
 */
export const RELOADABLE_KEYS: ReadonlySet<ConfigKey> = new Set<ConfigKey>([
  "policyFile",
  "learnPeriodMs",
  "newFunctionLearnMs",
  ...LEARNER_KEYS,
]);

/** What a reload changed. */
export interface ReloadResult {
  /** Reloadable keys whose new value is now in force. */
  applied: ConfigKey[];
  /** Keys that changed but need a restart: their running value stays. */
  needRestart: ConfigKey[];
  /** The policy file that was read again and applied, if one rules. */
  policyFile: string | undefined;
}

export class Daemon {
  #config: DaemonConfig;
  readonly backend: Backend;
  readonly #clock: DaemonClock;
  readonly #log: Log;
  readonly #window: InvocationWindow;
  #params: LearnerParams;
  readonly #cores: number;
  readonly #utilization: (() => number) | null;
  readonly #reasons: string[];
  readonly #open = new Map<string, OpenInvocation>();
  readonly #sandboxes = new Map<string, string>(); // cgroup dir → fn
  /** Functions with explicit boundaries: their bursts are not learned twice. */
  readonly #explicitFns = new Set<string>();
  readonly #finishedListeners: ((r: FinishedRecord) => void)[] = [];
  readonly #startListeners: ((inv: OpenInvocation) => void)[] = [];
  readonly #policyListeners: ((p: Policy, learnMs: number | null) => void)[] = [];
  #policy: Policy | LearnedPolicy;
  #source: "learned" | "file";
  #nextId = 1;
  #cancel: (() => void) | undefined;
  #lastLearnMs: number | null = null;
  /** A record arrived for a function the last learning run had not seen. */
  #newFunctionSeen = false;
  /** Functions the last learning run saw (with an entry, pending or over the map size). */
  #seenByLearner = new Set<string>();
  #lastLearnDurationMs: number | null = null;
  /** The learner has made a pass: learned a policy, or found the window empty (nothing to learn yet). */
  #learnerPassed = false;
  readonly #counters: DaemonCounters = {
    invocations_started: 0,
    invocations_ended: 0,
    invocations_refused_open_limit: 0,
    invocations_without_cpu: 0,
    bursts_learned: 0,
    bursts_ignored_explicit: 0,
    learner_runs: 0,
    learner_errors: 0,
    policies_applied: 0,
    policy_overflow_functions: 0,
  };

  constructor(opts: DaemonOptions) {
    this.#config = { ...defaultConfig(), ...opts.config };
    this.backend = opts.backend;
    this.#clock = opts.clock ?? realClock;
    this.#log = opts.log ?? (() => {});
    this.#reasons = opts.reasons ?? [];
    const c = this.config;
    this.#window = new InvocationWindow({
      maxInvocations: c.windowInvocations,
      maxAgeMs: c.windowSeconds * 1000,
      functionTtlMs: c.functionTtlSeconds * 1000,
      maxTrackedFunctions: c.maxTrackedFunctions,
    });
    this.#cores = opts.cores ?? availableParallelism();
    this.#params = learnerParams(c, this.#cores);
    if (opts.utilization === undefined) {
      const meter = new UtilizationMeter();
      this.#utilization = () => meter.sample();
    } else this.#utilization = opts.utilization;
    if (c.policyFile !== undefined) {
      this.#policy = opts.policy ?? readPolicyFile(c.policyFile);
      this.#source = "file";
    } else {
      this.#policy = emptyPolicy();
      this.#source = "learned";
    }
    this.backend.onBurst((sample) => this.#onBurst(sample));
  }

  /** The configuration in force (a reload may have changed its reloadable keys). */
  get config(): DaemonConfig {
    return this.#config;
  }

  /**
   * Takes a new configuration (the command's SIGHUP): the reloadable keys
   * are applied, the policy file (when one is given) is read again and
   * applied, learning restarts on the new period. Everything that can fail
   * (reading the policy file) happens first: on an error nothing changes.
   */
  reload(next: DaemonConfig): ReloadResult {
    const filePolicy = next.policyFile !== undefined ? readPolicyFile(next.policyFile) : undefined;
    const changed = CONFIG_KEYS.filter(
      (k) => JSON.stringify(this.#config[k]) !== JSON.stringify(next[k]),
    );
    const applied = changed.filter((k) => RELOADABLE_KEYS.has(k));
    const config: Record<string, unknown> = { ...this.#config };
    for (const k of applied) config[k] = next[k];
    const running = this.#cancel !== undefined;
    this.stop();
    this.#config = config as DaemonConfig;
    this.#params = learnerParams(this.#config, this.#cores);
    if (filePolicy !== undefined) {
      this.#policy = filePolicy;
      this.#source = "file";
    } else if (this.#source === "file") {
      // The policy file was dropped: learn again, from the window (kept meanwhile).
      this.#source = "learned";
    }
    if (running) this.start();
    return {
      applied,
      needRestart: changed.filter((k) => !RELOADABLE_KEYS.has(k)),
      policyFile: next.policyFile,
    };
  }

  /** Apply the initial policy and, unless a policy file rules, start learning. */
  start(): void {
    if (this.#cancel !== undefined) return;
    this.#apply(this.#policy, null);
    if (this.#source === "file") {
      this.#log(`policy from ${this.config.policyFile}: applied as is, learning off`);
      this.#cancel = () => {};
      return;
    }
    const periodic = this.#clock.every(this.config.learnPeriodMs, () => this.learnNow());
    // A function the policy does not know yet sits on the default entry until the
    // next period: up to 2 s, the first 10 s of a replay's short invocations
    // suffered most from that. Learn again soon after such a function has samples.
    const soon = this.config.newFunctionLearnMs;
    const early =
      soon > 0 && soon < this.config.learnPeriodMs
        ? this.#clock.every(soon, () => {
            if (this.#newFunctionSeen) this.learnNow();
          })
        : () => {};
    this.#cancel = () => {
      periodic();
      early();
    };
  }

  /** Stop learning. The backend stays open: its owner closes it. */
  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }

  /** Run the learner on the window now and apply the result. Errors are logged, counted, and keep the last policy. */
  learnNow(): Policy {
    if (this.#source === "file") return this.#policy;
    const util = this.#utilization?.();
    const now = this.#clock.now();
    const records = this.#window.records(now);
    if (records.length === 0) {
      this.#learnerPassed = true;
      return this.#policy;
    }
    const t0 = performance.now();
    try {
      const previous = "learner" in this.#policy ? (this.#policy as LearnedPolicy) : undefined;
      const learned = learnPolicy(records, this.#params, previous, util);
      const took = performance.now() - t0;
      this.#counters.learner_runs++;
      this.#newFunctionSeen = false;
      this.#seenByLearner = new Set([
        ...Object.keys(learned.functions),
        ...learned.learner.pending,
        ...learned.learner.overflow,
      ]);
      this.#lastLearnMs = now;
      this.#lastLearnDurationMs = took;
      this.#learnerPassed = true;
      this.#apply(learned, took);
    } catch (error) {
      this.#counters.learner_errors++;
      this.#log(
        `learner failed, keeping the last policy: ${error instanceof Error ? error.message : String(error)}`,
        "error",
      );
    }
    return this.#policy;
  }

  /** Into the window; notes a function the last learning run had not seen. */
  #record(record: InvocationRecord): boolean {
    // Only functions the learner has never seen: one it saw and left on the
    // default entry (too few samples, over the map size) waits for the period,
    // so the early run cannot repeat every tick.
    if (!this.#seenByLearner.has(record.fn)) this.#newFunctionSeen = true;
    return this.#window.add(record);
  }

  #apply(policy: Policy, learnMs: number | null): void {
    const overflow = "learner" in policy ? (policy as LearnedPolicy).learner.overflow : [];
    if (overflow.length !== this.#counters.policy_overflow_functions && overflow.length > 0)
      this.#log(
        `policy: ${overflow.length} functions over maxFunctions ${this.config.maxFunctions} use the default entry: ${overflow.slice(0, 10).join(", ")}${overflow.length > 10 ? ", ..." : ""}`,
        "warn",
      );
    this.#counters.policy_overflow_functions = overflow.length;
    this.#policy = policy;
    this.backend.applyPolicy(policy);
    this.#counters.policies_applied++;
    for (const listener of this.#policyListeners) listener(policy, learnMs);
  }

  async addSandbox(fn: string, cgroupDir: string): Promise<void> {
    await this.backend.addSandbox(fn, cgroupDir);
    this.#sandboxes.set(cgroupDir, fn);
  }

  async removeSandbox(cgroupDir: string): Promise<void> {
    await this.backend.removeSandbox(cgroupDir);
    this.#sandboxes.delete(cgroupDir);
  }

  /** Declared sandboxes: cgroup dir → function. */
  sandboxes(): ReadonlyMap<string, string> {
    return this.#sandboxes;
  }

  /** An invocation of `fn` starts in `pid`. Returns its id. Throws OpenLimitError past `maxOpenInvocations`. */
  startInvocation(fn: string, pid: number): string {
    if (this.#open.size >= this.config.maxOpenInvocations) {
      this.#counters.invocations_refused_open_limit++;
      throw new OpenLimitError(
        `${this.#open.size} invocations are open (limit ${this.config.maxOpenInvocations})`,
      );
    }
    const id = String(this.#nextId++);
    const open: OpenInvocation = { id, fn, pid, startMs: this.#clock.now(), startCpu: undefined };
    this.#open.set(id, open);
    // The CPU baseline is read once the caller has let the invocation go (a
    // microtask: before any I/O callback). The first /proc read of a warm
    // worker cost 0.25 ms on this host, on the path to the function's first
    // instruction; a few microseconds later the task has not run yet.
    queueMicrotask(() => {
      if (this.#open.get(id) === open) open.startCpu = readSchedstat(pid);
    });
    if (!this.#explicitFns.has(fn)) {
      this.#explicitFns.add(fn);
      // Bursts seen before the first explicit invocation (a sandbox warming
      // up: runtime start-up, every helper thread's wake-ups) are not this
      // function's invocations; learning from them predicted a 500 ms
      // function at 17 ms in a replay. From now on only invocations count.
      this.#counters.bursts_ignored_explicit += this.#window.forget(fn);
    }
    this.#counters.invocations_started++;
    this.backend.startInvocation(fn, pid);
    for (const listener of this.#startListeners) listener(open);
    return id;
  }

  openInvocation(id: string): OpenInvocation | undefined {
    return this.#open.get(id);
  }

  /**
   * The invocation ended. CPU time: what the client measured (`cpuMs`), else
   * the task's schedstat since the start when it is still alive; without
   * either the invocation is counted but not learned from.
   */
  endInvocation(id: string, report: { cpuMs?: number } = {}): FinishedRecord | undefined {
    const inv = this.#open.get(id);
    if (inv === undefined) return undefined;
    this.#open.delete(id);
    const now = this.#clock.now();
    const turnaroundMs = Math.max(0, now - inv.startMs);
    const endCpu = readSchedstat(inv.pid);
    let cpuMs: number | undefined;
    let cpuSource: FinishedRecord["cpuSource"] = "none";
    let waitMs: number | undefined;
    if (endCpu !== undefined && inv.startCpu !== undefined)
      waitMs = endCpu.waitMs - inv.startCpu.waitMs;
    if (report.cpuMs !== undefined) {
      cpuMs = report.cpuMs;
      cpuSource = "client";
    } else if (endCpu !== undefined && inv.startCpu !== undefined) {
      cpuMs = endCpu.cpuMs - inv.startCpu.cpuMs;
      cpuSource = "schedstat";
    }
    this.backend.endInvocation(inv.pid);
    this.#counters.invocations_ended++;
    const record: FinishedRecord = {
      id,
      pid: inv.pid,
      fn: inv.fn,
      arrivalMs: inv.startMs,
      cpuMs: cpuMs ?? 0,
      // Without schedstat the wait is bounded by what was not CPU time.
      waitMs: waitMs ?? Math.max(0, turnaroundMs - (cpuMs ?? 0)),
      turnaroundMs,
      cpuSource,
    };
    if (cpuMs === undefined) this.#counters.invocations_without_cpu++;
    else this.#record(record);
    for (const listener of this.#finishedListeners) listener(record);
    return record;
  }

  #onBurst(sample: BurstSample): void {
    if (this.#explicitFns.has(sample.fn)) {
      this.#counters.bursts_ignored_explicit++;
      return;
    }
    this.#counters.bursts_learned++;
    this.#record({
      fn: sample.fn,
      arrivalMs: sample.atMs - sample.cpuMs,
      cpuMs: sample.cpuMs,
      waitMs: 0,
      turnaroundMs: sample.cpuMs,
    });
  }

  /** Record an invocation measured elsewhere (e.g. the replay's own accounting). */
  recordFinished(record: InvocationRecord): void {
    this.#record(record);
  }

  /** Called after each invocation started (a platform adapter settles temporary sandbox keys from it). */
  onInvocationStart(listener: (invocation: OpenInvocation) => void): void {
    this.#startListeners.push(listener);
  }

  onInvocationEnd(listener: (record: FinishedRecord) => void): void {
    this.#finishedListeners.push(listener);
  }

  /** Called after every policy applied, with the learner's run time (null for a file/initial policy). */
  onPolicy(listener: (policy: Policy, learnMs: number | null) => void): void {
    this.#policyListeners.push(listener);
  }

  /**
   * Whether the daemon does its job yet (`/readyz`): started, so its backend is
   * attached, with a policy in force that came from the policy file or from a
   * pass of the learner. A pass over an empty window counts (a host no function
   * has run on is ready: the default entry is its policy), a failed one does not.
   */
  readiness(): { ready: boolean; reason: string } {
    if (this.#cancel === undefined) return { ready: false, reason: "not started, or stopping" };
    if (this.#source === "file")
      return { ready: true, reason: `policy file ${this.config.policyFile} applied` };
    if (!this.#learnerPassed)
      return {
        ready: false,
        reason: `the learner has not run yet (every ${this.config.learnPeriodMs} ms)`,
      };
    return { ready: true, reason: "learning" };
  }

  policy(): Policy | LearnedPolicy {
    return this.#policy;
  }

  windowCounters(): WindowCounters {
    return this.#window.counters();
  }

  status(): DaemonStatus {
    const b = this.backend.status();
    return {
      mode: b.mode,
      sensor: b.sensor,
      strategy: b.strategy ?? null,
      // The selection's reasons are also handed to the backend that was chosen: say each once.
      reasons: [...new Set([...this.#reasons, ...b.reasons])],
      policy_source: this.#source,
      learn_period_ms: this.config.learnPeriodMs,
      open_invocations: this.#open.size,
      sandboxes: this.#sandboxes.size,
      last_learn_ms: this.#lastLearnMs,
      last_learn_duration_ms: this.#lastLearnDurationMs,
      counters: { ...this.#counters },
      window: { ...this.#window.counters(), size: this.#window.size },
      backend: { ...b.counters },
    };
  }
}
