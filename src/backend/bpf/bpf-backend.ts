/**
 * The alps backend (mode "alps", sensor "bpf"): the BPF program decides
 * each tracked task's level, this module feeds it (function ids, policy,
 * sandboxes, registered invocations) and hands its events to the actuator
 * and the learner.
 *
 * Flow: the daemon calls addSandbox / startInvocation / applyPolicy; they
 * write the BPF maps. The kernel posts LEVEL / EXPIRED / WOKE when a task's
 * level must change, BLOCKED when a burst ends, EXITED when a task exits.
 * Events arrive on the Node event loop (uv_poll on the ring buffer's epoll
 * fd); level events go to the actuator, bursts to onBurst listeners.
 */
import { existsSync } from "node:fs";
import {
  BASE_NICE,
  curveForPolicy,
  curveWithStep,
  DEFAULT_YIELD_BOUND,
  dynamicLevel,
  type LevelCurve,
  levelThresholdsMs,
  type Strategy,
  staticLevel,
  yieldLiftMs,
  type SliceRequest,
} from "../../contracts/levels.js";
import {
  emptyPolicy,
  type Policy,
  type PolicyEntry,
  policyEntryFor,
} from "../../contracts/policy.js";
import { Actuator, idleReason, sliceRequestReason } from "../actuator/actuator.js";
import { FnIds } from "./fn-ids.js";
import { ownEntry } from "../../contracts/function-table.js";
import { addonSyscalls, bpfObjectPath, loadAddon } from "../../host/addon.js";
import {
  ALPS_MAX_FNS,
  type AlpsAddon,
  type AlpsEvent,
  type BpfHandle,
  type BpfTaskState,
  COUNTER_NAMES,
  EV_BLOCKED,
  EV_EXITED,
  EV_EXPIRED,
  EV_LEVEL,
  EV_WOKE,
  STRATEGY_CODE,
  STRATEGY_OBSERVE,
  TASK_SEEN_RUNNING,
} from "../../host/addon-types.js";
import { cgroupId, cgroupPids } from "../../host/cgroups.js";
import { boostBudgetOf } from "../budget.js";
import { errorCode } from "../../host/errno.js";
import { otherThreadsOf, threadsOf } from "../../host/proc-stat.js";
import type { Syscalls } from "../../host/syscalls-types.js";
import { createWeightTargets, targetsReason } from "../actuator/weight-targets.js";
import type { TouchedRecorder } from "../guardian/touched-types.js";
import type {
  Backend,
  BackendStatus,
  BurstSample,
  InvocationExit,
  InvocationLimits,
} from "../types.js";

export interface BpfBackendOptions {
  strategy: Strategy;
  /** A fixed band; by default each policy's own (curveForPolicy). */
  curve?: LevelCurve;
  /** Strategy dynamic: nice levels between the levels used (steppedThresholdsMs); default DEFAULT_LEVEL_STEP. */
  levelStep?: number;
  /** Defaults to the addon's syscalls. */
  syscalls?: Syscalls;
  touched?: TouchedRecorder;
  log?: (msg: string) => void;
  /** Also request each function's slice as an EEVDF slice (see Actuator). */
  sliceRequest?: SliceRequest;
  /** The EEVDF slice open invocations not boosted ask for, ns (see Actuator). Default 0: none. */
  unboostedSliceNs?: bigint;
  /** Yields at or above this level run under SCHED_IDLE (see Actuator). */
  idleFrom?: number;
  /** Strategy dynamic: yields end this many predicted runs after an invocation starts (yieldLiftMs; default DEFAULT_YIELD_BOUND, 0 = never). */
  yieldBound?: number;
  /**
   * Also write each level where the scheduler compares it: a sandbox's own
   * cpu cgroup, an invocation's own autogroup (weight-targets.ts). Default true.
   */
  groupWeights?: boolean;
  /** Defaults to native/build/alps.bpf.o. */
  objectPath?: string;
  /**
   * The native addon that opens the BPF object and stamps events: the one
   * built in native/build by default. Unit tests pass a fake to test this
   * module's logic without root or BPF.
   */
  addon?: AlpsAddon;
  /**
   * cfs mode: the same programs and events, bursts counted and reported,
   * but no task's level ever changes. Lets a replay observe CFS at the cost
   * alps itself has, instead of polling /proc.
   */
  observeOnly?: boolean;
}

/** What tests and the bench see beyond the Backend contract. */
export interface BpfBackend extends Backend {
  readonly actuator: Actuator;
  /** The band the kernel's config holds now. */
  curve(): LevelCurve;
  /** The kernel's state of `tid`, or null when it is not tracked. */
  taskState(tid: number): BpfTaskState | null;
  /** The id given to `fn` in the BPF maps (0 = the default entry). */
  fnId(fn: string): number | undefined;
  /** Handle what the kernel posted without a wake-up (Backend.flushEvents; always present here). */
  flushEvents(): void;
  /** Event-to-applied latencies of the most recent level changes, ns. */
  latenciesNs(): number[];
  /** Forget the latencies recorded so far (a bench starts measuring). */
  resetLatencies(): void;
  /** Called with each event-to-applied latency as it happens, ns (the metrics histogram). */
  onLatency(listener: (ns: number) => void): void;
}

const MAX_LATENCY_SAMPLES = 10_000;
/** How often the backend checks the kernel's ring-buffer drop counter, ms. */
const RESYNC_CHECK_MS = 250;
/** How often open invocations are checked against their boost budget and yield bound, ms. */
const BUDGET_CHECK_MS = 100;

/** An invocation the backend follows: its function, the tids it registered, its limits. */
interface TrackedInvocation {
  fn: string;
  tids: Set<number>;
  /** Lowest level its tasks may get (a caller that is not root). */
  floor: number | undefined;
  boostBudgetNs: number | undefined;
  /** Its CPU passed the budget: no boost any more. */
  spent: boolean;
  /**
   * The kernel's count of tracked forks (nr_forks_inherited) before its task
   * was registered: while the count is unchanged at its end, no task of it
   * can have a child in the task map (see endInvocation).
   */
  forksAtStart: bigint;
  /** When its yields end (performance.now() ms; Infinity: never): see yieldLiftMs. */
  liftAtMs: number;
  /** Its yield bound passed: no yield any more. */
  lifted: boolean;
}

const FORKS_COUNTER = COUNTER_NAMES.indexOf("nr_forks_inherited");
const DROPS_COUNTER = COUNTER_NAMES.indexOf("nr_ringbuf_drops");

const msToNs = (ms: number): bigint => BigInt(Math.round(ms * 1e6));

/** Threads of process `pid`; its tid alone when /proc no longer lists it. */
function threadsOrSelf(pid: number): number[] {
  const tids = threadsOf(pid);
  return tids.length > 0 ? tids : [pid];
}

export async function createBpfBackend(opts: BpfBackendOptions): Promise<BpfBackend> {
  if (process.env.ALPS_NO_BPF === "1")
    throw new Error("alps mode unavailable: BPF disabled by ALPS_NO_BPF=1");
  const addon = opts.addon ?? loadedAddon();
  const objectPath = opts.objectPath ?? bpfObjectPath();
  let handle: BpfHandle;
  try {
    handle = addon.openBpf(objectPath);
  } catch (err) {
    throw new Error(
      `alps mode unavailable: BPF load/attach of ${objectPath} failed: ${(err as Error).message}`,
    );
  }
  try {
    return new AlpsBpfBackend(addon, handle, objectPath, opts);
  } catch (err) {
    handle.close();
    throw err;
  }
}

function loadedAddon(): AlpsAddon {
  const loaded = loadAddon();
  if (!loaded.ok) throw new Error(`alps mode unavailable: ${loaded.reason}`);
  return loaded.addon;
}

class AlpsBpfBackend implements BpfBackend {
  readonly mode: "alps" | "cfs";
  readonly sensor = "bpf" as const;
  readonly #observeOnly: boolean;
  readonly actuator: Actuator;
  readonly #addon: AlpsAddon;
  readonly #handle: BpfHandle;
  readonly #strategy: Strategy;
  readonly #yieldBound: number;
  /** A configured fixed curve; without one, each policy's band (curveForPolicy) over this base. */
  readonly #fixedCurve: LevelCurve | undefined;
  readonly #baseCurve: LevelCurve;
  #curve: LevelCurve;
  /** The curve's thresholds, computed once per curve: startInvocation needs them on every invocation. */
  #thresholdsMs: readonly number[];
  readonly #log: (msg: string) => void;
  readonly #reasons: string[];
  readonly #listeners: ((s: BurstSample) => void)[] = [];
  readonly #fnIds = new FnIds(ALPS_MAX_FNS);
  /** Function ids whose policy entry is written (to clear when a policy drops them). */
  #policyIds = new Set<number>();
  #policy: Policy = emptyPolicy();
  /** Slice per function id, ns (for the actuator's slice request). */
  #sliceNs = new Map<number, bigint>();
  readonly #invocations = new Map<number, TrackedInvocation>();
  readonly #exitListeners: ((exit: InvocationExit) => void)[] = [];
  readonly #sandboxes = new Map<string, { cg: bigint; fn: string }>();
  readonly #latencies: number[] = [];
  #latencyNext = 0;
  readonly #latencyListeners: ((ns: number) => void)[] = [];
  readonly #counts = {
    nr_fn_overflow: 0,
    nr_stale_events: 0,
    nr_samples: 0,
    nr_samples_unattributed: 0,
    /** Events read from the ring buffer and handled (the kernel's nr_events counts those posted). */
    nr_events_handled: 0,
    nr_invocations: 0,
    nr_resyncs: 0,
    /** Helper threads a full task map (or another map error) kept out of their invocation. */
    nr_helper_register_errors: 0,
    /** Invocations whose CPU passed their boost budget (boosts withdrawn). */
    nr_budget_spent: 0,
    /** Invocations still yielding when their yield bound passed (yields withdrawn). */
    nr_yields_lifted: 0,
    /** Exits of invocation tasks reported to the daemon. */
    nr_invocation_exits: 0,
  };
  #closed = false;
  /** Ring-buffer drops already answered with a resync. */
  #dropsSeen = 0;
  /** When the drop counter was last read (performance.now()), and the check armed after a batch. */
  #dropsCheckedAt = 0;
  #resyncTimer: NodeJS.Timeout | undefined;
  /** Per batch of events: the last level event of each task (reused, not reallocated). */
  readonly #pendingLevels = new Map<number, AlpsEvent>();
  /** Per batch of events: whether each task was last seen running a burst or asleep. */
  readonly #pendingRunning = new Map<number, boolean>();
  /** Runs while invocations are open (see #armBudgets): an idle daemon has no timer for it. */
  #budgetTimer: NodeJS.Timeout | undefined;

  constructor(addon: AlpsAddon, handle: BpfHandle, objectPath: string, opts: BpfBackendOptions) {
    this.#addon = addon;
    this.#handle = handle;
    this.#observeOnly = opts.observeOnly ?? false;
    this.mode = this.#observeOnly ? "cfs" : "alps";
    this.#strategy = opts.strategy;
    this.#yieldBound = opts.yieldBound ?? DEFAULT_YIELD_BOUND;
    this.#fixedCurve = opts.curve;
    this.#baseCurve = curveWithStep(opts.levelStep);
    this.#curve = opts.curve ?? curveForPolicy(this.#policy, this.#baseCurve);
    this.#thresholdsMs = levelThresholdsMs(this.#curve);
    this.#log = opts.log ?? (() => {});
    this.actuator = new Actuator({
      strategy: opts.strategy,
      syscalls: opts.syscalls ?? addonSyscalls(addon),
      touched: opts.touched,
      curve: opts.curve ?? this.#baseCurve,
      log: this.#log,
      sliceRequest: opts.sliceRequest ?? "off",
      unboostedSliceNs: opts.unboostedSliceNs ?? 0n,
      ...(opts.idleFrom === undefined ? {} : { idleFrom: opts.idleFrom }),
      ...(this.#observeOnly || opts.groupWeights === false
        ? {}
        : {
            targets: createWeightTargets(opts.strategy, opts.idleFrom, opts.touched, this.#log),
          }),
    });
    this.#writeConfig();
    this.#reasons = this.#observeOnly
      ? [
          `BPF programs attached from ${objectPath}`,
          "cfs: observe only (BPF sensor, as alps uses), no task is changed",
        ]
      : [
          `BPF programs attached from ${objectPath}`,
          `strategy ${opts.strategy}`,
          ...(opts.strategy === "dynamic" ? [idleReason(this.actuator.idleFrom)] : []),
          targetsReason(this.actuator.targets),
        ];
    this.#writePolicy(this.#policy);
    handle.startEvents((events) => this.#onEvents(events));
  }

  /**
   * A dropped LEVEL or EXPIRED event would leave a task at a stale level
   * until its next event. The kernel's task map still holds the level it
   * decided, so after any drop the daemon re-applies every tracked task's.
   * Drops only happen while events pour in, so the counter is read after a
   * batch of events, at most every RESYNC_CHECK_MS (a one-shot timer covers
   * the last batch): an idle daemon has no timer firing for it.
   */
  #checkDropsSoon(): void {
    if (this.#closed || this.#resyncTimer !== undefined) return;
    const wait = this.#dropsCheckedAt + RESYNC_CHECK_MS - performance.now();
    if (wait <= 0) {
      this.#resyncAfterDrops();
      return;
    }
    this.#resyncTimer = setTimeout(() => {
      this.#resyncTimer = undefined;
      this.#resyncAfterDrops();
    }, wait);
    this.#resyncTimer.unref();
  }

  /**
   * The budget check runs every BUDGET_CHECK_MS while some invocation is
   * open, and not at all otherwise (it has nothing to check then): ten
   * wake-ups a second would be most of an idle daemon's CPU.
   */
  #armBudgets(): void {
    if (this.#budgetTimer !== undefined || this.#closed) return;
    this.#budgetTimer = setInterval(() => {
      this.#checkBudgets();
      this.#liftYields();
    }, BUDGET_CHECK_MS);
    this.#budgetTimer.unref();
  }

  #disarmBudgetsIfIdle(): void {
    if (this.#budgetTimer === undefined || this.#invocations.size > 0) return;
    clearInterval(this.#budgetTimer);
    this.#budgetTimer = undefined;
  }

  /** The floor for a task of invocation `root` (undefined: none; a spent budget means no boost). */
  #floorOf(root: number): number | undefined {
    const inv = this.#invocations.get(root);
    if (inv === undefined) return undefined;
    return inv.spent ? Math.max(inv.floor ?? BASE_NICE, BASE_NICE) : inv.floor;
  }

  /** `level` as invocation `root` may have it now: never a yield once its bound passed. */
  #bounded(root: number, level: number): number {
    return level > BASE_NICE && this.#invocations.get(root)?.lifted === true ? BASE_NICE : level;
  }

  /**
   * An invocation's yields are bounded in time (yieldLiftMs): every
   * BUDGET_CHECK_MS, each invocation whose bound passed is marked lifted and
   * its yielding tasks go to base. The kernel keeps posting levels from its
   * predicted remaining time; #bounded caps every one applied from then on.
   */
  #liftYields(): void {
    if (this.#closed) return;
    const now = performance.now();
    for (const [root, inv] of this.#invocations) {
      if (inv.lifted || now < inv.liftAtMs) continue;
      inv.lifted = true;
      let yielding = false;
      for (const tid of this.#tasksOf(root, inv)) {
        const level = this.actuator.appliedLevel(tid);
        if (level === undefined || level <= BASE_NICE) continue;
        yielding = true;
        this.actuator.apply(tid, BASE_NICE, 0n, root, this.#floorOf(root));
      }
      if (yielding) this.#counts.nr_yields_lifted++;
    }
  }

  /**
   * A boost has a CPU budget per invocation, not per burst: a task that
   * blocks briefly before its slice ends would otherwise start a fresh
   * boosted burst every time and hold the boost for as long as it likes.
   * Every BUDGET_CHECK_MS the CPU of each boosted invocation's registered
   * tasks (the kernel's total since registration) is compared with its
   * budget (never less than twice its function's predicted run, so a long
   * function keeps the boost SRPT gives it near its end); past it, its
   * tasks are held at or above base from then on.
   */
  #checkBudgets(): void {
    if (this.#closed) return;
    for (const [root, inv] of this.#invocations) {
      if (inv.boostBudgetNs === undefined || inv.spent) continue;
      let boosted = false;
      for (const tid of inv.tids)
        if ((this.actuator.appliedLevel(tid) ?? BASE_NICE) < BASE_NICE) boosted = true;
      if (!boosted) continue;
      let used = 0;
      for (const tid of inv.tids) used += Number(this.#handle.readTask(tid)?.totalNs ?? 0n);
      if (used <= boostBudgetOf(inv.boostBudgetNs, this.#policy, inv.fn)) continue;
      inv.spent = true;
      this.#counts.nr_budget_spent++;
      const floor = this.#floorOf(root);
      for (const tid of this.#tasksOf(root, inv)) {
        const level = this.actuator.appliedLevel(tid);
        if (level !== undefined && level < BASE_NICE)
          this.actuator.apply(tid, level, 0n, root, floor);
      }
    }
  }

  /**
   * The kernel computes every level from this config on the task's next
   * runtime update, so a new band takes effect for running tasks too.
   */
  #writeConfig(): void {
    this.#handle.setConfig({
      strategy: this.#observeOnly ? STRATEGY_OBSERVE : STRATEGY_CODE[this.#strategy],
      niceMin: this.#curve.niceMin,
      niceMax: this.#curve.niceMax,
      baseNice: BASE_NICE,
      thresholdsNs: this.#thresholdsMs.map(msToNs),
    });
  }

  /** The band the kernel uses now. */
  curve(): LevelCurve {
    return { ...this.#curve };
  }

  #resyncAfterDrops(): void {
    if (this.#closed) return;
    this.#dropsCheckedAt = performance.now();
    const drops = Number(this.#handle.counter(DROPS_COUNTER));
    if (drops <= this.#dropsSeen) return;
    let reapplied = 0;
    for (const tid of this.#handle.taskIds()) {
      const state = this.#handle.readTask(tid);
      if (state === null) continue;
      const level = this.#bounded(state.root, state.level);
      if (this.actuator.appliedLevel(tid) === level) continue;
      if (level === BASE_NICE && this.actuator.appliedLevel(tid) === undefined) continue;
      if (
        this.actuator.apply(
          tid,
          level,
          this.#sliceFor(state.fn),
          state.root,
          this.#floorOf(state.root),
        )
      )
        reapplied++;
    }
    this.#counts.nr_resyncs++;
    this.#log(
      `bpf: the ring buffer dropped ${drops - this.#dropsSeen} event(s); re-applied the kernel's level to ${reapplied} task(s) from the task map`,
    );
    this.#dropsSeen = drops;
  }

  fnId(fn: string): number | undefined {
    return this.#fnIds.idOf(fn);
  }

  /** The slice of function id `id`, ns: its policy entry's, else the default entry's. */
  #sliceFor(id: number): bigint {
    return this.#sliceNs.get(id) ?? this.#sliceNs.get(0) ?? 0n;
  }

  taskState(tid: number): BpfTaskState | null {
    return this.#handle.readTask(tid);
  }

  latenciesNs(): number[] {
    return [...this.#latencies];
  }

  onLatency(listener: (ns: number) => void): void {
    this.#latencyListeners.push(listener);
  }

  resetLatencies(): void {
    this.#latencies.length = 0;
    this.#latencyNext = 0;
  }

  /**
   * The id of `fn` (FnIds.ensure); an overflow to the default entry is
   * counted and logged, and a function the policy already names gets its
   * entry written as soon as it has an id.
   */
  #ensureFn(fn: string): number {
    const { id, added } = this.#fnIds.ensure(fn);
    if (!added) return id;
    if (id === 0) {
      this.#counts.nr_fn_overflow++;
      this.#log(
        `bpf: more than ${ALPS_MAX_FNS - 1} functions at once; ${fn} uses the default policy entry`,
      );
      return 0;
    }
    // Own entries only: a function named "constructor" must not find Object's.
    const entry = ownEntry(this.#policy.functions, fn);
    if (entry !== undefined) this.#writeEntry(id, entry);
    return id;
  }

  #staticLevelOf(entry: PolicyEntry): number {
    return staticLevel(entry.priority, 0, Number.POSITIVE_INFINITY, this.#curve);
  }

  #writeEntry(id: number, entry: PolicyEntry): void {
    const sliceNs = msToNs(entry.slice_ms);
    this.#handle.setPolicy(id, {
      predictedNs: msToNs(entry.predicted_ms),
      sliceNs,
      staticLevel: this.#staticLevelOf(entry),
    });
    this.#sliceNs.set(id, sliceNs);
  }

  #writePolicy(policy: Policy): void {
    // First, so the functions this policy brings can take the ids others gave back.
    this.#forgetUnused(policy);
    this.#writeEntry(0, policy.default);
    const written = new Set<number>();
    for (const [fn, entry] of Object.entries(policy.functions)) {
      const id = this.#ensureFn(fn);
      if (id === 0) continue; // overflow: counted in #ensureFn, governed by the default
      this.#writeEntry(id, entry);
      written.add(id);
    }
    for (const id of this.#policyIds) {
      if (!written.has(id)) {
        this.#handle.clearPolicy(id);
        this.#sliceNs.delete(id);
      }
    }
    this.#policyIds = written;
  }

  /**
   * Gives back the ids of functions nothing refers to any more: not in the
   * policy, no sandbox, no open invocation, no task in the kernel's map. The
   * window forgets functions unseen for a while, so over a long-running
   * daemon's life far more than ALPS_MAX_FNS - 1 functions come and go; without
   * this, every one after that ran on the default entry. A function on entry
   * 0 (overflow) is forgotten too, so it gets an id when it is seen again.
   */
  #forgetUnused(policy: Policy): void {
    const held = new Set<string>();
    for (const sandbox of this.#sandboxes.values()) held.add(sandbox.fn);
    for (const inv of this.#invocations.values()) held.add(inv.fn);
    this.#fnIds.forgetUnused(
      (fn) => Object.hasOwn(policy.functions, fn) || held.has(fn),
      // Tasks still tracked (a sandbox's leftovers, a child that outlived its
      // invocation) carry the id: reusing it would give them another function's
      // level.
      () => {
        const tracked = new Set<number>();
        for (const tid of this.#handle.taskIds()) {
          const state = this.#handle.readTask(tid);
          if (state !== null) tracked.add(state.fn);
        }
        return tracked;
      },
    );
  }

  applyPolicy(policy: Policy): void {
    this.#policy = policy;
    if (this.#fixedCurve === undefined) {
      const curve = curveForPolicy(policy, this.#baseCurve);
      if (curve.loMs !== this.#curve.loMs || curve.hiMs !== this.#curve.hiMs) {
        this.#curve = curve;
        this.#thresholdsMs = levelThresholdsMs(curve);
        this.#writeConfig();
      }
    }
    this.#writePolicy(policy);
  }

  /**
   * The level a fresh burst of `fn` (map id `id`) starts at: what the kernel computes for
   * used = 0. A function past the map size (id 0) is governed by the default entry in the
   * kernel even when the policy names it, so it starts from the default too.
   */
  #initialLevel(fn: string, id: number): number {
    if (this.#observeOnly) return BASE_NICE;
    const entry = id === 0 ? this.#policy.default : policyEntryFor(this.#policy, fn);
    if (this.#strategy === "dynamic")
      return dynamicLevel(entry.predicted_ms, 0, entry.slice_ms, this.#curve, this.#thresholdsMs);
    return staticLevel(entry.priority, 0, entry.slice_ms, this.#curve);
  }

  /** How long an invocation of `fn` (map id `id`) may yield, ms (yieldLiftMs; Infinity: no bound). */
  #yieldLiftMs(fn: string, id: number): number {
    if (this.#strategy !== "dynamic" || this.#yieldBound === 0) return Number.POSITIVE_INFINITY;
    const entry = id === 0 ? this.#policy.default : policyEntryFor(this.#policy, fn);
    return yieldLiftMs(this.#yieldBound, entry.predicted_ms);
  }

  async addSandbox(fn: string, cgroupPath: string): Promise<void> {
    const id = this.#ensureFn(fn);
    const cg = cgroupId(cgroupPath);
    this.#handle.setCgroup(cg, id);
    this.#sandboxes.set(cgroupPath, { cg, fn });
  }

  async removeSandbox(cgroupPath: string): Promise<void> {
    const cg = this.#sandboxes.get(cgroupPath)?.cg;
    if (cg === undefined) return;
    this.#handle.deleteCgroup(cg);
    this.#sandboxes.delete(cgroupPath);
    let pids: number[] = [];
    try {
      pids = cgroupPids(cgroupPath);
    } catch (err) {
      if (errorCode(err) !== "ENOENT") throw err; // directory already removed: nothing left inside
    }
    for (const pid of pids) for (const tid of threadsOrSelf(pid)) this.#release(tid);
  }

  startInvocation(fn: string, pid: number, limits: InvocationLimits = {}): void {
    if (!Number.isInteger(pid) || pid <= 0)
      throw new RangeError(`pid must be a positive integer, got ${pid}`);
    // What the kernel holds back (an earlier burst's end, an exit) comes
    // first: it is older than this registration.
    this.flushEvents();
    const id = this.#ensureFn(fn);
    const level = this.#initialLevel(fn, id);
    const sliceNs = this.#sliceFor(id);
    const { floor, boostBudgetNs } = limits;
    // Read before the task is registered: a fork from then on is counted after
    // it (see endInvocation). First, so a failed read leaves nothing recorded.
    const forksAtStart = this.#handle.counter(FORKS_COUNTER);
    // A task the record cannot take is not changed, and then the invocation
    // is refused (RecordError) before anything is registered.
    if (level !== BASE_NICE && (floor === undefined || Math.max(level, floor) !== BASE_NICE))
      this.actuator.ensureMarked(pid);
    const tids = new Set<number>();
    const inv: TrackedInvocation = {
      fn,
      tids,
      floor,
      boostBudgetNs,
      spent: false,
      forksAtStart,
      liftAtMs: performance.now() + this.#yieldLiftMs(fn, id),
      lifted: false,
    };
    // The invocation's own thread runs the function from its next
    // instruction: it gets its level now. Applied first, then registered
    // with that level: a level the kernel posts after registration is newer
    // and is applied after this.
    if (this.actuator.apply(pid, level, sliceNs, pid, floor) || level === BASE_NICE) {
      // A task its group counts as running: the kernel reports its burst's
      // end at once (otherwise that sample waits for the next wake-up).
      const flags = this.actuator.countsRunning(pid) ? TASK_SEEN_RUNNING : 0;
      this.#handle.registerTask(pid, id, level, pid, flags);
      tids.add(pid);
    }
    this.#invocations.set(pid, inv);
    this.#armBudgets();
    this.#counts.nr_invocations++;
    if (tids.size === 0 && !existsSync(`/proc/${pid}`)) {
      // Gone before it was registered: no exit event will come; say it now,
      // once the daemon has the invocation open.
      queueMicrotask(() => {
        if (this.#invocations.get(pid) !== inv) return;
        this.#counts.nr_invocation_exits++;
        for (const l of this.#exitListeners) l({ pid, cpuNs: undefined });
      });
    }
    // Its other threads (a runtime's helpers, asleep nearly always) join
    // once the caller has let the invocation go (a microtask: before any
    // I/O callback, so before anything can end it), at the level they have
    // now; the kernel posts theirs when they next wake or run (WOKE /
    // LEVEL). On the path to the first instruction every syscall counts:
    // listing and registering a Node worker's 10 helpers there, and
    // applying levels to them, cost 0.3-0.6 ms per invocation on this host.
    // Read after the registration: a thread created from then on is the
    // kernel's to inherit, one created before is listed here.
    queueMicrotask(() => {
      if (this.#closed || this.#invocations.get(pid) !== inv) return; // ended (or restarted) already
      for (const tid of otherThreadsOf(pid)) {
        if (tids.has(tid)) continue;
        try {
          this.#handle.registerTask(tid, id, this.actuator.appliedLevel(tid) ?? BASE_NICE, pid);
        } catch (err) {
          // Nobody awaits this: an error is counted and logged here, never thrown
          // out of a microtask (that would end the daemon).
          this.#counts.nr_helper_register_errors++;
          this.#log(
            `bpf: helper thread ${tid} of invocation ${pid} not registered: ${(err as Error).message}`,
          );
          continue;
        }
        tids.add(tid);
      }
    });
  }

  endInvocation(pid: number): void {
    // The invocation's last burst (its sample) before its tasks are released.
    this.flushEvents();
    const inv = this.#invocations.get(pid);
    this.#invocations.delete(pid);
    this.#disarmBudgetsIfIdle();
    for (const tid of this.#tasksOf(pid, inv)) this.#release(tid);
  }

  /**
   * Every task of invocation `root`: the tids it registered, and the
   * children and threads it created, which carry its root tid in the task
   * map. Finding those walks the whole map (every bucket, in the kernel: 30
   * µs of an invocation's cost at 50/s, development run), so the walk is
   * skipped when the kernel tracked no fork at all since this invocation's
   * task was registered: then none of its tasks has a child there (a warm
   * worker, the common case). The kernel counts a tracked fork after the
   * child is in the map, and a child forked while this runs was as likely
   * to be missed by the walk. Unknown invocation: always the walk.
   */
  #tasksOf(root: number, inv: TrackedInvocation | undefined): Set<number> {
    const tids = new Set<number>(inv?.tids ?? []);
    if (inv === undefined || this.#handle.counter(FORKS_COUNTER) !== inv.forksAtStart)
      for (const tid of this.#handle.tasksOfRoot(root)) tids.add(tid);
    return tids;
  }

  /** Stop tracking `tid`, then restore it: a stale event finds it untracked and is ignored. */
  #release(tid: number): void {
    this.#handle.unregisterTask(tid);
    this.actuator.restore(tid);
  }

  onBurst(listener: (sample: BurstSample) => void): void {
    this.#listeners.push(listener);
  }

  onExit(listener: (exit: InvocationExit) => void): void {
    this.#exitListeners.push(listener);
  }

  suspend(): void {
    this.actuator.suspend();
  }

  resume(): void {
    // After a suspension resume applies what was asked meanwhile; after the
    // guardian's restore (no suspension) everything is asked for again.
    if (!this.actuator.resume()) this.actuator.reapply();
    // Levels the kernel decided meanwhile (events are applied as they come,
    // but a stopped daemon applied none): take them from the task map.
    for (const tid of this.#handle.taskIds()) {
      const state = this.#handle.readTask(tid);
      if (state === null) continue;
      const level = this.#bounded(state.root, state.level);
      if (this.actuator.appliedLevel(tid) === level) continue;
      if (level === BASE_NICE && this.actuator.appliedLevel(tid) === undefined) continue;
      const sliceNs = this.#sliceNs.get(state.fn) ?? this.#sliceNs.get(0) ?? 0n;
      this.actuator.apply(tid, level, sliceNs, state.root, this.#floorOf(state.root));
    }
  }

  /**
   * Read what the kernel posted without waking the daemon (burst samples and
   * exits of tasks it does not count as running, alps.bpf.c post_event) and
   * handle it now, with anything else still unread. Cheap when there is
   * nothing: libbpf compares two positions of the mapped ring, no syscall.
   */
  flushEvents(): void {
    if (this.#closed) return;
    const events = this.#handle.drainEvents();
    if (events.length > 0) this.#onEvents(events);
  }

  /**
   * One batch from the ring buffer. A task's level events in one batch are
   * applied once, at the last level posted: the earlier ones would have been
   * overwritten microseconds later (a burst crossing several thresholds
   * between two reads, a block and a wake-up). That is one task-map read and
   * one syscall per task instead of per event.
   */
  #onEvents(events: AlpsEvent[]): void {
    this.#counts.nr_events_handled += events.length;
    const pending = this.#pendingLevels;
    const running = this.#pendingRunning;
    for (const e of events) {
      switch (e.type) {
        case EV_LEVEL:
        case EV_EXPIRED:
        case EV_WOKE:
          // Re-inserted so the batch applies tasks in the order of their last event.
          pending.delete(e.tid);
          pending.set(e.tid, e);
          // A level posted with no CPU in its burst is the next burst's,
          // posted as the task blocked (or inherited at fork): it says
          // nothing about whether the task runs. Any other one is posted
          // from a running burst, and a wake-up starts one.
          if (e.type === EV_WOKE || e.cpuNs > 0) running.set(e.tid, true);
          break;
        case EV_BLOCKED:
          running.set(e.tid, false);
          this.#sample(e);
          break;
        case EV_EXITED:
          pending.delete(e.tid);
          running.delete(e.tid);
          this.actuator.forget(e.tid);
          if (this.#invocations.has(e.tid)) {
            this.#counts.nr_invocation_exits++;
            for (const l of this.#exitListeners) l({ pid: e.tid, cpuNs: e.cpuNs });
          }
          break;
      }
    }
    // Whether each task runs first, then its level: a task that blocked and
    // was given its next burst's boost in one batch never counts as running
    // at that boost, so its group is not written twice. A task seen for the
    // first time joins with its level, then says whether it runs.
    for (const [tid, runs] of running) if (this.actuator.running(tid, runs)) running.delete(tid);
    for (const e of pending.values()) this.#applyEvent(e);
    pending.clear();
    for (const [tid, runs] of running) this.actuator.running(tid, runs);
    running.clear();
    this.#checkDropsSoon();
  }

  #applyEvent(e: AlpsEvent): void {
    const state = this.#handle.readTask(e.tid);
    // Unregistered (invocation ended, task exited) since the kernel posted it.
    if (state === null) {
      this.#counts.nr_stale_events++;
      return;
    }
    if (
      this.actuator.apply(
        e.tid,
        this.#bounded(state.root, e.level),
        this.#sliceFor(e.fn),
        state.root,
        this.#floorOf(state.root),
      )
    ) {
      const latency = Number(this.#addon.monotonicNs()) - e.tsNs;
      this.#latencies[this.#latencyNext] = latency;
      this.#latencyNext = (this.#latencyNext + 1) % MAX_LATENCY_SAMPLES;
      for (const l of this.#latencyListeners) l(latency);
    }
  }

  #sample(e: AlpsEvent): void {
    if (e.cpuNs <= 0 || this.#listeners.length === 0) return;
    const fn = this.#fnIds.nameOf(e.fn);
    if (fn === undefined) {
      this.#counts.nr_samples_unattributed++;
      return;
    }
    // The kernel's monotonic stamp, moved onto the wall clock the daemon uses.
    const atMs = Date.now() - (Number(this.#addon.monotonicNs()) - e.tsNs) / 1e6;
    const sample: BurstSample = {
      fn,
      tid: e.tid,
      cpuMs: e.cpuNs / 1e6,
      atMs,
      monoMs: e.tsNs / 1e6,
    };
    this.#counts.nr_samples++;
    for (const l of this.#listeners) l(sample);
  }

  status(): BackendStatus {
    const counters: Record<string, number> = {};
    if (!this.#closed) {
      const values = this.#handle.counters();
      COUNTER_NAMES.forEach((name, i) => {
        counters[name] = Number(values[i] ?? 0n);
      });
    }
    for (const [k, v] of Object.entries(this.#counts)) counters[k] = v;
    counters.nr_applied = this.actuator.counters.applied;
    counters.nr_restored = this.actuator.counters.restored;
    counters.nr_task_gone = this.actuator.counters.gone;
    counters.nr_apply_errors = this.actuator.counters.errors;
    counters.nr_record_errors = this.actuator.counters.recordErrors;
    counters.nr_floored = this.actuator.counters.floored;
    const targets = this.actuator.targets?.counters;
    if (targets !== undefined)
      for (const [k, v] of Object.entries(targets)) counters[`nr_${k}`] = v;
    const reasons = this.#observeOnly
      ? [...this.#reasons]
      : [...this.#reasons, sliceRequestReason(this.actuator)];
    return { mode: this.mode, sensor: this.sensor, strategy: this.#strategy, reasons, counters };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // No sample is lost at shutdown: what waits in the ring buffer is handed over first.
    this.flushEvents();
    this.#closed = true;
    clearTimeout(this.#resyncTimer);
    clearInterval(this.#budgetTimer);
    // Stop events first so nothing re-boosts a task after it is restored.
    this.#handle.stopEvents();
    for (const tid of this.#handle.taskIds()) this.#handle.unregisterTask(tid);
    this.actuator.restoreAll();
    this.#handle.close();
  }
}
