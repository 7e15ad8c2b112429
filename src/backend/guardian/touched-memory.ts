/**
 * The in-memory record of touched tasks and cgroups: what a backend uses
 * when the daemon gives it no persistent one (tests, benches, `alps
 * replay`). It keeps the same originals as the file (read the same way, at
 * the first mark) but does not survive a crash; the daemon passes the
 * persistent record (touched.ts) instead.
 */
import { cgroupNow, inheritedOriginal, taskNow } from "./touched.js";
import type { CgroupOriginal, TaskOriginal, TouchedRecorder } from "./touched-types.js";

export function createMemoryTouched(): TouchedRecorder {
  // A tid is recorded even when /proc cannot tell its original (a task
  // already gone, a made-up tid in a test): restoring it then means
  // SCHED_OTHER nice 0, as a v1 record does.
  const tasks = new Map<number, TaskOriginal | undefined>();
  // Likewise a cgroup directory whose files cannot be read (a path a unit
  // test's injected files stand for): recorded, original unknown.
  const cgroups = new Map<string, CgroupOriginal | undefined>();
  return {
    mark(tid) {
      if (tasks.has(tid)) return;
      const now = taskNow(tid);
      tasks.set(
        tid,
        now === undefined
          ? undefined
          : (inheritedOriginal(tid, now.ppid, (t) => tasks.get(t)) ?? now.original),
      );
    },
    release: (tid) => void tasks.delete(tid),
    list: () => [...tasks.keys()],
    markCgroup(dir) {
      if (cgroups.has(dir)) return;
      let now: CgroupOriginal | undefined;
      try {
        now = cgroupNow(dir);
      } catch {
        now = undefined;
      }
      cgroups.set(dir, now);
    },
    releaseCgroup: (dir) => void cgroups.delete(dir),
    cgroups: () => [...cgroups.keys()],
    taskOriginal: (tid) => tasks.get(tid),
    cgroupOriginal: (dir) => cgroups.get(dir),
  };
}
