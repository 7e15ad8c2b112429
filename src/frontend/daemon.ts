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
import type {
  Backend,
  BackendStatus,
  BurstSample,
  InvocationExit,
  InvocationLimits,
} from "../backend/types.js";
import { ownEntry } from "../contracts/function-table.js";
import { emptyPolicy, type Policy } from "../contracts/policy.js";
import { type BurstPage, BurstLog } from "./burst-log.js";
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
import {
  type ProvisionalEntry,
  provisionalEntries,
  sameEntries,
  withProvisional,
} from "./provisional.js";
import { readSchedstat } from "../host/proc-task.js";
import { UtilizationMeter } from "../host/utilization.js";
import { type InvocationRecord, InvocationWindow, type WindowCounters } from "./window.js";

/** Who asked: the peer credentials of the control API's client (the library caller is root). */
export interface Caller {
  uid: number;
}

/** A library caller (the replay, tests): the platform itself. */
export const PLATFORM_CALLER: Caller = { uid: 0 };

export interface OpenInvocation {
  id: string;
  /** The function key: the name as given for root, `uid:name` for other callers. */
  fn: string;
  pid: number;
  /** Who registered it. */
  uid: number;
  startMs: number;
  /** When the backend reported its task's exit (the reaper ends it soon after). */
  exitedMs?: number;
  /** CPU the task used since registration as the kernel counted it at its exit, ms. */
  exitCpuMs?: number;
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
  /** Who registered it. */
  uid: number;
  /**
   * Where cpuMs came from: the client's report (root only), the task's
   * schedstat, the backend's count at the task's exit, or nowhere.
   */
  cpuSource: "client" | "schedstat" | "exit" | "none";
  /** Set when the daemon ended it: its task had exited, or it was open too long. */
  reaped?: "exited" | "max_open";
}

export interface DaemonCounters {
  invocations_started: number;
  invocations_ended: number;
  invocations_refused_open_limit: number;
  /** Refused by a per-uid quota (open invocations, distinct functions). */
  invocations_refused_quota: number;
  /** Ended by the daemon because their task exited without an end request. */
  invocations_reaped_exited: number;
  /** Ended by the daemon because they were open longer than maxOpenSeconds. */
  invocations_reaped_max_open: number;
  /** End requests of callers that are not root whose cpu_ms was ignored. */
  client_cpu_ignored: number;
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
  /** The safety net as the command reports it (guardian, boosting, real-time priority). */
  safety: SafetyState;
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
  /**
   * End invocations nobody ends (their task exited, or open too long) on the
   * clock, every REAP_PERIOD_MS once started. Default true; a simulated
   * daemon that only records finished invocations turns it off, so its clock
   * has only the learner's instants.
   */
  reap?: boolean;
}

/** What the command knows of the safety net; shown in status and /metrics. */
export interface SafetyState {
  /** The guardian runs (levels can be undone if the daemon dies). */
  guardian: boolean;
  /** Tasks are being changed (false while no guardian runs). */
  boosting: boolean;
  /** The daemon's threads are on SCHED_FIFO (false after the RT CPU cap moved them to the fair class). */
  realtime: boolean;
  /** Times the guardian restored every task because the daemon did not answer. */
  guardian_restores: number;
  /** Times the guardian died and the daemon restored every task itself. */
  guardian_deaths: number;
  /** Times the RT CPU cap moved the daemon to the fair class. */
  rt_cap_demotions: number;
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
  "provisionalCapMs",
  "provisionalPeriodMs",
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

/** A per-uid quota refused the request (the API answers 429). */
export class QuotaError extends Error {
  override readonly name = "QuotaError";
  constructor(
    readonly quota: "open" | "functions",
    message: string,
  ) {
    super(message);
  }
}

/** How long after its task exited an invocation waits for its end request before the daemon ends it, ms. */
export const EXIT_GRACE_MS = 1000;
/** How often the daemon looks for invocations to end (exited, open too long), ms. */
export const REAP_PERIOD_MS = 250;
/** Ended-by-the-daemon records kept for a late end request. */
const REAPED_KEPT = 1024;

/**
 * The function key of `name` registered by `uid`: root's (the platform's)
 * names stay as they are, every other caller's are `uid:name`, so no tenant
 * can share a function, and so a prediction, with another (docs/safety.md).
 */
export function functionKey(name: string, uid: number): string {
  return uid === 0 ? name : `${uid}:${name}`;
}

/** `<uid>:<nice>` entries (the uidNiceFloors setting) as a map. */
export function parseUidFloors(entries: readonly string[] | undefined): Map<number, number> {
  const floors = new Map<number, number>();
  for (const entry of entries ?? []) {
    const [uid, nice] = entry.split(":").map(Number);
    if (uid !== undefined && nice !== undefined) floors.set(uid, nice);
  }
  return floors;
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
  /** Open invocations by their task (the backend reports exits by pid). */
  readonly #openByPid = new Map<number, Set<OpenInvocation>>();
  /** Invocations whose task exited, waiting for EXIT_GRACE_MS. */
  readonly #exited = new Set<OpenInvocation>();
  /** Records the daemon ended itself, for a late end request (bounded, oldest dropped). */
  readonly #reaped = new Map<string, FinishedRecord>();
  /** Per uid that is not root: open invocations, and function keys with the time each was last used. */
  readonly #tenants = new Map<number, { open: number; functions: Map<string, number> }>();
  readonly #floors: Map<number, number>;
  readonly #sandboxes = new Map<string, string>(); // cgroup dir → fn
  /** Who declared each sandbox (uid). */
  readonly #declarers = new Map<string, number>();
  #reaper: (() => void) | undefined;
  /** Between start() and stop(): the reaper may run. */
  #running = false;
  readonly #reap: boolean;
  readonly safety: SafetyState = {
    guardian: false,
    boosting: true,
    realtime: false,
    guardian_restores: 0,
    guardian_deaths: 0,
    rt_cap_demotions: 0,
  };
  /** Functions with explicit boundaries: their bursts are not learned twice. */
  readonly #explicitFns = new Set<string>();
  readonly #burstLog = new BurstLog();
  readonly #finishedListeners: ((r: FinishedRecord) => void)[] = [];
  readonly #startListeners: ((inv: OpenInvocation) => void)[] = [];
  readonly #policyListeners: ((p: Policy, learnMs: number | null) => void)[] = [];
  /** The learned (or file) policy. */
  #policy: Policy | LearnedPolicy;
  /** What the backend enforces: #policy with the provisional entries (provisional.ts). */
  #applied: Policy;
  /** Functions without an entry of their own, by their oldest open invocation: provisional.ts. */
  #provisional = new Map<string, ProvisionalEntry>();
  /** Re-decides the provisional entries; runs only while a function without an entry has an invocation open. */
  #provisionalTimer: (() => void) | undefined;
  /** Invocations a simulated host reports by arrival (DaemonFeed): open from arrival to completion. */
  readonly #simulatedOpen = new Map<number, { fn: string; startMs: number }>();
  #nextSimulated = 1;
  #source: "learned" | "file";
  #nextId = 1;
  #cancel: (() => void) | undefined;
  /** Schedules the early learning run for a function the learner has not seen (see start). */
  #armEarlyLearn: (() => void) | undefined;
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
    invocations_refused_quota: 0,
    invocations_reaped_exited: 0,
    invocations_reaped_max_open: 0,
    client_cpu_ignored: 0,
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
    this.#applied = this.#policy;
    this.#floors = parseUidFloors(c.uidNiceFloors);
    this.#reap = opts.reap ?? true;
    this.backend.onBurst((sample) => this.#onBurst(sample));
    this.backend.onExit?.((exit) => this.#onExit(exit));
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
    this.#running = true;
    this.#armReaper();
    this.#apply(this.#policy, null);
    // After a reload: invocations open already get the rule (on its new options).
    for (const inv of this.#open.values()) this.#armProvisional(inv.fn);
    if (this.#source === "file") {
      this.#log(`policy from ${this.config.policyFile}: applied as is, learning off`);
      this.#cancel = () => {};
      return;
    }
    const periodic = this.#clock.every(this.config.learnPeriodMs, () => this.learnNow());
    // A function the policy does not know yet sits on the default entry until the
    // next period: up to 2 s, the first 10 s of a replay's short invocations
    // suffered most from that. Learn again soon after such a function has samples:
    // at the next multiple of newFunctionLearnMs since start. A one-shot timer armed
    // by the record (not an interval polling a flag), so an idle daemon has no
    // timer firing four times a second for nothing.
    const soon = this.config.newFunctionLearnMs;
    const startedAt = this.#clock.now();
    let cancelEarly: (() => void) | undefined;
    this.#armEarlyLearn =
      soon > 0 && soon < this.config.learnPeriodMs
        ? () => {
            if (cancelEarly !== undefined) return;
            const sinceStart = this.#clock.now() - startedAt;
            cancelEarly = this.#clock.after(soon - (sinceStart % soon), () => {
              cancelEarly = undefined;
              if (this.#newFunctionSeen) this.learnNow();
            });
          }
        : undefined;
    this.#cancel = () => {
      periodic();
      cancelEarly?.();
      cancelEarly = undefined;
      this.#armEarlyLearn = undefined;
    };
  }

  /** Stop learning. The backend stays open: its owner closes it. */
  stop(): void {
    this.backend.flushEvents?.(); // no burst is lost at shutdown
    this.#cancel?.();
    this.#cancel = undefined;
    this.#running = false;
    this.#reaper?.();
    this.#reaper = undefined;
    this.#provisionalTimer?.();
    this.#provisionalTimer = undefined;
  }

  /**
   * The reaper ticks every REAP_PERIOD_MS while an invocation is open (or
   * exited and not yet reaped), and not at all otherwise: it has nothing to
   * reap then, and four wake-ups a second were most of an idle daemon's CPU.
   */
  #armReaper(): void {
    if (!this.#reap || !this.#running || this.#reaper !== undefined) return;
    if (this.#open.size === 0 && this.#exited.size === 0) return;
    this.#reaper = this.#clock.every(REAP_PERIOD_MS, () => {
      this.reapNow();
      if (this.#open.size === 0 && this.#exited.size === 0) {
        this.#reaper?.();
        this.#reaper = undefined;
      }
    });
  }

  /** Run the learner on the window now and apply the result. Errors are logged, counted, and keep the last policy. */
  learnNow(): Policy {
    if (this.#source === "file") return this.#applied;
    this.backend.flushEvents?.(); // every burst so far is in the window
    const util = this.#utilization?.();
    const now = this.#clock.now();
    const records = this.#window.records(now);
    if (records.length === 0) {
      this.#learnerPassed = true;
      return this.#applied;
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
    return this.#applied;
  }

  /** Into the window; notes a function the last learning run had not seen. */
  #record(record: InvocationRecord): boolean {
    // Only functions the learner has never seen: one it saw and left on the
    // default entry (too few samples, over the map size) waits for the period,
    // so the early run cannot repeat every tick.
    if (!this.#seenByLearner.has(record.fn)) {
      this.#newFunctionSeen = true;
      this.#armEarlyLearn?.();
    }
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
    // A function the learner now knows loses its provisional entry at once.
    if (this.#source === "file" || !(this.config.provisionalCapMs > 0))
      this.#provisional = new Map();
    else
      for (const fn of [...this.#provisional.keys()])
        if (ownEntry(policy.functions, fn) !== undefined) this.#provisional.delete(fn);
    this.#push(learnMs);
  }

  /** The policy with its provisional entries to the backend (the one path every policy change takes). */
  #push(learnMs: number | null): void {
    const applied = withProvisional(this.#policy, this.#provisional);
    this.#applied = applied;
    this.backend.applyPolicy(applied);
    this.#counters.policies_applied++;
    for (const listener of this.#policyListeners) listener(applied, learnMs);
  }

  /**
   * Start of each open invocation's function without an entry of its own
   * (the oldest one's), or empty when the rule is off or a policy file rules.
   */
  #oldestOpenUnknown(): Map<string, number> {
    const oldest = new Map<string, number>();
    if (this.#source === "file" || !(this.config.provisionalCapMs > 0)) return oldest;
    const note = (fn: string, startMs: number): void => {
      if (ownEntry(this.#policy.functions, fn) !== undefined) return;
      const seen = oldest.get(fn);
      if (seen === undefined || startMs < seen) oldest.set(fn, startMs);
    };
    for (const inv of this.#open.values())
      if (inv.exitedMs === undefined) note(inv.fn, inv.startMs);
    for (const inv of this.#simulatedOpen.values()) note(inv.fn, inv.startMs);
    return oldest;
  }

  /**
   * Re-decides the provisional entries now (docs/learning.md, "Provisional
   * entries") and pushes the policy when they changed. The timer runs while
   * a function without an entry has an invocation open, and stops after.
   */
  decideProvisional(): void {
    const oldest = this.#oldestOpenUnknown();
    const next = provisionalEntries(this.#policy, oldest, this.#clock.now(), {
      capMs: this.config.provisionalCapMs,
      maxFunctions: this.config.maxFunctions,
    });
    if (!sameEntries(next, this.#provisional)) {
      // Not logged: it changes every period while an unseen function runs;
      // /v1/policy shows the entries, marked provisional.
      this.#provisional = next;
      this.#push(null);
    }
    if (oldest.size === 0) {
      this.#provisionalTimer?.();
      this.#provisionalTimer = undefined;
    }
  }

  /** Arms the provisional timer when `fn` has no entry of its own (a new invocation of it opened). */
  #armProvisional(fn: string): void {
    if (!this.#running || this.#provisionalTimer !== undefined) return;
    if (this.#source === "file" || !(this.config.provisionalCapMs > 0)) return;
    if (ownEntry(this.#policy.functions, fn) !== undefined) return;
    this.#provisionalTimer = this.#clock.every(this.config.provisionalPeriodMs, () =>
      this.decideProvisional(),
    );
  }

  /**
   * A simulated host's invocation arrived (DaemonFeed): open for the
   * provisional rule until simulatedEnd. A host's invocations open with
   * startInvocation instead. Returns its handle.
   */
  simulatedArrival(fn: string, atMs: number): number {
    const handle = this.#nextSimulated++;
    this.#simulatedOpen.set(handle, { fn, startMs: atMs });
    this.#armProvisional(fn);
    return handle;
  }

  /** A simulated invocation completed. */
  simulatedEnd(handle: number): void {
    this.#simulatedOpen.delete(handle);
  }

  async addSandbox(
    fn: string,
    cgroupDir: string,
    declarer: Caller = PLATFORM_CALLER,
  ): Promise<void> {
    await this.backend.addSandbox(fn, cgroupDir);
    this.#sandboxes.set(cgroupDir, fn);
    this.#declarers.set(cgroupDir, declarer.uid);
  }

  async removeSandbox(cgroupDir: string): Promise<void> {
    await this.backend.removeSandbox(cgroupDir);
    this.#sandboxes.delete(cgroupDir);
    this.#declarers.delete(cgroupDir);
  }

  /** The uid that declared the sandbox `cgroupDir` (undefined: not declared). */
  sandboxDeclarer(cgroupDir: string): number | undefined {
    return this.#declarers.get(cgroupDir);
  }

  /** Whether `uid` is trusted as the platform: root, or the user the daemon runs as. */
  static isPlatform(uid: number): boolean {
    return uid === 0 || uid === process.getuid?.();
  }

  /** The lowest level an invocation of `uid` may get, or undefined for the platform. */
  floorOf(uid: number): number | undefined {
    if (Daemon.isPlatform(uid)) return undefined;
    return this.#floors.get(uid) ?? this.config.tenantNiceFloor;
  }

  /** Declared sandboxes: cgroup dir → function. */
  sandboxes(): ReadonlyMap<string, string> {
    return this.#sandboxes;
  }

  /**
   * An invocation of `fn` starts in `pid`, registered by `caller`. Returns its
   * id. Throws OpenLimitError past `maxOpenInvocations`, QuotaError past a
   * per-uid quota, and whatever the backend throws; a refused or failed
   * registration leaves nothing behind.
   */
  startInvocation(fn: string, pid: number, caller: Caller = PLATFORM_CALLER): string {
    // Exits and bursts the sensor held back count before this start (a quota, a reused pid).
    this.backend.flushEvents?.();
    const platform = Daemon.isPlatform(caller.uid);
    const key = platform ? fn : functionKey(fn, caller.uid);
    const now = this.#clock.now();
    if (this.#open.size - this.#exited.size >= this.config.maxOpenInvocations) {
      this.#counters.invocations_refused_open_limit++;
      throw new OpenLimitError(
        `${this.#open.size} invocations are open (limit ${this.config.maxOpenInvocations})`,
      );
    }
    const tenant = platform ? undefined : this.#tenant(caller.uid);
    if (tenant !== undefined) this.#checkQuota(caller.uid, tenant, key, now);
    const limits: InvocationLimits = {};
    const floor = this.floorOf(caller.uid);
    if (floor !== undefined) limits.floor = floor;
    if (this.config.boostBudgetMs > 0) limits.boostBudgetNs = this.config.boostBudgetMs * 1e6;
    // The backend first: if it refuses (a full state directory, a task that
    // vanished), nothing was recorded and nothing is open.
    this.backend.startInvocation(key, pid, limits);
    const id = String(this.#nextId++);
    const open: OpenInvocation = {
      id,
      fn: key,
      pid,
      uid: caller.uid,
      startMs: now,
      startCpu: undefined,
    };
    this.#open.set(id, open);
    this.#armReaper();
    let same = this.#openByPid.get(pid);
    if (same === undefined) this.#openByPid.set(pid, (same = new Set()));
    same.add(open);
    if (tenant !== undefined) {
      tenant.open++;
      tenant.functions.set(key, now);
    }
    // The CPU baseline is read once the caller has let the invocation go (a
    // microtask: before any I/O callback). The first /proc read of a warm
    // worker cost 0.25 ms on this host, on the path to the function's first
    // instruction; a few microseconds later the task has not run yet.
    queueMicrotask(() => {
      if (this.#open.get(id) === open) open.startCpu = readSchedstat(pid);
    });
    if (!this.#explicitFns.has(key)) {
      this.#explicitFns.add(key);
      // Bursts seen before the first explicit invocation (a sandbox warming
      // up: runtime start-up, every helper thread's wake-ups) are not this
      // function's invocations; learning from them predicted a 500 ms
      // function at 17 ms in a replay. From now on only invocations count.
      this.#counters.bursts_ignored_explicit += this.#window.forget(key);
    }
    this.#counters.invocations_started++;
    this.#armProvisional(key);
    for (const listener of this.#startListeners) listener(open);
    return id;
  }

  #tenant(uid: number): { open: number; functions: Map<string, number> } {
    let tenant = this.#tenants.get(uid);
    if (tenant === undefined) this.#tenants.set(uid, (tenant = { open: 0, functions: new Map() }));
    return tenant;
  }

  /** Per-uid quotas of a caller that is not root: open invocations and distinct function keys. */
  #checkQuota(
    uid: number,
    tenant: { open: number; functions: Map<string, number> },
    key: string,
    now: number,
  ): void {
    const c = this.config;
    if (tenant.open >= c.uidMaxOpenInvocations) {
      this.#counters.invocations_refused_quota++;
      throw new QuotaError(
        "open",
        `uid ${uid} has ${tenant.open} invocations open (limit ${c.uidMaxOpenInvocations})`,
      );
    }
    if (tenant.functions.has(key) || tenant.functions.size < c.uidMaxFunctions) return;
    // Names unused for the window's function lifetime no longer count.
    const ttl = c.functionTtlSeconds * 1000;
    for (const [k, last] of tenant.functions) if (now - last > ttl) tenant.functions.delete(k);
    if (tenant.functions.size < c.uidMaxFunctions) return;
    this.#counters.invocations_refused_quota++;
    throw new QuotaError(
      "functions",
      `uid ${uid} uses ${tenant.functions.size} function names (limit ${c.uidMaxFunctions} within ${c.functionTtlSeconds} s)`,
    );
  }

  openInvocation(id: string): OpenInvocation | undefined {
    return this.#open.get(id);
  }

  /** A record the daemon ended itself (exited task, open too long), for a late end request. */
  reapedInvocation(id: string): FinishedRecord | undefined {
    return this.#reaped.get(id);
  }

  /**
   * The invocation ended. CPU time: what the client measured (`cpuMs`),
   * trusted from the platform only; else the task's schedstat since the
   * start when it is still alive, else what the backend counted at its exit;
   * without any the invocation is counted but not learned from.
   */
  endInvocation(id: string, report: { cpuMs?: number } = {}): FinishedRecord | undefined {
    return this.#end(id, report, undefined);
  }

  #end(
    id: string,
    report: { cpuMs?: number },
    reaped: FinishedRecord["reaped"],
  ): FinishedRecord | undefined {
    // Its task's exit (and its CPU) and last burst, if the sensor held them back.
    this.backend.flushEvents?.();
    const inv = this.#open.get(id);
    if (inv === undefined) return undefined;
    this.#open.delete(id);
    const same = this.#openByPid.get(inv.pid);
    same?.delete(inv);
    if (same?.size === 0) this.#openByPid.delete(inv.pid);
    // An exited one no longer counted against its uid (see #onExit).
    const tenant = this.#tenants.get(inv.uid);
    if (!this.#exited.delete(inv) && tenant !== undefined) tenant.open--;
    const now = this.#clock.now();
    const turnaroundMs = Math.max(0, (inv.exitedMs ?? now) - inv.startMs);
    const endCpu = inv.exitedMs === undefined ? readSchedstat(inv.pid) : undefined;
    let cpuMs: number | undefined;
    let cpuSource: FinishedRecord["cpuSource"] = "none";
    let waitMs: number | undefined;
    if (endCpu !== undefined && inv.startCpu !== undefined)
      waitMs = endCpu.waitMs - inv.startCpu.waitMs;
    const trusted = Daemon.isPlatform(inv.uid);
    if (report.cpuMs !== undefined && !trusted) this.#counters.client_cpu_ignored++;
    if (report.cpuMs !== undefined && trusted) {
      cpuMs = report.cpuMs;
      cpuSource = "client";
    } else if (endCpu !== undefined && inv.startCpu !== undefined) {
      cpuMs = endCpu.cpuMs - inv.startCpu.cpuMs;
      cpuSource = "schedstat";
    } else if (inv.exitCpuMs !== undefined) {
      cpuMs = inv.exitCpuMs;
      cpuSource = "exit";
    }
    // Nothing to restore for an exited task; a task still running (open too
    // long) goes back as it was.
    this.backend.endInvocation(inv.pid);
    this.#counters.invocations_ended++;
    const record: FinishedRecord = {
      id,
      pid: inv.pid,
      uid: inv.uid,
      fn: inv.fn,
      arrivalMs: inv.startMs,
      cpuMs: cpuMs ?? 0,
      // Without schedstat the wait is bounded by what was not CPU time.
      waitMs: waitMs ?? Math.max(0, turnaroundMs - (cpuMs ?? 0)),
      turnaroundMs,
      cpuSource,
      ...(reaped === undefined ? {} : { reaped }),
    };
    if (cpuMs === undefined) this.#counters.invocations_without_cpu++;
    else this.#record(record);
    if (reaped !== undefined) {
      this.#reaped.set(id, record);
      if (this.#reaped.size > REAPED_KEPT) {
        const oldest = this.#reaped.keys().next().value;
        if (oldest !== undefined) this.#reaped.delete(oldest);
      }
    }
    for (const listener of this.#finishedListeners) listener(record);
    return record;
  }

  /** The backend saw an invocation's task exit: its invocations end after EXIT_GRACE_MS unless ended first. */
  #onExit(exit: InvocationExit): void {
    const same = this.#openByPid.get(exit.pid);
    if (same === undefined) return;
    const now = this.#clock.now();
    for (const inv of same) {
      if (inv.exitedMs !== undefined) continue;
      inv.exitedMs = now;
      if (exit.cpuNs !== undefined) inv.exitCpuMs = exit.cpuNs / 1e6;
      this.#exited.add(inv);
      // Its task is gone: it holds nothing, so it no longer counts against any limit.
      const tenant = this.#tenants.get(inv.uid);
      if (tenant !== undefined) tenant.open--;
    }
  }

  /**
   * Ends what nobody will end: invocations whose task exited more than
   * EXIT_GRACE_MS ago, and those open longer than maxOpenSeconds (their
   * tasks go back as they were). Runs every REAP_PERIOD_MS once started.
   */
  reapNow(): void {
    this.backend.flushEvents?.(); // exits the sensor held back
    const now = this.#clock.now();
    for (const inv of [...this.#exited]) {
      if (now - (inv.exitedMs ?? now) < EXIT_GRACE_MS) continue;
      this.#counters.invocations_reaped_exited++;
      this.#end(inv.id, {}, "exited");
    }
    const maxOpenMs = this.config.maxOpenSeconds * 1000;
    if (maxOpenMs <= 0) return;
    // #open is in start order: stop at the first one still young enough.
    const old: OpenInvocation[] = [];
    for (const inv of this.#open.values()) {
      if (now - inv.startMs <= maxOpenMs) break;
      old.push(inv);
    }
    for (const inv of old) {
      this.#counters.invocations_reaped_max_open++;
      this.#log(
        `invocation ${inv.id} of ${inv.fn} (pid ${inv.pid}, uid ${inv.uid}) was open longer than ${this.config.maxOpenSeconds} s: ended by the daemon`,
      );
      this.#end(inv.id, {}, "max_open");
    }
  }

  #onBurst(sample: BurstSample): void {
    const explicit = this.#explicitFns.has(sample.fn);
    this.#burstLog.add(sample, !explicit);
    if (explicit) {
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

  /** The most recent bursts the backend reported, after sequence number `after` (GET /v1/bursts). */
  bursts(after: number, limit?: number): BurstPage {
    this.backend.flushEvents?.();
    return this.#burstLog.read(after, limit);
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

  /** The policy in force: the learned (or file) one, with provisional entries marked `provisional: true`. */
  policy(): Policy | LearnedPolicy {
    return this.#applied;
  }

  windowCounters(): WindowCounters {
    return this.#window.counters();
  }

  /** The window's records now: what a learning run at this instant reads (the simulator's Gittins tables). */
  windowRecords(): InvocationRecord[] {
    return this.#window.records(this.#clock.now());
  }

  /** Invocations open now (the idle tick waits for none). */
  get openInvocations(): number {
    return this.#open.size;
  }

  status(): DaemonStatus {
    // What the sensor held back counts as handled once read (a client waits for handled >= posted).
    this.backend.flushEvents?.();
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
      safety: { ...this.safety },
      last_learn_ms: this.#lastLearnMs,
      last_learn_duration_ms: this.#lastLearnDurationMs,
      counters: { ...this.#counters },
      window: { ...this.#window.counters(), size: this.#window.size },
      backend: { ...b.counters },
    };
  }
}
