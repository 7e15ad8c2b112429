/**
 * Puts every task in a touched-task record back on SCHED_OTHER, nice 0:
 * what the guardian does when the daemon dies, and what `alps restore` does
 * by hand. Only a task that is still the one recorded (same start time) is
 * changed; a recycled tid belongs to someone else and is left alone.
 */
import { existsSync, unlinkSync } from "node:fs";
import { UsageError } from "../../errors.js";
import { errorCode, errorMessage } from "../../host/errno.js";
import { taskStartTime } from "../../host/proc-task.js";
import { baseAttr, type Syscalls } from "../../host/syscalls-types.js";
import { isSameTask, readTouchedRecord, type TouchedEntry, writeTouchedRecord } from "./touched.js";

/** The two syscalls restoring needs: any Syscalls implementation fits. */
export type RestoreSyscalls = Pick<Syscalls, "setAttr" | "setNice">;

export interface RestoreFailure {
  tid: number;
  /** errno name (EPERM...) or the error's message. */
  error: string;
}

export interface RestoreResult {
  /** Tasks put back on SCHED_OTHER nice 0. */
  restored: number;
  /** Recorded tasks that no longer exist. */
  gone: number;
  /** Recorded tids now used by a different task (start time differs): not touched. */
  recycled: number;
  /** Tasks that could not be restored; they stay in the record for a retry. */
  failed: RestoreFailure[];
  /** The record's owner (the daemon) was still running when this ran. */
  ownerAlive: boolean;
}

/**
 * Restores one recorded task. The start time is checked right before the
 * syscalls; the window between check and change is microseconds, far below
 * the time a tid takes to be recycled (the whole pid space must wrap).
 */
export function restoreTask(
  entry: TouchedEntry,
  syscalls: RestoreSyscalls,
): "restored" | "gone" | "recycled" | RestoreFailure {
  const startTime = taskStartTime(entry.tid);
  if (startTime === undefined) return "gone";
  if (startTime !== entry.startTime) return "recycled";
  try {
    // sched_setattr first: it leaves SCHED_FIFO/RR and clears
    // SCHED_RESET_ON_FORK and a requested slice; setpriority then makes
    // nice 0 explicit even where the attr's nice was ignored.
    syscalls.setAttr(entry.tid, baseAttr());
    syscalls.setNice(entry.tid, 0);
    return "restored";
  } catch (error) {
    const code = errorCode(error);
    if (code === "ESRCH") return "gone";
    return { tid: entry.tid, error: code ?? errorMessage(error) };
  }
}

/**
 * Restores every task of the record in `file` and then clears the record,
 * keeping only the tasks that failed (so a later run can retry them); an
 * emptied record is deleted.
 * A missing file means there is nothing to restore. Refuses (UsageError)
 * while the daemon that owns the record is alive, unless `force`.
 */
export function restoreTasks(
  file: string,
  syscalls: RestoreSyscalls,
  opts: { force?: boolean } = {},
): RestoreResult {
  const record = readTouchedRecord(file);
  const ownerAlive =
    record.owner !== undefined && record.owner.tid !== process.pid && isSameTask(record.owner);
  // Restoring under a running daemon would fight it (it re-applies levels)
  // and detach its record file; it is allowed only when asked for.
  if (ownerAlive && opts.force !== true) {
    throw new UsageError(
      `${file} belongs to alps process ${record.owner?.tid}, which is still running; stop it (it restores its tasks itself) or use --force`,
    );
  }
  const result: RestoreResult = { restored: 0, gone: 0, recycled: 0, failed: [], ownerAlive };
  const kept: TouchedEntry[] = [];
  for (const entry of record.entries) {
    const outcome = restoreTask(entry, syscalls);
    if (typeof outcome === "object") {
      result.failed.push(outcome);
      kept.push(entry);
    } else {
      result[outcome]++;
    }
  }
  // Cleared: an empty record is deleted (the next daemon starts clean and a
  // guardian still watching it knows its job is over); failures stay.
  if (kept.length > 0) writeTouchedRecord(file, record.owner, kept);
  else if (existsSync(file)) unlinkSync(file);
  return result;
}
