/**
 * What the daemon reads of a process in /proc: its CPU and run-queue wait
 * time (schedstat, ns precision), its parent and its start time (stat).
 * Every reader returns undefined when the task is gone, never throws for that.
 */
import { isGone } from "./errno.js";
import { readProcFile } from "./proc-file.js";
import { parseSchedstat, parseStat } from "./proc-stat.js";

function readOrUndefined(path: string): string | undefined {
  try {
    return readProcFile(path);
  } catch {
    return undefined;
  }
}

/** /proc/<pid>/schedstat: time on CPU and time runnable-but-waiting, ms. */
export function readSchedstat(pid: number): { cpuMs: number; waitMs: number } | undefined {
  const text = readOrUndefined(`/proc/${pid}/schedstat`);
  if (text === undefined) return undefined;
  const { cpuNs, waitNs } = parseSchedstat(text);
  if (!Number.isFinite(cpuNs) || !Number.isFinite(waitNs)) return undefined;
  return { cpuMs: cpuNs / 1e6, waitMs: waitNs / 1e6 };
}

/** Parent pid from /proc/<pid>/stat. */
export function readParentPid(pid: number): number | undefined {
  const text = readOrUndefined(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  let ppid: number;
  try {
    ppid = parseStat(text).ppid;
  } catch {
    return undefined;
  }
  return Number.isInteger(ppid) ? ppid : undefined;
}

/** Real, effective, saved and filesystem uid of `pid` (the `Uid:` line of /proc/<pid>/status). */
export function readUids(pid: number): [number, number, number, number] | undefined {
  const text = readOrUndefined(`/proc/${pid}/status`);
  if (text === undefined) return undefined;
  const at = text.indexOf("\nUid:");
  if (at < 0) return undefined;
  const line = text.slice(at + 5, text.indexOf("\n", at + 5));
  const ids = line.trim().split(/\s+/).map(Number);
  if (ids.length !== 4 || !ids.every(Number.isInteger)) return undefined;
  return ids as [number, number, number, number];
}

/** Is `pid` `ancestor` or one of its descendants? Walks the ppid chain (bounded). */
export function isSelfOrDescendant(pid: number, ancestor: number): boolean {
  let current: number | undefined = pid;
  for (let hops = 0; hops < 4096 && current !== undefined && current > 0; hops++) {
    if (current === ancestor) return true;
    if (current === 1) return false;
    current = readParentPid(current);
  }
  return false;
}

/**
 * Start time of a task (stat field 22, clock ticks after boot), or
 * undefined when it is gone: with the tid, it names one task even after the
 * kernel recycles the tid.
 */
export function taskStartTime(tid: number): number | undefined {
  let text: string;
  try {
    text = readProcFile(`/proc/${tid}/stat`);
  } catch (error) {
    if (isGone(error)) return undefined;
    throw error;
  }
  let value: number;
  try {
    value = parseStat(text).startTime;
  } catch {
    value = Number.NaN;
  }
  if (!Number.isSafeInteger(value)) throw new Error(`/proc/${tid}/stat has no start time`);
  return value;
}
