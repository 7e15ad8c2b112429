/**
 * SFS mode (issue 5): the FILTER policy of SFS (SC'22) on the proc sensor,
 * for hosts where BPF cannot load. No learning.
 *
 * A new invocation runs on SCHED_FIFO (with SCHED_RESET_ON_FORK, so its
 * threads and children start on the fair class) for one slice of CPU, then
 * goes back to SCHED_OTHER. At most `cores` invocations hold the FIFO level
 * at once; the rest wait in arrival order on the fair class. One that waited
 * more than `overloadSlices` slices never enters FIFO (overload: FIFO cannot
 * absorb it in time, so CFS is the better place). One that blocks inside its
 * slice leaves FIFO and keeps the rest of its slice for when it wakes.
 *
 * Only the invocation's own task (tid = pid) is promoted. Every change is
 * recorded in `touched` before it is made and released once undone; a task
 * the record cannot take stays on CFS. An invocation with a floor (a caller
 * that is not root) never enters FIFO: no nice level an operator can grant
 * a tenant amounts to SCHED_FIFO. Undone means back as the task was when
 * first recorded (its original policy and nice).
 */
import { availableParallelism } from "node:os";
import type { Policy } from "../../contracts/policy.js";
import { RecordError } from "../../errors.js";
import { errorCode, errorMessage } from "../../host/errno.js";
import { type ProcessUsage, ProcSensor, type SensedTask } from "../proc/proc-sensor.js";
import { readTaskCpuNs } from "../../host/proc-stat.js";
import { createMemoryTouched } from "../guardian/touched-memory.js";
import { SFS_DEFAULTS, SfsSlice } from "./sfs-slice.js";
import { putTaskBack } from "../guardian/restore.js";
import {
  baseAttr,
  SCHED_FIFO,
  SCHED_FLAG_RESET_ON_FORK,
  type Syscalls,
} from "../../host/syscalls-types.js";
import type { TouchedRecorder } from "../guardian/touched-types.js";
import type { Backend, BackendStatus, BurstSample, InvocationExit } from "../types.js";

export interface SfsOptions {
  syscalls: Syscalls;
  touched?: TouchedRecorder;
  /** FIFO slots and the slice multiplier; default: CPUs available. */
  cores?: number;
  /** SCHED_FIFO priority of promoted invocations; below the daemon's own. */
  fifoPriority?: number;
  initialSliceMs?: number;
  floorMs?: number;
  recomputeEvery?: number;
  /** An invocation that waited longer than this many slices skips FIFO. */
  overloadSlices?: number;
  /** Poll period when no task is on FIFO or blocked inside its slice, ms. */
  idlePollMs?: number;
  reasons?: string[];
  log?: (message: string) => void;
}

/** Where an invocation is in the FILTER policy. */
export type SfsPhase =
  /** Waiting on the fair class for a FIFO slot. */
  | { kind: "queued"; sinceMs: number; budgetNs: number }
  /** On SCHED_FIFO since its CPU time was `startCpuNs`, may use `budgetNs` more. */
  | { kind: "fifo"; startCpuNs: number; budgetNs: number }
  /** Blocked inside its slice, on the fair class, `budgetNs` left for its next burst. */
  | { kind: "blocked"; budgetNs: number }
  /**
   * Done with FILTER: slice used, overload, FIFO refused, a floor (a caller
   * that is not root), or the record could not take the task.
   */
  | { kind: "cfs"; why: "expired" | "overload" | "refused" | "floor" | "record" };

interface SfsInvocation {
  fn: string;
  pid: number;
  phase: SfsPhase;
}

export interface SfsBackend extends Backend {
  /** The invocation's phase, for tests and `/v1/status`. */
  phaseOf(pid: number): SfsPhase | undefined;
  sliceMs(): number;
  /** CPU each expired invocation ran past its slice before it was demoted, ms (bench). */
  expiryOvershootMs(): number[];
  /** Per-process CPU and memory of the tasks followed (pidusage), for metrics. */
  processUsage(): Promise<ProcessUsage[]>;
}

const FAST_POLL_MS = 1;
const QUEUED_POLL_MS = 5;

export function createSfsBackend(opts: SfsOptions): SfsBackend {
  const { syscalls } = opts;
  const touched = opts.touched ?? createMemoryTouched();
  const cores = opts.cores ?? availableParallelism();
  const fifoPriority = opts.fifoPriority ?? 1;
  const overloadSlices = opts.overloadSlices ?? 3;
  const idlePollMs = opts.idlePollMs ?? 50;
  const log = opts.log ?? (() => {});
  const slice = new SfsSlice({
    cores,
    initialMs: opts.initialSliceMs ?? SFS_DEFAULTS.initialMs,
    floorMs: opts.floorMs ?? SFS_DEFAULTS.floorMs,
    recomputeEvery: opts.recomputeEvery ?? SFS_DEFAULTS.recomputeEvery,
  });
  const reasons = [
    ...(opts.reasons ?? []),
    `sfs: FIFO ${cores} slot(s) at priority ${fifoPriority}, syscalls via ${syscalls.kind}`,
  ];
  const counters = {
    nr_invocations: 0,
    nr_promoted: 0,
    nr_expired: 0,
    nr_blocked_in_slice: 0,
    nr_overload: 0,
    nr_refused: 0,
    nr_restore_failed: 0,
    nr_gone_at_start: 0,
    nr_floor: 0,
    nr_record_errors: 0,
    nr_invocation_exits: 0,
  };
  const exitListeners: ((exit: InvocationExit) => void)[] = [];
  const reportExit = (exit: InvocationExit): void => {
    counters.nr_invocation_exits++;
    for (const l of exitListeners) l(exit);
  };
  /** Suspended (no guardian): nothing is promoted. */
  let held = false;
  const invocations = new Map<number, SfsInvocation>();
  /** Arrival order of queued invocations (pids). */
  const queue: number[] = [];
  /** Tids this backend changed and has not yet restored. */
  const changed = new Set<number>();
  const overshootMs: number[] = [];
  const burstListeners: ((sample: BurstSample) => void)[] = [];
  let closed = false;

  const countIn = (kind: SfsPhase["kind"]): number => {
    let n = 0;
    for (const inv of invocations.values()) if (inv.phase.kind === kind) n++;
    return n;
  };

  const sensor = new ProcSensor({
    periodMs: () => {
      if (countIn("fifo") > 0 || countIn("blocked") > 0) return FAST_POLL_MS;
      return queue.length > 0 ? QUEUED_POLL_MS : idlePollMs;
    },
  });

  /** Back as it was when first recorded. A task that is gone needs nothing. */
  const restore = (tid: number): void => {
    try {
      putTaskBack(tid, touched.taskOriginal(tid), syscalls);
    } catch (error) {
      if (errorCode(error) !== "ESRCH") {
        counters.nr_restore_failed++;
        log(`sfs: could not restore tid ${tid} to SCHED_OTHER: ${errorMessage(error)}`);
        return;
      }
    }
    changed.delete(tid);
    touched.release(tid);
  };

  /** True when `inv` now holds a FIFO slot. */
  const promote = (inv: SfsInvocation, budgetNs: number): boolean => {
    if (held) return false;
    const cpuNs = readTaskCpuNs(inv.pid);
    if (cpuNs === undefined) {
      forget(inv.pid);
      return false;
    }
    try {
      touched.mark(inv.pid);
    } catch (error) {
      if (!(error instanceof RecordError)) throw error;
      counters.nr_record_errors++;
      inv.phase = { kind: "cfs", why: "record" };
      log(`sfs: pid ${inv.pid} (${inv.fn}) stays on CFS: ${error.message}`);
      return false;
    }
    changed.add(inv.pid);
    try {
      syscalls.setAttr(inv.pid, {
        ...baseAttr(),
        policy: SCHED_FIFO,
        priority: fifoPriority,
        flags: SCHED_FLAG_RESET_ON_FORK,
      });
    } catch (error) {
      restore(inv.pid);
      if (errorCode(error) === "ESRCH") {
        forget(inv.pid);
        return false;
      }
      counters.nr_refused++;
      inv.phase = { kind: "cfs", why: "refused" };
      const hint =
        errorCode(error) === "EPERM"
          ? " (is it in a v1 cpu cgroup with cpu.rt_runtime_us 0, or does the daemon lack CAP_SYS_NICE? see `alps doctor`)"
          : "";
      log(
        `sfs: SCHED_FIFO refused for pid ${inv.pid} (${inv.fn}): ${errorMessage(error)}${hint}; it runs on CFS`,
      );
      return false;
    }
    counters.nr_promoted++;
    inv.phase = { kind: "fifo", startCpuNs: cpuNs, budgetNs };
    return true;
  };

  /** Fill free FIFO slots from the head of the queue; drop the ones that waited too long. */
  const admit = (nowMs: number): void => {
    const limitMs = overloadSlices * slice.ms;
    // Overload is judged for every queued invocation, not only at the head,
    // so a late one is on CFS for good as soon as it is late.
    for (let i = queue.length - 1; i >= 0; i--) {
      const inv = invocations.get(queue[i] as number);
      if (inv?.phase.kind !== "queued") {
        queue.splice(i, 1);
      } else if (nowMs - inv.phase.sinceMs > limitMs) {
        queue.splice(i, 1);
        counters.nr_overload++;
        inv.phase = { kind: "cfs", why: "overload" };
      }
    }
    let free = cores - countIn("fifo");
    while (free > 0 && queue.length > 0) {
      const inv = invocations.get(queue.shift() as number);
      if (inv?.phase.kind !== "queued") continue;
      if (promote(inv, inv.phase.budgetNs)) free--;
    }
  };

  const enqueue = (inv: SfsInvocation, budgetNs: number, nowMs: number): void => {
    inv.phase = { kind: "queued", sinceMs: nowMs, budgetNs };
    queue.push(inv.pid);
  };

  const demote = (inv: SfsInvocation, next: SfsPhase): void => {
    restore(inv.pid);
    inv.phase = next;
  };

  const forget = (pid: number): void => {
    const inv = invocations.get(pid);
    if (inv === undefined) return;
    invocations.delete(pid);
    if (changed.has(pid)) restore(pid);
    sensor.untrackInvocation(pid);
  };

  sensor.on({
    burstEnded(task: SensedTask, cpuNs: number) {
      for (const l of burstListeners)
        l({ fn: task.fn, tid: task.tid, cpuMs: cpuNs / 1e6, atMs: Date.now() });
      const inv = task.tid === task.invocation ? invocations.get(task.tid) : undefined;
      if (inv?.phase.kind !== "fifo") return;
      const used = task.cpuNs - inv.phase.startCpuNs;
      // Registered before it runs (the platform releases it after
      // registering): it has not started, so it keeps its FIFO place and
      // runs on FIFO from its first instruction.
      if (used === 0) return;
      // Blocked inside its slice: leave FIFO, keep the rest for the wake-up.
      const left = inv.phase.budgetNs - used;
      if (left <= 0) {
        counters.nr_expired++;
        demote(inv, { kind: "cfs", why: "expired" });
        return;
      }
      counters.nr_blocked_in_slice++;
      demote(inv, { kind: "blocked", budgetNs: left });
    },
    burstStarted(task: SensedTask) {
      const inv = task.tid === task.invocation ? invocations.get(task.tid) : undefined;
      if (inv?.phase.kind !== "blocked") return;
      enqueue(inv, inv.phase.budgetNs, performance.now());
    },
    taskExited(task: SensedTask) {
      if (task.tid !== task.invocation) return;
      // Gone: nothing to restore, its slot is free.
      changed.delete(task.tid);
      touched.release(task.tid);
      if (invocations.delete(task.tid))
        reportExit({ pid: task.tid, cpuNs: task.cpuNs - task.firstCpuNs });
    },
    polled(nowMs: number) {
      for (const inv of invocations.values()) {
        if (inv.phase.kind !== "fifo") continue;
        const task = sensor.task(inv.pid);
        if (task === undefined) continue;
        const used = task.cpuNs - inv.phase.startCpuNs;
        if (used >= inv.phase.budgetNs) {
          counters.nr_expired++;
          overshootMs.push((used - inv.phase.budgetNs) / 1e6);
          demote(inv, { kind: "cfs", why: "expired" });
        }
      }
      admit(nowMs);
    },
  });
  sensor.start();

  const backend: SfsBackend = {
    mode: "sfs",
    sensor: "proc",
    async addSandbox(fn, cgroupPath) {
      sensor.addCgroup(fn, cgroupPath);
    },
    async removeSandbox(cgroupPath) {
      sensor.removeCgroup(cgroupPath);
    },
    startInvocation(fn, pid, limits = {}) {
      if (closed) throw new Error("sfs backend is closed");
      if (invocations.has(pid)) return;
      const nowMs = performance.now();
      counters.nr_invocations++;
      if (slice.arrive(nowMs)) log(`sfs: slice recomputed: ${slice.ms.toFixed(2)} ms`);
      const inv: SfsInvocation = { fn, pid, phase: { kind: "cfs", why: "expired" } };
      invocations.set(pid, inv);
      if (sensor.trackInvocation(fn, pid) === undefined) {
        invocations.delete(pid);
        sensor.untrackInvocation(pid);
        counters.nr_gone_at_start++;
        log(
          `sfs: pid ${pid} (${fn}) was gone before its invocation was registered; nothing to schedule`,
        );
        queueMicrotask(() => reportExit({ pid, cpuNs: undefined }));
        return;
      }
      if (limits.floor !== undefined) {
        counters.nr_floor++;
        inv.phase = { kind: "cfs", why: "floor" };
        return;
      }
      enqueue(inv, Math.round(slice.ms * 1e6), nowMs);
      admit(nowMs);
      sensor.reschedule();
    },
    endInvocation(pid) {
      forget(pid);
    },
    applyPolicy(_policy: Policy) {
      // SFS does not learn and ignores the policy (docs/architecture.md).
    },
    onBurst(listener) {
      burstListeners.push(listener);
    },
    onExit(listener) {
      exitListeners.push(listener);
    },
    suspend() {
      if (held) return;
      held = true;
      // Back on CFS, as they were; their phase is kept for resume.
      for (const tid of [...changed]) restore(tid);
    },
    resume() {
      held = false;
      // FIFO again for the invocations still inside their slice (after a
      // suspension, or after the guardian put them back).
      for (const inv of invocations.values()) {
        if (inv.phase.kind !== "fifo") continue;
        try {
          touched.mark(inv.pid);
          changed.add(inv.pid);
          syscalls.setAttr(inv.pid, {
            ...baseAttr(),
            policy: SCHED_FIFO,
            priority: fifoPriority,
            flags: SCHED_FLAG_RESET_ON_FORK,
          });
        } catch (error) {
          if (error instanceof RecordError) counters.nr_record_errors++;
          else if (errorCode(error) !== "ESRCH") throw error;
          demote(inv, { kind: "cfs", why: error instanceof RecordError ? "record" : "expired" });
        }
      }
      admit(performance.now());
    },
    status(): BackendStatus {
      return {
        mode: "sfs",
        sensor: "proc",
        reasons,
        counters: {
          ...counters,
          nr_fifo: countIn("fifo"),
          nr_queued: queue.length,
          nr_polls: sensor.polls,
          slice_us: Math.round(slice.ms * 1000),
        },
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      sensor.stop();
      for (const tid of [...changed]) restore(tid);
      invocations.clear();
      queue.length = 0;
    },
    phaseOf(pid) {
      return invocations.get(pid)?.phase;
    },
    sliceMs() {
      return slice.ms;
    },
    expiryOvershootMs() {
      return [...overshootMs];
    },
    processUsage() {
      return sensor.processUsage();
    },
  };
  return backend;
}
