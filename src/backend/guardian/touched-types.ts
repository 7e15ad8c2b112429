/**
 * Every task whose scheduling alps changes is recorded here before the
 * change and released after it is undone. The record survives the daemon
 * (a file under the state directory), so the guardian or `alps restore` can
 * put each task back on SCHED_OTHER, nice 0 after a SIGKILL or crash
 * (safety invariant 3, docs/safety.md).
 */
export interface TouchedTasks {
  /** Record `tid` before changing it. Cheap and idempotent. */
  mark(tid: number): void;
  /** `tid` is back to SCHED_OTHER nice 0 (or gone). */
  release(tid: number): void;
  /** Tasks currently recorded. */
  list(): number[];
  /**
   * Record the cpu cgroup `dir` (its weight and idle flag as they are now)
   * before alps first changes them; put back by restore.
   */
  markCgroup?(dir: string): void;
  /** `dir` has its original weight and idle flag again (or is gone). */
  releaseCgroup?(dir: string): void;
  /** Cgroups currently recorded. */
  cgroups?(): string[];
}
