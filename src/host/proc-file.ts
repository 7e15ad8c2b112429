/**
 * Reading a small /proc file on the hot path (an invocation's start, a
 * sensor's poll). `readFileSync` stats the file first and, as /proc reports
 * size 0, reads it through a growing buffer: on this host that was 184 µs
 * median for /proc/<pid>/schedstat from a process that had slept a few ms,
 * against 62 µs for open + read + close into a reused buffer.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { isGone } from "./errno.js";

const CHUNK = 4096;
const buffer = Buffer.alloc(CHUNK);

/**
 * A task's one-record files: the kernel writes each (proc_single_show) whole
 * into one read that has room for it, regenerated at every read from offset
 * 0, so a descriptor kept open reads it anew with one pread.
 */
const ONE_RECORD = /^\/proc\/\d+(?:\/task\/\d+)?\/(?:stat|status|cgroup|schedstat)$/;

/**
 * Descriptors of one-record files kept open between reads, least recently
 * used first. A warm worker's files are read at each of its invocations'
 * start and end: kept, each read is one system call instead of four (open,
 * read, the read that finds the end, close). System calls are a large part
 * of an invocation's cost to the daemon on this kind of host (docs/results.md,
 * "Daemon cost": 37 per invocation before, 21.5 after). A kept descriptor
 * stays bound to the task it was opened for: once that task is gone it
 * reads ESRCH, never a new task that reuses the pid, and is then closed
 * and the path opened again.
 */
const kept = new Map<string, number>();
const KEPT_MAX = 128;

/**
 * One registration reads a task's /proc files from several rules: the pid
 * rule (its cgroup, its parent), the touched record (its start time, policy
 * and nice before alps changes them), the weight target (its cgroup again,
 * its session, the parents of its group's processes). Each open of a fresh
 * pid's file instantiates its /proc inode, and `/proc/<pid>/cgroup` waits
 * for the cgroup mutex, which a concurrent move into a cgroup holds through
 * an RCU grace period. Inside `withProcSnapshot` each path is read once and
 * every rule sees the same text: one view of the task, taken at the start
 * of the request.
 */
let snapshot: Map<string, string> | undefined;

/**
 * Runs `fn` with every readProcFile of it served from one read per path.
 * Only for a short synchronous turn whose reads need not see changes made
 * during it (a nice level alps writes is not read back). Nested calls share
 * the outer snapshot.
 */
export function withProcSnapshot<T>(fn: () => T): T {
  if (snapshot !== undefined) return fn();
  snapshot = new Map();
  try {
    return fn();
  } finally {
    snapshot = undefined;
  }
}

/** The file's text (latin1: /proc files are ASCII). Throws like readFileSync (ENOENT, ESRCH…). */
export function readProcFile(path: string): string {
  if (snapshot === undefined) return readOnce(path);
  let text = snapshot.get(path);
  if (text === undefined) snapshot.set(path, (text = readOnce(path)));
  return text;
}

function readOnce(path: string): string {
  if (!ONE_RECORD.test(path)) return readToEnd(path);
  const old = kept.get(path);
  if (old !== undefined) {
    kept.delete(path);
    const text = readOneRecord(old, path);
    if (text !== undefined) return text;
  }
  return readOneRecord(openSync(path, "r"), path) ?? readToEnd(path);
}

/**
 * The file's text from `fd` at offset 0, the descriptor then kept; undefined
 * (and `fd` closed) when it named a task now gone or did not fit the buffer,
 * for the caller to read the path anew. Other errors close it and throw.
 */
function readOneRecord(fd: number, path: string): string | undefined {
  let n: number;
  try {
    n = readSync(fd, buffer, 0, CHUNK, 0);
  } catch (error) {
    closeSync(fd);
    if (isGone(error)) return undefined;
    throw error;
  }
  if (n === CHUNK) {
    closeSync(fd);
    return undefined;
  }
  kept.set(path, fd);
  if (kept.size > KEPT_MAX) {
    const [oldest, oldFd] = kept.entries().next().value as [string, number];
    kept.delete(oldest);
    closeSync(oldFd);
  }
  return buffer.toString("latin1", 0, n);
}

/** Any file, opened, read to its end and closed. */
function readToEnd(path: string): string {
  const fd = openSync(path, "r");
  try {
    let text = "";
    for (;;) {
      // Until end of file: a multi-record seq_file may return less than asked before its end.
      const n = readSync(fd, buffer, 0, CHUNK, null);
      if (n === 0) return text;
      text += buffer.toString("latin1", 0, n);
    }
  } finally {
    closeSync(fd);
  }
}
