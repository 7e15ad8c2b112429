/**
 * The scheduling syscalls alps uses, as one interface with two
 * implementations: the native addon (src/host/addon.ts) and ffi-rs
 * (src/host/syscalls-ffi.ts, for hosts where the addon could not be
 * built). The actuator and the SFS policy only see this interface.
 */

export const SCHED_OTHER = 0;
export const SCHED_FIFO = 1;
export const SCHED_RR = 2;
export const SCHED_BATCH = 3;
export const SCHED_IDLE = 5;
export const SCHED_DEADLINE = 6;
/** Children of a task with this flag start on SCHED_OTHER, nice 0. */
export const SCHED_FLAG_RESET_ON_FORK = 0x01n;

/** The fields of `struct sched_attr` alps reads and writes. */
export interface SchedAttr {
  policy: number;
  flags: bigint;
  nice: number;
  /** SCHED_FIFO/RR priority, 0 for the fair class. */
  priority: number;
  /** Fair class on Linux >= 6.12: requested slice (ns); SCHED_DEADLINE: runtime. */
  runtimeNs: bigint;
  deadlineNs: bigint;
  periodNs: bigint;
}

export interface Syscalls {
  /** Which implementation this is, for `doctor` and metrics. */
  readonly kind: "addon" | "ffi";
  /** setpriority(PRIO_PROCESS, tid, nice): applies to that one thread. */
  setNice(tid: number, nice: number): void;
  getNice(tid: number): number;
  /** sched_setattr(tid, attr, 0). Throws an Error with `.code` (errno name) on failure. */
  setAttr(tid: number, attr: SchedAttr): void;
  getAttr(tid: number): SchedAttr;
  setAffinity(tid: number, cpus: readonly number[]): void;
  getAffinity(tid: number): number[];
}

/** The state every task alps touched must be back in when alps lets go of it. */
export function baseAttr(): SchedAttr {
  return {
    policy: SCHED_OTHER,
    flags: 0n,
    nice: 0,
    priority: 0,
    runtimeNs: 0n,
    deadlineNs: 0n,
    periodNs: 0n,
  };
}
