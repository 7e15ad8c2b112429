/**
 * The few cgroup v2 facts adapters need: where v2 is mounted (read from
 * /proc/self/mountinfo, never guessed: /sys/fs/cgroup on pure v2 hosts,
 * /sys/fs/cgroup/unified on hybrid ones like this) and which v2 directory a
 * process is in (the "0::" line of /proc/<pid>/cgroup).
 */

import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

let cachedMount: string | undefined;

/** First cgroup2 mount point in mountinfo text, octal escapes decoded. */
export function findCgroup2Mount(mountinfo: string): string | undefined {
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0 || line.slice(sep + 3).split(" ")[0] !== "cgroup2") continue;
    const mountPoint = line.slice(0, sep).split(" ")[4];
    if (mountPoint) return decodeMountinfo(mountPoint);
  }
  return undefined;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
export function decodeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) =>
    String.fromCharCode(Number.parseInt(oct, 8)),
  );
}

export function cgroup2Mount(): string {
  if (cachedMount !== undefined) return cachedMount;
  const found = findCgroup2Mount(readFileSync("/proc/self/mountinfo", "utf8"));
  if (!found)
    throw new Error(
      "no cgroup2 filesystem is mounted (see /proc/self/mountinfo); platform adapters need cgroup v2",
    );
  cachedMount = found;
  return found;
}

/** The v2 path ("/system.slice/x.scope") in /proc/<pid>/cgroup text, if the process has one. */
export function parseV2Line(procCgroup: string): string | undefined {
  for (const line of procCgroup.split("\n")) {
    if (line.startsWith("0::")) return line.slice(3).trim();
  }
  return undefined;
}

/** Absolute cgroup v2 directory of process `pid`. Throws if the process is gone or has no v2 cgroup. */
export async function cgroupDirOfPid(pid: number, mount = cgroup2Mount()): Promise<string> {
  const text = await readFile(`/proc/${pid}/cgroup`, "utf8");
  const rel = parseV2Line(text);
  if (rel === undefined) throw new Error(`/proc/${pid}/cgroup has no cgroup v2 ("0::") line`);
  return join(mount, rel);
}
