/**
 * The dispatcher (this process: it starts invocations on time and timestamps
 * them) runs on SCHED_FIFO above anything a function is given in any mode,
 * so every mode is measured the same way and no function delays a dispatch.
 *
 * SCHED_RESET_ON_FORK is deliberately NOT set: libuv's spawn blocks the
 * parent until the child has exec'd, and a child reset to nice 0 on a loaded
 * host may wait seconds for a CPU to get there, holding the dispatcher. The
 * child inherits this RT level for that moment instead, and the pool puts it
 * on SCHED_OTHER nice 0 right after spawn returns (see worker-pool.ts).
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
