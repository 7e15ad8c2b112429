/**
 * The daemon's own threads run on SCHED_FIFO above every level it gives a
 * function (safety invariant 2, docs/safety.md): however hard functions compete, the
 * daemon still gets the CPU to apply and undo levels.
 *
 * SCHED_RESET_ON_FORK is set with it, so nothing the daemon spawns (the
 * commands of `alps invoke`, helper processes) or any thread created later
 * inherits real-time priority. Threads created after this call therefore run
 * on SCHED_OTHER; call it again after starting worker threads.
 */
import { addonSyscalls, loadAddon } from "../../host/addon.js";
import { threadsOf } from "../../host/proc-stat.js";
import {
  baseAttr,
  SCHED_FIFO,
  SCHED_FLAG_RESET_ON_FORK,
  type Syscalls,
} from "../../host/syscalls-types.js";

/** Real-time priorities are 1..99; the actuator's rt strategy stays at or below 40. */
const MIN_PRIORITY = 1;
const MAX_PRIORITY = 99;

function defaultSyscalls(): Syscalls {
  const loaded = loadAddon();
  if (!loaded.ok) throw new Error(`cannot change the daemon's priority: ${loaded.reason}`);
  return addonSyscalls(loaded.addon);
}

let raisedWith: Syscalls | undefined;

/** Puts every thread of this process on SCHED_FIFO at `priority`. Returns the tids changed. */
export function raiseToRealtime(
  priority: number,
  syscalls: Syscalls = defaultSyscalls(),
): number[] {
  if (!Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY) {
    throw new RangeError(
      `real-time priority must be an integer in ${MIN_PRIORITY}..${MAX_PRIORITY}, got ${priority}`,
    );
  }
  const changed: number[] = [];
  for (const tid of threadsOf(process.pid)) {
    try {
      syscalls.setAttr(tid, {
        ...baseAttr(),
        policy: SCHED_FIFO,
        priority,
        flags: SCHED_FLAG_RESET_ON_FORK,
      });
      changed.push(tid);
    } catch (err) {
      // A thread that exited between the listing and the call is not an error.
      if ((err as { code?: unknown }).code !== "ESRCH") throw err;
    }
  }
  raisedWith = syscalls;
  return changed;
}

/** Puts every thread of this process back on SCHED_OTHER nice 0. */
export function restoreSelf(syscalls: Syscalls | undefined = raisedWith): void {
  const sc = syscalls ?? defaultSyscalls();
  for (const tid of threadsOf(process.pid)) {
    try {
      sc.setAttr(tid, baseAttr());
    } catch (err) {
      if ((err as { code?: unknown }).code !== "ESRCH") throw err;
    }
  }
  raisedWith = undefined;
}
