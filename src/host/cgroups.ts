/**
 * Where cgroup v2 is mounted, which v2 directory a process is in, and
 * function sandboxes as cgroup v2 directories. The BPF side maps a task to
 * its function by the id of its cgroup v2 directory, which is the directory's
 * inode number (kernfs node id), so `cgroupId` is just a stat.
 *
 * On hybrid hosts (this one) v2 is mounted at /sys/fs/cgroup/unified beside
 * the v1 controllers; on pure v2 hosts it is /sys/fs/cgroup. The mount is
 * read from /proc/self/mountinfo, never guessed.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isAbsolute, join, normalize, relative } from "node:path";
import { errorCode } from "./errno.js";
import { readProcFile } from "./proc-file.js";

let cachedMount: string | undefined;

/** mountinfo escapes space, tab, newline and backslash as \ooo (octal). */
export function decodeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) =>
    String.fromCharCode(Number.parseInt(oct, 8)),
  );
}

/** Parses mountinfo text; returns the first cgroup2 mount point, octal escapes decoded, if any. */
export function parseCgroup2Mount(mountinfo: string): string | undefined {
  for (const line of mountinfo.split("\n")) {
    // Fields: id parent maj:min root mountpoint opts [optional...] - fstype source superopts
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const fstype = line.slice(sep + 3).split(" ")[0];
    if (fstype !== "cgroup2") continue;
    const mountPoint = line.slice(0, sep).split(" ")[4];
    if (mountPoint) return decodeMountinfo(mountPoint);
  }
  return undefined;
}

/** The cgroup v2 mount point. Throws when this host has no cgroup v2 mounted. */
export function cgroup2Mount(): string {
  if (cachedMount !== undefined) return cachedMount;
  const found = parseCgroup2Mount(readFileSync("/proc/self/mountinfo", "utf8"));
  if (!found)
    throw new Error(
      "no cgroup2 filesystem is mounted (see /proc/self/mountinfo); alps sandboxes and platform adapters need cgroup v2",
    );
  cachedMount = found;
  return found;
}

/** The cgroup v2 mount point, or undefined when this host has none. */
export function cgroup2MountIfAny(): string | undefined {
  try {
    return cgroup2Mount();
  } catch {
    return undefined;
  }
}

/** The v2 path ("/system.slice/x.scope") in /proc/<pid>/cgroup text, if the process has one. */
export function parseV2Line(procCgroup: string): string | undefined {
  for (const line of procCgroup.split("\n")) {
    if (line.startsWith("0::")) return line.slice(3).trim();
  }
  return undefined;
}

/** Absolute cgroup v2 directory of `pid`, or undefined when it is gone or has no v2 path. */
export function cgroupDirOf(
  pid: number,
  mount: string | undefined = cgroup2MountIfAny(),
): string | undefined {
  if (mount === undefined) return undefined;
  let text: string;
  try {
    text = readProcFile(`/proc/${pid}/cgroup`);
  } catch {
    return undefined;
  }
  const rel = parseV2Line(text);
  if (rel === undefined) return undefined;
  return rel === "/" ? mount : `${mount}${rel}`;
}

/** Absolute cgroup v2 directory of process `pid`. Throws if the process is gone or has no v2 cgroup. */
export async function cgroupDirOfPid(pid: number, mount = cgroup2Mount()): Promise<string> {
  const text = await readFile(`/proc/${pid}/cgroup`, "utf8");
  const rel = parseV2Line(text);
  if (rel === undefined) throw new Error(`/proc/${pid}/cgroup has no cgroup v2 ("0::") line`);
  return join(mount, rel);
}

/** Resolves `relPath` inside the v2 mount, refusing paths that climb out of it. */
function resolveInside(relPath: string): string {
  const mount = cgroup2Mount();
  const abs = normalize(join(mount, relPath));
  const rel = relative(mount, abs);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
    throw new RangeError(
      `cgroup path ${JSON.stringify(relPath)} must name a directory below ${mount}`,
    );
  }
  return abs;
}

/** Creates (if needed) the cgroup v2 directory `relPath` below the mount; returns its absolute path. */
export function createCgroup(relPath: string): string {
  const abs = resolveInside(relPath);
  mkdirSync(abs, { recursive: true });
  return abs;
}

/** The cgroup id BPF sees for tasks in `absPath` (the directory's inode number). */
export function cgroupId(absPath: string): bigint {
  return statSync(absPath, { bigint: true }).ino;
}

/** Moves process `pid` (all its threads) into the cgroup. */
export function moveToCgroup(absPath: string, pid: number): void {
  if (!Number.isInteger(pid) || pid <= 0)
    throw new RangeError(`pid must be a positive integer, got ${pid}`);
  writeFileSync(join(absPath, "cgroup.procs"), `${pid}\n`);
}

/** Processes currently in the cgroup (not its descendants). */
export function cgroupPids(absPath: string): number[] {
  return readFileSync(join(absPath, "cgroup.procs"), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => Number(l));
}

/**
 * Removes the cgroup. rmdir fails while tasks are inside, so leftovers are
 * first moved to the mount's root cgroup (they keep running; killing them is
 * the caller's decision, not ours).
 */
export function removeCgroup(absPath: string): void {
  if (!existsSync(absPath)) return;
  const root = cgroup2Mount();
  for (const pid of cgroupPids(absPath)) {
    try {
      moveToCgroup(root, pid);
    } catch (err) {
      // The task exited between the read and the move: nothing to move.
      if (errorCode(err) !== "ESRCH") throw err;
    }
  }
  rmdirSync(absPath);
}
