/**
 * Every task whose scheduling alps changes is recorded here before the
 * change and released after it is undone. The record survives the daemon
 * (a file under the state directory), so the guardian or `alps restore` can
 * put each task back on SCHED_OTHER, nice 0 after a SIGKILL or crash
 * (DESIGN §6, invariant 3).
 */
export interface TouchedTasks {
  /** Record `tid` before changing it. Cheap and idempotent. */
  mark(tid: number): void;
  /** `tid` is back to SCHED_OTHER nice 0 (or gone). */
  release(tid: number): void;
  /** Tasks currently recorded. */
  list(): number[];
}
