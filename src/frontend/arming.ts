/**
 * When an idle daemon must wake (docs/safety.md, "the guardian"): the
 * guardian's 1 s stopped-daemon bound matters only while something alps
 * changed is on the host, and every such change is written to the
 * touched-task record before it is made (safety invariant 3). So the record
 * is where the daemon arms: `armingRecord` wraps it, and the mark that
 * takes it from empty to non-empty calls `onArm` after the entry is written
 * and before it returns, i.e. before the caller changes the task or cgroup.
 * The daemon's `onArm` puts its tick back on the fast period and, if its
 * last heartbeat said idle, sends a heartbeat at once: from then on the
 * guardian allows 1 s of silence (it allows its idle silence only after an
 * idle beat, while the record is empty). API start, sandbox bursts from the BPF
 * backend, SFS mode, policy pushes and the re-apply after a guardian
 * restore all change the host through the record, so all arm here.
 */
import type { TouchedRecorder } from "../backend/guardian/touched-types.js";

export interface ArmingRecord {
  /** Nothing recorded (no task, no cgroup): the daemon may go idle. */
  readonly empty: boolean;
  /** Times the record went from empty to non-empty (each one an immediate heartbeat). */
  readonly arms: number;
}

/**
 * `record` with `mark` and `markCgroup` arming on the first entry, and the
 * releases noticing when it is empty again. The result keeps every other
 * member of `record` (its getters included: `record` is its prototype).
 */
export function armingRecord<T extends TouchedRecorder>(
  record: T,
  onArm: () => void,
): T & ArmingRecord {
  let empty = record.list().length === 0 && record.cgroups().length === 0;
  let arms = 0;
  const arm = (write: () => void): void => {
    if (!empty) return write();
    // Throws (RecordError) before anything is recorded: then nothing is
    // changed either, and the record stays empty.
    write();
    empty = false;
    arms++;
    onArm();
  };
  // Exact, not lazy: a record that emptied between two heartbeats must arm
  // again on its next mark (the guardian may have read it empty).
  const recheck = (): void => {
    empty = record.list().length === 0 && record.cgroups().length === 0;
  };
  const wrapped = Object.create(record) as T & ArmingRecord;
  Object.defineProperties(wrapped, {
    mark: { value: (tid: number) => arm(() => record.mark(tid)) },
    markCgroup: { value: (dir: string) => arm(() => record.markCgroup(dir)) },
    release: {
      value: (tid: number) => {
        record.release(tid);
        recheck();
      },
    },
    releaseCgroup: {
      value: (dir: string) => {
        record.releaseCgroup(dir);
        recheck();
      },
    },
    empty: { get: () => empty },
    arms: { get: () => arms },
  });
  return wrapped;
}
