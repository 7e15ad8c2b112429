/**
 * Puts every task and cpu cgroup in a touched-task record back as it was
 * when alps first changed it: a task's original policy, nice and real-time
 * priority, a cgroup's original weight and idle flag. What the guardian does
 * when the daemon dies or stops answering, what `alps restore` does by hand,
 * and what a restarted daemon does first. Only a task that is still the one
 * recorded (same start time), and a cgroup directory that is still the one
 * recorded (same inode), is changed; a recycled tid or path belongs to
 * someone else and is left alone.
 */
import { existsSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../../errors.js";
import { errorCode, errorMessage } from "../../host/errno.js";
import { baseAttr, type SchedAttr, type Syscalls } from "../../host/syscalls-types.js";
import {
  autogroupMember,
  isSameTask,
  readTouchedRecord,
  type TouchedCgroup,
  type TouchedEntry,
  type TouchedRecord,
  writeTouchedRecord,
} from "./touched.js";
import { taskStartTime } from "../../host/proc-task.js";
import type { CgroupOriginal, TaskOriginal } from "./touched-types.js";

/** The two syscalls restoring needs: any Syscalls implementation fits. */
export type RestoreSyscalls = Pick<Syscalls, "setAttr" | "setNice">;

export interface RestoreFailure {
  tid: number;
  /** errno name (EPERM...) or the error's message. */
  error: string;
}

export interface CgroupRestoreFailure {
  dir: string;
  error: string;
}

export interface CgroupRestoreResult {
  /** Cgroups whose weight and idle flag were put back. */
  restored: number;
  /** Recorded directories that no longer exist. */
  gone: number;
  /** Recorded paths now naming another cgroup (inode differs): not touched. */
  recycled: number;
  failed: CgroupRestoreFailure[];
}

export interface RestoreResult {
  /** Tasks put back as they were. */
  restored: number;
  /** Recorded tasks that no longer exist. */
  gone: number;
  /** Recorded tids now used by a different task (start time differs): not touched. */
  recycled: number;
  /** Tasks that could not be restored; they stay in the record for a retry. */
  failed: RestoreFailure[];
  /** The record's owner (the daemon) was still running when this ran. */
  ownerAlive: boolean;
  cgroups: CgroupRestoreResult;
}

/** The errno name of an error, or its message. */
function errorName(error: unknown): string {
  return errorCode(error) ?? errorMessage(error);
}

/** The sched_setattr that puts a task back as `original` (SCHED_OTHER nice 0 when unknown). */
export function originalAttr(original: TaskOriginal | undefined): SchedAttr {
  if (original === undefined) return baseAttr();
  return {
    ...baseAttr(),
    policy: original.policy,
    nice: original.nice,
    priority: original.rtPriority,
  };
}

/**
 * Puts task `tid` back as `original` (SCHED_OTHER nice 0 when unknown).
 * sched_setattr first: it sets the policy (leaving SCHED_FIFO/RR when the
 * task was not real-time) and clears SCHED_RESET_ON_FORK and a requested
 * slice; setpriority then sets the nice, which sched_setattr ignores for
 * SCHED_IDLE and the real-time policies.
 */
export function putTaskBack(
  tid: number,
  original: TaskOriginal | undefined,
  syscalls: RestoreSyscalls,
): void {
  syscalls.setAttr(tid, originalAttr(original));
  syscalls.setNice(tid, original?.nice ?? 0);
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
    putTaskBack(entry.tid, entry.original, syscalls);
    return "restored";
  } catch (error) {
    const code = errorName(error);
    if (code === "ESRCH") return "gone";
    return { tid: entry.tid, error: code };
  }
}

/**
 * Writes a cpu cgroup's original weight and idle flag back (for the lead's
 * actuator and for restoring). The idle flag goes first: a cgroup leaving
 * cpu.idle = 1 gets its weight back in the same breath. Returns "gone" when
 * the directory no longer exists and "recycled" when the path now names a
 * cgroup created since (another inode), which is left alone.
 */
export function restoreCgroup(
  dir: string,
  original: CgroupOriginal,
): "restored" | "gone" | "recycled" | CgroupRestoreFailure {
  if (original.kind === "autogroup") return restoreAutogroup(dir, original);
  let ino: bigint;
  try {
    ino = statSync(dir, { bigint: true }).ino;
  } catch (error) {
    if (errorCode(error) === "ENOENT") return "gone";
    return { dir, error: errorName(error) };
  }
  if (ino !== original.ino) return "recycled";
  try {
    // The kernel refuses a weight while the group is idle (EINVAL): leave
    // idle first, write the weight, and make it idle again only if it was.
    const idleFile = join(dir, "cpu.idle");
    if (original.idle !== undefined) writeFileSync(idleFile, "0\n");
    writeFileSync(
      join(dir, original.kind === "v2" ? "cpu.weight" : "cpu.shares"),
      `${original.weight}\n`,
    );
    if (original.idle === 1) writeFileSync(idleFile, "1\n");
    return "restored";
  } catch (error) {
    const code = errorName(error);
    // Removed between the stat and the write.
    if (code === "ENOENT" || code === "ENODEV") return "gone";
    return { dir, error: code };
  }
}

/** An autogroup's nice back, through a member that is still the one recorded (same start time). */
function restoreAutogroup(
  dir: string,
  original: CgroupOriginal,
): "restored" | "gone" | "recycled" | CgroupRestoreFailure {
  const member = autogroupMember(dir);
  if (member === undefined) return { dir, error: "not an autogroup path" };
  const start = taskStartTime(member);
  if (start === undefined) return "gone";
  if (BigInt(start) !== original.ino) return "recycled";
  try {
    writeFileSync(dir, `${original.weight}\n`);
    return "restored";
  } catch (error) {
    const code = errorName(error);
    if (code === "ENOENT" || code === "ESRCH") return "gone";
    return { dir, error: code };
  }
}

/** What restoring a set of entries leaves: the result, and what must stay recorded (the failures). */
export interface RestoredEntries {
  result: Omit<RestoreResult, "ownerAlive">;
  keptTasks: TouchedEntry[];
  keptCgroups: TouchedCgroup[];
}

/** Restores every task and cgroup given (the guardian keeps them in memory; `restoreTasks` reads a file). */
export function restoreEntries(
  entries: Iterable<TouchedEntry>,
  cgroups: Iterable<TouchedCgroup>,
  syscalls: RestoreSyscalls,
): RestoredEntries {
  const result: RestoredEntries["result"] = {
    restored: 0,
    gone: 0,
    recycled: 0,
    failed: [],
    cgroups: { restored: 0, gone: 0, recycled: 0, failed: [] },
  };
  const keptTasks: TouchedEntry[] = [];
  const keptCgroups: TouchedCgroup[] = [];
  for (const entry of entries) {
    const outcome = restoreTask(entry, syscalls);
    if (typeof outcome === "object") {
      result.failed.push(outcome);
      keptTasks.push(entry);
    } else result[outcome]++;
  }
  for (const cgroup of cgroups) {
    const outcome = restoreCgroup(cgroup.dir, cgroup.original);
    if (typeof outcome === "object") {
      result.cgroups.failed.push(outcome);
      keptCgroups.push(cgroup);
    } else result.cgroups[outcome]++;
  }
  return { result, keptTasks, keptCgroups };
}

/** Clears a record after a restore: keeps only what failed (for a retry); an emptied record is deleted. */
export function clearRecord(
  file: string,
  owner: TouchedRecord["owner"],
  keptTasks: TouchedEntry[],
  keptCgroups: TouchedCgroup[],
): void {
  if (keptTasks.length > 0 || keptCgroups.length > 0)
    writeTouchedRecord(file, owner, keptTasks, keptCgroups);
  else if (existsSync(file)) unlinkSync(file);
}

/**
 * Restores every task and cgroup of the record in `file` and then clears the
 * record, keeping only what failed (so a later run can retry it); an emptied
 * record is deleted. A missing file means there is nothing to restore.
 * Refuses (UsageError) while the daemon that owns the record is alive,
 * unless `force`.
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
  const { result, keptTasks, keptCgroups } = restoreEntries(
    record.entries,
    record.cgroups,
    syscalls,
  );
  // Cleared: an empty record is deleted (the next daemon starts clean and a
  // guardian still watching it knows its job is over); failures stay.
  clearRecord(file, record.owner, keptTasks, keptCgroups);
  return { ...result, ownerAlive };
}
