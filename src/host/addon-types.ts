/**
 * Typed view of the native addon (native/src, built by
 * scripts/build-native.sh). src/host/addon.ts is the only file that sees
 * the untyped module; everything else uses these interfaces.
 *
 * The constants and struct definitions below mirror bpf/alps.h:
 * test/host/addon-constants checks each of them against the header's text
 * (no addon needed), test/host/addon-layout compares the structs with the
 * compiled addon's structLayout() (C sizeof/offsetof).
 */
import type { SchedAttr } from "./syscalls-types.js";

/** Event types of `enum alps_event_type` in bpf/alps.h. */
export const EV_LEVEL = 1;
export const EV_EXPIRED = 2;
export const EV_BLOCKED = 3;
export const EV_WOKE = 4;
export const EV_EXITED = 5;
export type AlpsEventType =
  | typeof EV_LEVEL
  | typeof EV_EXPIRED
  | typeof EV_BLOCKED
  | typeof EV_WOKE
  | typeof EV_EXITED;

/** `enum alps_strategy`. */
export const STRATEGY_CODE = { dynamic: 0, static: 1, rt: 2 } as const;
/** Config strategy of cfs mode on the BPF sensor: bursts are counted, no level ever changes. */
export const STRATEGY_OBSERVE = 3;

/** Task flags (ALPS_TASK_*). */
export const TASK_EXPIRED = 1;
export const TASK_REGISTERED = 2;
/** The daemon counts the task as running its burst: the burst's end wakes the daemon. */
export const TASK_SEEN_RUNNING = 4;

/** Limits compiled into the BPF object (bpf/alps.h). */
export const ALPS_MAX_LEVELS = 40;
export const ALPS_MAX_FNS = 1024;
export const ALPS_MAX_TASKS = 16384;
export const ALPS_MAX_CGROUPS = 4096;
/** The ring buffer's size, bytes (the kernel tests size their floods by it); a record takes an 8-byte header + struct alps_event, 8-aligned. */
export const ALPS_RINGBUF_BYTES = 256 * 1024;

/** `enum alps_counter`, in index order. */
export const COUNTER_NAMES = [
  "nr_runtime_updates",
  "nr_events",
  "nr_ringbuf_drops",
  "nr_level_changes",
  "nr_expired",
  "nr_blocked",
  "nr_woke",
  "nr_exited",
  "nr_forks_inherited",
  "nr_cgroup_matches",
  "nr_task_map_full",
  "nr_policy_default",
  "nr_events_deferred",
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

/** One field of a shared struct: byte offset and size. */
export interface FieldLayout {
  offset: number;
  size: number;
}
/** The TS side's idea of a shared struct; field order = declaration order. */
export interface StructDef {
  size: number;
  fields: Record<string, FieldLayout>;
}

/** Layouts of bpf/alps.h, x86_64 (8-byte alignment for __u64). */
export const STRUCTS: Record<
  "alps_config" | "alps_policy" | "alps_task" | "alps_event",
  StructDef
> = {
  alps_config: {
    size: 24 + 8 * ALPS_MAX_LEVELS,
    fields: {
      strategy: { offset: 0, size: 4 },
      nr_levels: { offset: 4, size: 4 },
      nice_min: { offset: 8, size: 4 },
      nice_max: { offset: 12, size: 4 },
      base_nice: { offset: 16, size: 4 },
      thresholds_ns: { offset: 24, size: 8 * ALPS_MAX_LEVELS },
    },
  },
  alps_policy: {
    size: 24,
    fields: {
      predicted_ns: { offset: 0, size: 8 },
      slice_ns: { offset: 8, size: 8 },
      static_level: { offset: 16, size: 4 },
      valid: { offset: 20, size: 4 },
    },
  },
  alps_task: {
    size: 40,
    fields: {
      fn: { offset: 0, size: 4 },
      flags: { offset: 4, size: 4 },
      burst_start_ns: { offset: 8, size: 8 },
      burst_used_ns: { offset: 16, size: 8 },
      total_ns: { offset: 24, size: 8 },
      level: { offset: 32, size: 4 },
      root: { offset: 36, size: 4 },
    },
  },
  alps_event: {
    size: 32,
    fields: {
      type: { offset: 0, size: 4 },
      tid: { offset: 4, size: 4 },
      fn: { offset: 8, size: 4 },
      level: { offset: 12, size: 4 },
      cpu_ns: { offset: 16, size: 8 },
      ts_ns: { offset: 24, size: 8 },
    },
  },
};

/** What the addon's structLayout() returns for one struct. */
export interface NativeStructLayout {
  size: number;
  offsets: Record<string, number>;
}
export interface NativeLayout {
  alps_config: NativeStructLayout;
  alps_policy: NativeStructLayout;
  alps_task: NativeStructLayout;
  alps_event: NativeStructLayout;
  constants: Record<string, number>;
}

/** One ring-buffer record (struct alps_event). */
export interface AlpsEvent {
  type: AlpsEventType;
  tid: number;
  /** Function id. */
  fn: number;
  /** Level to apply (LEVEL/EXPIRED/WOKE); else the task's current level. */
  level: number;
  /** Burst CPU (LEVEL/EXPIRED/BLOCKED) or total CPU (EXITED), ns. */
  cpuNs: number;
  /** CLOCK_MONOTONIC when the kernel posted it, ns. */
  tsNs: number;
}

export interface BpfConfig {
  /** STRATEGY_CODE value. */
  strategy: number;
  niceMin: number;
  niceMax: number;
  baseNice: number;
  /** niceMax - niceMin + 1 thresholds of predicted remaining time, ns. */
  thresholdsNs: bigint[];
}

export interface BpfPolicyValue {
  predictedNs: bigint;
  sliceNs: bigint;
  staticLevel: number;
}

export interface BpfTaskState {
  fn: number;
  flags: number;
  burstStartNs: bigint;
  burstUsedNs: bigint;
  totalNs: bigint;
  level: number;
  /** Tid of the invocation the task belongs to; 0 for tasks found by cgroup. */
  root: number;
}

/** An opened, loaded and attached BPF object. All methods throw once closed. */
export interface BpfHandle {
  setConfig(config: BpfConfig): void;
  setPolicy(fnId: number, value: BpfPolicyValue): void;
  clearPolicy(fnId: number): void;
  setCgroup(cgroupId: bigint, fnId: number): void;
  deleteCgroup(cgroupId: bigint): void;
  /**
   * Track `tid` as `fnId` of invocation `root`, fresh burst, at `level` (already applied by the
   * caller). `flags`: TASK_SEEN_RUNNING when the daemon counts it as running from now.
   */
  registerTask(tid: number, fnId: number, level: number, root: number, flags?: number): void;
  unregisterTask(tid: number): boolean;
  readTask(tid: number): BpfTaskState | null;
  taskIds(): number[];
  /** Tids tracked as part of invocation `root` (registered or forked from one), in one batched read of the map. */
  tasksOfRoot(root: number): number[];
  /** Counters summed over CPUs, indexed like COUNTER_NAMES. */
  counters(): bigint[];
  /** One counter summed over CPUs (index into COUNTER_NAMES), in one syscall. */
  counter(index: number): bigint;
  /** Deliver ring-buffer records on the event loop (uv_poll on the epoll fd). */
  startEvents(callback: (events: AlpsEvent[]) => void): void;
  /**
   * Every record in the ring buffer now, returned instead of passed to the
   * callback: the ones the kernel posted without waking the daemon (burst
   * samples, exits) wait there until read. Empty before startEvents.
   */
  drainEvents(): AlpsEvent[];
  stopEvents(): void;
  /** Detach, free the ring buffer and maps. Idempotent. */
  close(): void;
}

/** The addon module. */
export interface AlpsAddon {
  structLayout(): NativeLayout;
  /** Opens, loads and attaches the BPF object at `objectPath`. Throws with `.code` (errno name). */
  openBpf(objectPath: string): BpfHandle;
  setNice(tid: number, nice: number): void;
  getNice(tid: number): number;
  setAttr(tid: number, attr: SchedAttr): void;
  getAttr(tid: number): SchedAttr;
  setAffinity(tid: number, cpus: readonly number[]): void;
  getAffinity(tid: number): number[];
  /** CLOCK_MONOTONIC, ns (the clock of AlpsEvent.tsNs). */
  monotonicNs(): bigint;
}
