/**
 * The dispatcher (this process: it starts invocations on time and timestamps
 * them) runs on SCHED_FIFO above anything a function is given in any mode,
 * so every mode is measured the same way and no function delays a dispatch.
 *
 * SCHED_RESET_ON_FORK is set: a process the dispatcher spawns starts on
 * SCHED_OTHER nice 0, so nothing it starts can keep a real-time level (a
 * crash of the replay cannot leave one behind). Spawning waits until the
 * child has exec'd, and a nice-0 child may wait for a CPU to get there on a
 * loaded host; the replay therefore spawns its workers before the first
 * arrival (warm workers are prewarmed, fork workers come from a zygote
 * started once). A warm pool that must grow during the run pays that wait
 * as a cold start, which the results count as such.
 *
 * Under RT throttling (sfs, strategy rt) the kernel stops every SCHED_FIFO
 * task on a throttled CPU, this one too; the replay measures that as dispatch
 * lag per invocation rather than hiding it.
 */
import { threadsOf } from "../host/proc-stat.js";
import {
  baseAttr,
  SCHED_FIFO,
  SCHED_FLAG_RESET_ON_FORK,
  type Syscalls,
} from "../host/syscalls-types.js";

/** Above SFS's FIFO level and alps's daemon helpers, below kernel threads at 99. */
export const DISPATCHER_RT_PRIORITY = 80;

/** Raise every thread of this process; returns the function that puts them back on SCHED_OTHER nice 0. */
export function raiseDispatcher(syscalls: Syscalls, priority = DISPATCHER_RT_PRIORITY): () => void {
  const raised: number[] = [];
  const restore = (): void => {
    for (const tid of raised.splice(0)) {
      try {
        syscalls.setAttr(tid, baseAttr());
      } catch {
        // The thread is gone (ESRCH): nothing left to restore.
      }
    }
  };
  try {
    for (const tid of threadsOf(process.pid)) {
      syscalls.setAttr(tid, {
        ...baseAttr(),
        policy: SCHED_FIFO,
        priority,
        flags: SCHED_FLAG_RESET_ON_FORK,
      });
      raised.push(tid);
    }
  } catch (error: unknown) {
    restore();
    throw error;
  }
  return restore;
}
