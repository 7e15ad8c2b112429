/**
 * The actuator applies the levels the BPF program decides: one syscall on
 * the tid per LEVEL/EXPIRED/WOKE event, and the restore to SCHED_OTHER nice 0
 * when an invocation ends or the daemon closes.
 *
 * Levels are fair-class nice values (docs/architecture.md, "Levels"). A boost is applied with
 * sched_setattr(SCHED_OTHER, nice, SCHED_FLAG_RESET_ON_FORK): the reset flag
 * makes children start at nice 0 (they earn their own boost from the BPF
 * program). With `sliceRequest` on, the same call also asks for the
 * function's slice in sched_runtime where the kernel honours it (EEVDF,
 * Linux >= 6.12; probed on first use by reading it back). It is off by
 * default: an EEVDF slice is not alps's boost window but a protection from
 * preemption, and on this host a long function holding a 100 ms request kept
 * the core for ~60 ms after a far more boosted short one woke (the short one
 * waited the whole protected run; see test/kernel/bpf-inherit.test.ts).
 * Under strategy dynamic the deepest yields (from `idleFrom`, default
 * DEFAULT_IDLE_FROM) are applied as SCHED_IDLE instead: a weight of 3, below
 * anything a nice level gives (the why is at DEFAULT_IDLE_FROM). Strategy
 * `rt` (comparison only) applies the level as a SCHED_FIFO priority instead,
 * also with RESET_ON_FORK.
 *
 * Every tid is marked in the touched-task record before its first change
 * and released after it is restored. A task that vanished (ESRCH) is normal:
 * counted, released, not an error.
 */
import { errorCode } from "../../host/errno.js";
import {
  BASE_NICE,
  DEFAULT_CURVE,
  DEFAULT_IDLE_FROM,
  type LevelCurve,
  runsIdle,
  type Strategy,
} from "../../contracts/levels.js";
import {
  baseAttr,
  SCHED_FIFO,
  SCHED_FLAG_RESET_ON_FORK,
  SCHED_IDLE,
  SCHED_OTHER,
  type SchedAttr,
  type Syscalls,
} from "../../host/syscalls-types.js";
import { createMemoryTouched } from "../guardian/touched-memory.js";
import type { TouchedTasks } from "../guardian/touched-types.js";
import type { WeightTargets } from "./weight-targets.js";

/** The kernel clamps a fair-class slice request to [0.1 ms, 100 ms]. */
const SLICE_MIN_NS = 100_000n;
const SLICE_MAX_NS = 100_000_000n;
/** Highest SCHED_FIFO priority strategy `rt` gives a function (the daemon runs above it). */
export const DEFAULT_RT_MAX_PRIORITY = 40;

export interface ActuatorCounters {
  /** Levels applied (boosts and drops). */
  applied: number;
  /** Tasks restored to SCHED_OTHER nice 0. */
  restored: number;
  /** Tasks that were gone when a change was attempted (ESRCH). */
  gone: number;
  /** Syscalls refused for another reason (logged). */
  errors: number;
}

export interface ActuatorOptions {
  strategy: Strategy;
  syscalls: Syscalls;
  touched?: TouchedTasks;
  curve?: LevelCurve;
  /** Strategy rt: the priority of the most boosted level. */
  rtMaxPriority?: number;
  log?: (msg: string) => void;
  /** Also request the function's slice as the task's EEVDF slice. Default false. */
  sliceRequest?: boolean;
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
  readonly counters: ActuatorCounters = { applied: 0, restored: 0, gone: 0, errors: 0 };
  readonly touched: TouchedTasks;
  readonly #strategy: Strategy;
  readonly #syscalls: Syscalls;
  readonly #curve: LevelCurve;
  readonly #rtMax: number;
  readonly #log: (msg: string) => void;
  readonly #sliceRequest: boolean;
  readonly #idleFrom: number;
  readonly #targets: WeightTargets | undefined;
  /** undefined until the first slice request tells whether the kernel keeps it. */
  #sliceSupported: boolean | undefined;
  /** Level currently applied per tid (absent = base, untouched by us). */
  readonly #applied = new Map<number, number>();
  /** Tids marked in the touched record and not yet released. */
  readonly #marked = new Set<number>();

  constructor(opts: ActuatorOptions) {
    this.#strategy = opts.strategy;
    this.#syscalls = opts.syscalls;
    this.touched = opts.touched ?? createMemoryTouched();
    this.#curve = opts.curve ?? DEFAULT_CURVE;
    this.#rtMax = opts.rtMaxPriority ?? DEFAULT_RT_MAX_PRIORITY;
    this.#log = opts.log ?? (() => {});
    this.#sliceRequest = opts.sliceRequest ?? false;
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

  /** Whether boosts also carry an EEVDF slice request (the `eevdfSlice` setting). */
  get sliceRequest(): boolean {
    return this.#sliceRequest;
  }

  /** Whether the kernel keeps a fair-class slice request (undefined: not probed yet). */
  get sliceSupported(): boolean | undefined {
    return this.#sliceSupported;
  }

  /** The level last applied to `tid`, or undefined when it is at base. */
  appliedLevel(tid: number): number | undefined {
    return this.#applied.get(tid);
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
   * Puts `tid` at `level` (BASE_NICE = the unchanged state; above it a task
   * yields, below it is boosted), requesting `sliceNs` as its fair-class
   * slice when boosted, and on the group that carries it (`root` is the
   * invocation's root pid, 0 for a task found through a sandbox's cgroup).
   * Returns false when the task is gone or the change was refused.
   */
  apply(tid: number, level: number, sliceNs = 0n, root = 0): boolean {
    if (level === BASE_NICE) return this.#toBase(tid, false);
    if (this.#applied.get(tid) === level) return true;
    if (!this.#marked.has(tid)) {
      this.touched.mark(tid);
      this.#marked.add(tid);
    }
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
        return this.apply(tid, level, 0n, root);
      }
      return this.#failed(tid, err, `set level ${level}`);
    }
    this.#applied.set(tid, level);
    this.counters.applied++;
    this.#targets?.onLevel(tid, root, level);
    return true;
  }

  /** Back to SCHED_OTHER nice 0 and released from the record. Returns false if the task is gone. */
  restore(tid: number): boolean {
    return this.#toBase(tid, true);
  }

  /** The task exited: forget it without a syscall. */
  forget(tid: number): void {
    this.#targets?.onRelease(tid);
    this.#applied.delete(tid);
    if (this.#marked.delete(tid)) this.touched.release(tid);
  }

  /** Restores every task this actuator changed. */
  restoreAll(): void {
    for (const tid of [...this.#marked]) this.restore(tid);
    this.#targets?.restoreAll();
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
    // A slice request only goes with a boost: a yielding task asks for nothing.
    const wantSlice =
      level < BASE_NICE && this.#sliceRequest && this.#sliceSupported !== false && sliceNs > 0n;
    const runtimeNs = wantSlice
      ? sliceNs < SLICE_MIN_NS
        ? SLICE_MIN_NS
        : sliceNs > SLICE_MAX_NS
          ? SLICE_MAX_NS
          : sliceNs
      : 0n;
    return {
      ...baseAttr(),
      // Under SCHED_IDLE the kernel ignores the nice (the weight is fixed);
      // the task keeps the one it had until a later level sets it again.
      policy:
        this.#strategy === "dynamic" && runsIdle(level, this.#idleFrom) ? SCHED_IDLE : SCHED_OTHER,
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

  /** EXPIRED and restores: SCHED_OTHER, nice 0, no flags, no slice. */
  #toBase(tid: number, release: boolean): boolean {
    const was = this.#applied.get(tid);
    // Never changed by us: nothing to undo, and not ours to touch.
    if (was === undefined && (!release || !this.#marked.has(tid))) return true;
    try {
      this.#syscalls.setAttr(tid, baseAttr());
    } catch (err) {
      return this.#failed(tid, err, "restore");
    }
    this.#applied.delete(tid);
    if (release) this.#targets?.onRelease(tid);
    else this.#targets?.onLevel(tid, 0, BASE_NICE);
    if (release && this.#marked.delete(tid)) this.touched.release(tid);
    if (was !== undefined) this.counters.applied++;
    if (release) this.counters.restored++;
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
  if (!actuator.sliceRequest)
    return "fair-class slice request off (levels only; --eevdf-slice turns it on)";
  const slice = actuator.sliceSupported;
  if (slice === undefined) return "fair-class slice request on, not yet probed";
  return `fair-class slice request on, ${slice ? "honoured" : "not honoured"} by this kernel`;
}
