/**
 * What the daemon reads of a task in /proc: its CPU and run-queue wait time
 * (schedstat, ns precision), its parent (stat) and its cgroup v2 path.
 * Every reader returns undefined when the task is gone, never throws for that.
 */
import { readProcFile } from "../backend/proc-file.js";

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
  const [run, wait] = text.trim().split(/\s+/).map(Number);
  if (run === undefined || wait === undefined || !Number.isFinite(run) || !Number.isFinite(wait))
    return undefined;
  return { cpuMs: run / 1e6, waitMs: wait / 1e6 };
}

/** Parent pid from /proc/<pid>/stat (the comm field may contain spaces and parens). */
export function readParentPid(pid: number): number | undefined {
  const text = readOrUndefined(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  const close = text.lastIndexOf(")");
  const fields = text.slice(close + 2).split(" ");
  const ppid = Number(fields[1]);
  return Number.isInteger(ppid) ? ppid : undefined;
}

/** The task's cgroup v2 path (the `0::` line of /proc/<pid>/cgroup), e.g. "/alps/fn-a". */
export function readCgroupV2Path(pid: number): string | undefined {
  const text = readOrUndefined(`/proc/${pid}/cgroup`);
  if (text === undefined) return undefined;
  const line = text.split("\n").find((l) => l.startsWith("0::"));
  return line?.slice(3);
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

/** Where the cgroup v2 hierarchy is mounted (first cgroup2 entry of /proc/self/mountinfo). */
export function cgroupV2Mount(): string | undefined {
  const text = readOrUndefined("/proc/self/mountinfo");
  if (text === undefined) return undefined;
  for (const line of text.split("\n")) {
    const [left, right] = line.split(" - ");
    if (right?.startsWith("cgroup2 ")) return left?.split(" ")[4];
  }
  return undefined;
}

/** Absolute cgroup v2 directory of `pid`, or undefined. */
export function cgroupDirOf(
  pid: number,
  mount: string | undefined = cgroupV2Mount(),
): string | undefined {
  const rel = readCgroupV2Path(pid);
  if (rel === undefined || mount === undefined) return undefined;
  return rel === "/" ? mount : `${mount}${rel}`;
}
