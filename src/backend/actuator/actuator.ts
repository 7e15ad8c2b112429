/**
 * The actuator applies the levels the BPF program decides: one syscall on
 * the tid per LEVEL/EXPIRED/WOKE event, and the restore to the original policy and nice
 * when an invocation ends or the daemon closes.
 *
 * Levels are fair-class nice values (docs/architecture.md, "Levels"). A boost is applied with
 * sched_setattr(SCHED_OTHER, nice, SCHED_FLAG_RESET_ON_FORK): the reset flag
 * makes children start at nice 0 (they earn their own boost from the BPF
 * program). The same call may also ask for an EEVDF slice in sched_runtime
 * where the kernel honours it (Linux >= 6.12; probed on first use by reading
 * it back), as `sliceRequest` says:
 * - `off`: no request, the kernel's default slice.
 * - `function`: the function's own slice. An EEVDF slice is not alps's boost
 *   window but a protection from preemption: on this host a long function
 *   holding a 100 ms request kept the core for ~60 ms after a far more
 *   boosted short one woke (see test/kernel/bpf-inherit.test.ts).
 * - `shortest`: the kernel's shortest slice (0.1 ms) on every boost. EEVDF
 *   picks the eligible entity with the earliest virtual deadline (its
 *   vruntime plus its slice over its weight), and a waking task whose slice
 *   is shorter than the running one's may end that one's protected slice
 *   (PREEMPT_SHORT); a group's slice is its shortest queued member's. It is
 *   meant for the boosted starts that wait a tick (4 ms at HZ=250) on the
 *   run queue with their weight written (docs/results.md, "A boosted start
 *   waits on the run queue"). Any task may ask this for itself,
 *   unprivileged: alps grants nothing a tenant could not set on its own
 *   task.
 * An open invocation alps does not boost (a yield outside SCHED_IDLE, whose
 * slice the kernel does not take, or one back at its base level past its
 * boost) asks for `unboostedSliceNs` (0: none, the kernel's default). A
 * long function starved by boosted ones is owed service (EEVDF lag, in
 * virtual time) while it waits, and EEVDF pays it back by picking it while
 * its virtual deadline (vruntime plus slice over weight) is the earliest:
 * with the default slice (1.4 ms on 2 CPUs) that often lands as a boosted
 * start wakes, and the start waits a tick or more (seen with a probe of the
 * scheduler's entities: docs/results.md, "Long slices for what alps does
 * not boost"). A longer slice puts that deadline later, so the boosted
 * start, whose slice is the shortest, goes first; the weight, and so the
 * share of the CPU, does not change. Too long a slice costs the runs of
 * short invocations more than it saves at their starts (measured there:
 * the default, DEFAULT_UNBOOSTED_SLICE_MS, is the compromise). Any task
 * may ask either slice for itself. An ended invocation asks for nothing.
 * Under strategy dynamic the deepest yields (from `idleFrom`, default
 * DEFAULT_IDLE_FROM) are applied as SCHED_IDLE instead: a weight of 3, below
 * anything a nice level gives (the why is at DEFAULT_IDLE_FROM). Strategy
 * `rt` (comparison only) applies the level as a SCHED_FIFO priority instead,
 * also with RESET_ON_FORK.
 *
 * Every tid is marked in the touched-task record before its first change
 * and released after it is restored. A task that vanished (ESRCH) is normal:
 * counted, released, not an error. A tid the record cannot take (a full
 * state directory) is left unchanged: counted, logged at most every 10 s.
 *
 * "Base" (BASE_NICE, EXPIRED, an ended invocation) means the task as alps
 * found it: the policy and nice the record noted at its first mark, not
 * nice 0. A floor (a caller that is not root) keeps every level at or above
 * it; under a floor of 0 or more (no boost granted) such a task is never
 * given a level below the nice it had itself (an unprivileged user cannot
 * lower its own nice either), and SCHED_IDLE it set itself stays.
 *
 * What alps last asked the kernel for is kept per task it changed (#asked),
 * a task back at base past its boost included: the guardian's restore and a
 * suspension put every task back as found, so what alps asked must be asked
 * again, not only the levels. While suspended (no guardian runs) nothing is
 * changed; the levels asked for are kept and applied on resume.
 */
import {
  BASE_NICE,
  DEFAULT_CURVE,
  DEFAULT_IDLE_FROM,
  type LevelCurve,
  runsIdle,
  SLICE_BOUNDS_MS,
  type SliceRequest,
  sliceNs,
  type Strategy,
} from "../../contracts/levels.js";
import { RecordError } from "../../errors.js";
import { errorCode } from "../../host/errno.js";
import { createMemoryTouched } from "../guardian/touched-memory.js";
import { originalAttr, putTaskBack } from "../guardian/restore.js";
import {
  baseAttr,
  SCHED_BATCH,
  SCHED_FIFO,
  SCHED_FLAG_RESET_ON_FORK,
  SCHED_IDLE,
  SCHED_OTHER,
  type SchedAttr,
  type Syscalls,
} from "../../host/syscalls-types.js";
import type { TouchedRecorder } from "../guardian/touched-types.js";
import type { WeightTargets } from "./weight-targets.js";

/** The kernel clamps a fair-class slice request to [0.1 ms, 100 ms] (SLICE_BOUNDS_MS). */
const SLICE_MIN_NS = sliceNs(SLICE_BOUNDS_MS.min);
const SLICE_MAX_NS = sliceNs(SLICE_BOUNDS_MS.max);
/** Highest SCHED_FIFO priority strategy `rt` gives a function (the daemon runs above it). */
export const DEFAULT_RT_MAX_PRIORITY = 40;

/** How often a failing record is logged, ms. */
const RECORD_LOG_MS = 10_000;

/** What alps asked the kernel for on one task (see Actuator.#asked). */
interface Asked {
  level: number;
  /** The slice the caller gave with the level (its request follows `sliceRequest`). */
  sliceNs: bigint;
  attr: SchedAttr;
  /** The invocation's root pid (0: found through a sandbox's cgroup). */
  root: number;
}

export interface ActuatorCounters {
  /** Levels applied (boosts and drops). */
  applied: number;
  /** Tasks put back as they were (their original policy and nice). */
  restored: number;
  /** Tasks that were gone when a change was attempted (ESRCH). */
  gone: number;
  /** Syscalls refused for another reason (logged). */
  errors: number;
  /** Changes not made because the touched-task record could not take the tid. */
  recordErrors: number;
  /** Levels raised to an invocation's floor (a caller that is not root). */
  floored: number;
}

export interface ActuatorOptions {
  strategy: Strategy;
  syscalls: Syscalls;
  touched?: TouchedRecorder;
  curve?: LevelCurve;
  /** Strategy rt: the priority of the most boosted level. */
  rtMaxPriority?: number;
  log?: (msg: string) => void;
  /** Which EEVDF slice a boost asks for (SliceRequest). Default `off`. */
  sliceRequest?: SliceRequest;
  /** The EEVDF slice an open invocation not boosted asks for, ns (0: none, the default). */
  unboostedSliceNs?: bigint;
  /** Strategy dynamic: yields at or above this level run under SCHED_IDLE (runsIdle). */
  idleFrom?: number;
  /**
   * Where a level must also be written so that the scheduler compares it
   * with the task's competitors (a sandbox's cpu cgroup, an autogroup; see
   * weight-targets.ts). Without it, only the task's own nice is set.
   */
  targets?: WeightTargets;
}

export class Actuator {
  readonly counters: ActuatorCounters = {
    applied: 0,
    restored: 0,
    gone: 0,
    errors: 0,
    recordErrors: 0,
    floored: 0,
  };
  readonly touched: TouchedRecorder;
  readonly #strategy: Strategy;
  readonly #syscalls: Syscalls;
  readonly #curve: LevelCurve;
  readonly #rtMax: number;
  readonly #log: (msg: string) => void;
  readonly #sliceRequest: SliceRequest;
  readonly #unboostedSliceNs: bigint;
  readonly #idleFrom: number;
  readonly #targets: WeightTargets | undefined;
  /** undefined until the first slice request tells whether the kernel keeps it. */
  #sliceSupported: boolean | undefined;
  /**
   * What alps last asked the kernel for, per tid it changed and has not put
   * back: the level, the slice the caller gave with it, the attr that did it.
   * Level BASE_NICE: back at base while its invocation is open (past its
   * boost), which may carry the unboosted slice. Absent: as found.
   */
  readonly #asked = new Map<number, Asked>();
  /** Tids marked in the touched record and not yet released. */
  readonly #marked = new Set<number>();
  /** Suspended: no change is made; the levels asked for wait here. */
  #held = false;
  readonly #desired = new Map<
    number,
    Omit<Asked, "attr"> & {
      floor?: number;
      /** A level back at base while held: the boost asked before it (resume decides from it). */
      boost?: { level: number; floor?: number };
    }
  >();
  #recordLoggedMs = Number.NEGATIVE_INFINITY;
  #recordErrorsLogged = 0;

  constructor(opts: ActuatorOptions) {
    this.#strategy = opts.strategy;
    this.#syscalls = opts.syscalls;
    this.touched = opts.touched ?? createMemoryTouched();
    this.#curve = opts.curve ?? DEFAULT_CURVE;
    this.#rtMax = opts.rtMaxPriority ?? DEFAULT_RT_MAX_PRIORITY;
    this.#log = opts.log ?? (() => {});
    this.#sliceRequest = opts.sliceRequest ?? "off";
    this.#unboostedSliceNs = clampSliceNs(opts.unboostedSliceNs ?? 0n);
    this.#idleFrom = opts.idleFrom ?? DEFAULT_IDLE_FROM;
    this.#targets = opts.targets;
  }

  /** Where levels go beyond the task's own nice (undefined: the task only). */
  get targets(): WeightTargets | undefined {
    return this.#targets;
  }

  /** The level from which strategy dynamic's yields run under SCHED_IDLE. */
  get idleFrom(): number {
    return this.#idleFrom;
  }

  /** Which EEVDF slice boosts ask for (the `eevdfSlice` setting). */
  get sliceRequest(): SliceRequest {
    return this.#sliceRequest;
  }

  /** The EEVDF slice open invocations not boosted ask for, ns (0: none; the `eevdfUnboostedSliceMs` setting). */
  get unboostedSliceNs(): bigint {
    return this.#unboostedSliceNs;
  }

  /** Whether the kernel keeps a fair-class slice request (undefined: not probed yet). */
  get sliceSupported(): boolean | undefined {
    return this.#sliceSupported;
  }

  /** The level last applied to `tid`, or undefined when it is at base. */
  appliedLevel(tid: number): number | undefined {
    const level = this.#asked.get(tid)?.level;
    return level === BASE_NICE ? undefined : level;
  }

  /** Whether changes are suspended (no guardian runs). */
  get suspended(): boolean {
    return this.#held;
  }

  /** Tids this actuator has changed and not restored (boosted or dropped to base after a boost). */
  tids(): number[] {
    return [...this.#marked];
  }

  /** The SCHED_FIFO priority strategy rt uses for `level` (1..rtMax). */
  rtPriority(level: number): number {
    // rt levels are static levels, never above BASE_NICE − 1 (the band's yield part is dynamic only).
    const leastBoost = Math.min(this.#curve.niceMax, BASE_NICE - 1);
    return Math.max(1, Math.min(this.#rtMax, 1 + leastBoost - level));
  }

  /**
   * Records `tid` in the touched-task record (its original policy and nice)
   * unless it is already there. Throws a RecordError when the record cannot
   * take it: the caller must then leave the task alone.
   */
  ensureMarked(tid: number): void {
    if (this.#marked.has(tid)) return;
    this.touched.mark(tid);
    this.#marked.add(tid);
  }

  /**
   * Under a floor of 0 or more (no boost granted), a task's level is never
   * better than what its owner had itself: below its own nice, or when it
   * ran SCHED_IDLE or real-time, it stays as it was (base). A negative floor
   * is the operator's grant and rules alone. Needs the original, so the task
   * is marked first.
   */
  #ownNice(tid: number, level: number, floor: number): number {
    if (floor < 0) return level;
    const original = this.touched.taskOriginal(tid);
    if (original === undefined) return level;
    const fair = original.policy === SCHED_OTHER || original.policy === SCHED_BATCH;
    return fair && level >= original.nice ? level : BASE_NICE;
  }

  /**
   * Puts `tid` at `level` (BASE_NICE = as alps found it; above it a task
   * yields, below it is boosted), never below `floor` when one is given,
   * requesting `sliceNs` as its fair-class slice when boosted, and on the
   * group that carries it (`root` is the invocation's root pid, 0 for a task
   * found through a sandbox's cgroup). Returns false when the task is gone
   * or the change was refused.
   */
  apply(tid: number, level: number, sliceNs = 0n, root = 0, floor?: number): boolean {
    if (this.#held) {
      const was = this.#desired.get(tid);
      if (level !== BASE_NICE)
        this.#desired.set(tid, { level, sliceNs, root, ...(floor === undefined ? {} : { floor }) });
      // Past its boost: on resume it goes to base, with the unboosted slice,
      // if that boost would have changed it (resume).
      else if (was !== undefined && was.level !== BASE_NICE)
        this.#desired.set(tid, {
          level,
          sliceNs: 0n,
          root: was.root,
          boost: { level: was.level, ...(was.floor === undefined ? {} : { floor: was.floor }) },
        });
      return true;
    }
    const allowed = this.#underFloor(tid, level, floor);
    if (allowed === false) return false;
    level = allowed;
    if (level === BASE_NICE) {
      // Never changed by us (not ours to touch), or already back at base: nothing to do.
      const was = this.#asked.get(tid)?.level;
      return was === undefined || was === BASE_NICE || this.#toBase(tid, false);
    }
    if (this.#asked.get(tid)?.level === level) return true;
    if (!this.#mark(tid)) return false;
    const attr = this.#boostAttr(level, sliceNs);
    try {
      this.#syscalls.setAttr(tid, attr);
      if (attr.runtimeNs > 0n && this.#sliceSupported === undefined)
        this.#probeSlice(tid, attr.runtimeNs);
    } catch (err) {
      if (attr.runtimeNs > 0n && errorCode(err) === "EINVAL" && this.#sliceSupported !== false) {
        // A kernel that validates sched_runtime for SCHED_OTHER but refuses
        // it: stop asking, apply the level alone.
        this.#sliceSupported = false;
        this.#log(
          "actuator: kernel refused a fair-class slice request (EINVAL); levels only from now on",
        );
        return this.apply(tid, level, 0n, root, floor);
      }
      return this.#failed(tid, err, `set level ${level}`);
    }
    this.#asked.set(tid, { level, sliceNs, attr, root });
    this.counters.applied++;
    this.#targets?.onLevel(tid, root, level);
    return true;
  }

  /**
   * The level `tid` gets for `level` under `floor` (undefined: as asked):
   * never below the floor, and under a floor of 0 or more never better than
   * its own nice (#ownNice, which marks it first). False when the record
   * cannot take it.
   */
  #underFloor(tid: number, level: number, floor: number | undefined): number | false {
    if (floor === undefined || level === BASE_NICE) return level;
    if (level < floor) {
      this.counters.floored++;
      level = floor;
    }
    if (level === BASE_NICE) return level;
    if (!this.#mark(tid)) return false;
    return this.#ownNice(tid, level, floor);
  }

  /** Marks `tid`; false (counted, logged at most every 10 s) when the record cannot take it. */
  #mark(tid: number): boolean {
    try {
      this.ensureMarked(tid);
      return true;
    } catch (err) {
      if (!(err instanceof RecordError)) throw err;
      this.counters.recordErrors++;
      const now = performance.now();
      if (now - this.#recordLoggedMs >= RECORD_LOG_MS) {
        const more = this.counters.recordErrors - this.#recordErrorsLogged - 1;
        this.#log(
          `actuator: tid ${tid} left unchanged: ${err.message}${more > 0 ? ` (and ${more} more since the last report)` : ""}`,
        );
        this.#recordLoggedMs = now;
        this.#recordErrorsLogged = this.counters.recordErrors;
      }
      return false;
    }
  }

  /** Back as alps found it and released from the record. Returns false if the task is gone. */
  restore(tid: number): boolean {
    if (this.#held) {
      this.#desired.delete(tid);
      return true;
    }
    // Never marked: nothing to undo, and not ours to touch.
    return !this.#marked.has(tid) || this.#toBase(tid, true);
  }

  /**
   * `tid` ended a burst by sleeping (`running` false) or runs one: its
   * group's weight counts only the members running (WeightTargets.onRunning).
   * False when the task is not known to the targets yet.
   */
  running(tid: number, running: boolean): boolean {
    return this.#targets?.onRunning(tid, running) ?? true;
  }

  /** Whether a group's weight follows `tid` running (WeightTargets.countsRunning). */
  countsRunning(tid: number): boolean {
    return this.#targets?.countsRunning(tid) ?? false;
  }

  /** The task exited: forget it without a syscall. */
  forget(tid: number): void {
    this.#targets?.onRelease(tid);
    this.#asked.delete(tid);
    this.#desired.delete(tid);
    if (this.#marked.delete(tid)) this.touched.release(tid);
  }

  /** Restores every task this actuator changed. */
  restoreAll(): void {
    for (const tid of [...this.#marked]) this.restore(tid);
    this.#targets?.restoreAll();
  }

  /**
   * Puts every changed task back and changes nothing until `resume` (the
   * guardian is gone): the levels asked for meanwhile are kept.
   */
  suspend(): void {
    if (this.#held) return;
    // The slice too: resume must ask for what was asked, not the level alone.
    for (const [tid, { level, sliceNs, root }] of this.#asked)
      this.#desired.set(tid, { level, sliceNs, root });
    this.restoreAll();
    this.#held = true;
  }

  /**
   * Changes tasks again: applies the levels asked for while suspended.
   * False when it was not suspended (nothing applied: see reapply).
   */
  resume(): boolean {
    if (!this.#held) return false;
    this.#held = false;
    const desired = [...this.#desired];
    this.#desired.clear();
    for (const [tid, d] of desired) {
      if (d.level !== BASE_NICE) {
        this.apply(tid, d.level, d.sliceNs, d.root, d.floor);
        continue;
      }
      // Past its boost, as outside a suspension: put at base (with the
      // unboosted slice) only if the boost changed it. One asked before the
      // suspension did (no `boost`); one asked while held did unless a floor
      // or its own nice left it as it was (a tenant's task floored to base).
      const boost = d.boost;
      const level =
        boost === undefined ? undefined : this.#underFloor(tid, boost.level, boost.floor);
      if (level === false || level === BASE_NICE) continue;
      // Suspend released it, so it is marked again before its change.
      if (this.#mark(tid)) this.#toBase(tid, false, d.root);
    }
    return true;
  }

  /**
   * Asks the kernel again for what was asked as if for the first time: the
   * guardian put the tasks back while the daemon did not answer, so what the
   * kernel holds is no longer what #asked says. Returns the tasks changed.
   */
  reapply(): number {
    // The guardian put the groups back too: what the targets last wrote is stale.
    this.#targets?.invalidate();
    let n = 0;
    // A task past its boost included: its attr carries the unboosted slice.
    for (const [tid, { level, attr, root }] of [...this.#asked]) {
      try {
        this.#syscalls.setAttr(tid, attr);
        this.#targets?.onLevel(tid, root, level);
        n++;
      } catch (err) {
        this.#failed(tid, err, `re-apply level ${level}`);
      }
    }
    return n;
  }

  #boostAttr(level: number, sliceNs: bigint): SchedAttr {
    if (this.#strategy === "rt") {
      return {
        ...baseAttr(),
        policy: SCHED_FIFO,
        priority: this.rtPriority(level),
        flags: SCHED_FLAG_RESET_ON_FORK,
      };
    }
    // Under SCHED_IDLE the kernel ignores the nice (the weight is fixed) and
    // the slice; the task keeps the nice it had until a later level sets it.
    const policy =
      this.#strategy === "dynamic" && runsIdle(level, this.#idleFrom) ? SCHED_IDLE : SCHED_OTHER;
    const runtimeNs =
      this.#sliceSupported === false
        ? 0n
        : level < BASE_NICE
          ? sliceRequestNs(this.#sliceRequest, sliceNs)
          : policy === SCHED_OTHER
            ? this.#unboostedSliceNs
            : 0n;
    return {
      ...baseAttr(),
      policy,
      nice: level,
      flags: SCHED_FLAG_RESET_ON_FORK,
      runtimeNs,
    };
  }

  #probeSlice(tid: number, requested: bigint): void {
    const back = this.#syscalls.getAttr(tid).runtimeNs;
    this.#sliceSupported = back === requested;
    this.#log(
      this.#sliceSupported
        ? "actuator: kernel honours fair-class slice requests (sched_runtime)"
        : `actuator: kernel ignores fair-class slice requests (asked ${requested} ns, read back ${back}); levels only`,
    );
  }

  /**
   * EXPIRED and restores: the task's original policy and nice, no flags; no
   * slice at the end (`release`), the unboosted one while its invocation is
   * open. The callers decide that the task is ours to change.
   */
  #toBase(tid: number, release: boolean, root = this.#asked.get(tid)?.root ?? 0): boolean {
    const was = this.#asked.get(tid)?.level;
    let attr: SchedAttr;
    try {
      const original = this.touched.taskOriginal(tid);
      // The common case in one syscall: a fair-class task whose nice the attr carries.
      if (
        original === undefined ||
        original.policy === SCHED_OTHER ||
        original.policy === SCHED_BATCH
      ) {
        // Back at its base level while its invocation is open (past its
        // boost): unboosted, so it asks for the unboosted slice, once the
        // kernel is known to keep one. An end asks for nothing.
        const unboosted = !release && this.#unboostedSliceNs > 0n && this.#sliceSupported === true;
        attr = unboosted
          ? { ...originalAttr(original), runtimeNs: this.#unboostedSliceNs }
          : originalAttr(original);
        this.#syscalls.setAttr(tid, attr);
      } else {
        attr = originalAttr(original);
        putTaskBack(tid, original, this.#syscalls);
      }
    } catch (err) {
      return this.#failed(tid, err, "restore");
    }
    if (release) {
      this.#asked.delete(tid);
      this.#targets?.onRelease(tid);
      if (this.#marked.delete(tid)) this.touched.release(tid);
      this.counters.restored++;
    } else {
      this.#asked.set(tid, { level: BASE_NICE, sliceNs: 0n, attr, root });
      this.#targets?.onLevel(tid, 0, BASE_NICE);
    }
    // A drop from a level is a level applied; a task already at base (put back again, or ended) is not.
    if (was !== undefined && was !== BASE_NICE) this.counters.applied++;
    return true;
  }

  #failed(tid: number, err: unknown, what: string): boolean {
    if (errorCode(err) === "ESRCH") {
      this.counters.gone++;
      this.forget(tid);
      return false;
    }
    this.counters.errors++;
    this.#log(`actuator: ${what} on tid ${tid} failed: ${(err as Error).message}`);
    return false;
  }
}

/** What the status says about SCHED_IDLE yields (strategy dynamic). */
export function idleReason(idleFrom: number): string {
  return runsIdle(DEFAULT_CURVE.niceMax, idleFrom)
    ? `yields at level ${idleFrom} and above run under SCHED_IDLE`
    : `yields stay on SCHED_OTHER (idle-from-nice ${idleFrom} is past the last level)`;
}

/** What the status says about EEVDF slice requests. */
export function sliceRequestReason(actuator: Actuator): string {
  const what = actuator.sliceRequest;
  const unboostedNs = actuator.unboostedSliceNs;
  if (what === "off" && unboostedNs === 0n)
    return "fair-class slice request off (levels only; --eevdf-slice and --eevdf-unboosted-slice-ms set one)";
  const asked = [
    ...(what === "shortest"
      ? ["the shortest slice on every boost"]
      : what === "function"
        ? ["each function's slice on a boost"]
        : []),
    ...(unboostedNs > 0n
      ? [`a ${Number(unboostedNs) / 1e6} ms slice for invocations not boosted`]
      : []),
  ].join(", ");
  const slice = actuator.sliceSupported;
  if (slice === undefined) return `fair-class slice request: ${asked}, not yet probed`;
  return `fair-class slice request: ${asked}, ${slice ? "honoured" : "not honoured"} by this kernel`;
}

/**
 * The sched_runtime a boost asks for under `request`, ns (0: none): the
 * function's slice within the kernel's bounds, or the shortest it takes.
 */
export function sliceRequestNs(request: SliceRequest, functionSliceNs: bigint): bigint {
  if (request === "shortest") return SLICE_MIN_NS;
  if (request === "off" || functionSliceNs <= 0n) return 0n;
  return clampSliceNs(functionSliceNs);
}

/** A slice request within the kernel's bounds; 0 stays 0 (no request). */
function clampSliceNs(ns: bigint): bigint {
  if (ns <= 0n) return 0n;
  return ns < SLICE_MIN_NS ? SLICE_MIN_NS : ns > SLICE_MAX_NS ? SLICE_MAX_NS : ns;
}
