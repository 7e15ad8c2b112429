/**
 * The in-memory record of touched tasks: what a backend or the actuator
 * uses when the daemon gives it no persistent one (tests, benches,
 * `alps replay`). It does not survive a crash; the daemon passes the
 * persistent record instead.
 */
import type { TouchedTasks } from "./touched-types.js";

export function createMemoryTouched(): TouchedTasks {
  const tids = new Set<number>();
  const dirs = new Set<string>();
  return {
    mark: (tid) => void tids.add(tid),
    release: (tid) => void tids.delete(tid),
    list: () => [...tids],
    markCgroup: (dir) => void dirs.add(dir),
    releaseCgroup: (dir) => void dirs.delete(dir),
    cgroups: () => [...dirs],
  };
}
