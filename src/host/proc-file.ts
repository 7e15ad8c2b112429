/**
 * Reading a small /proc file on the hot path (an invocation's start, a
 * sensor's poll). `readFileSync` stats the file first and, as /proc reports
 * size 0, reads it through a growing buffer: on this host that was 184 µs
 * median for /proc/<pid>/schedstat from a process that had slept a few ms,
 * against 62 µs for open + read + close into a reused buffer.
 */
import { closeSync, openSync, readSync } from "node:fs";

const CHUNK = 4096;
const buffer = Buffer.alloc(CHUNK);

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
