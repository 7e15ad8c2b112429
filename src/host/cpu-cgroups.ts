/**
 * Where the cpu controller lives on this host and which cpu group a task is
 * in. The fair class compares weights only among the entities of one group,
 * so these are the facts that decide where a level must be written
 * (src/backend/actuator/weight-targets.ts) and what `alps doctor` reports.
 *
 * - Hybrid or v1 hosts: a v1 hierarchy carries `cpu` (possibly co-mounted,
 *   e.g. `cpu,cpuacct`); a task's group is its path there.
 * - Pure v2 hosts: cpu is a v2 controller; a task's group is the nearest
 *   directory (its own or an ancestor, never the root) whose
 *   `cgroup.controllers` lists cpu.
 * - Tasks in the root group of a host with `kernel.sched_autogroup_enabled`
 *   are grouped by session (autogroup).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { decodeMountinfo, parseCgroup2Mount } from "./cgroups.js";

/** Where the cpu controller lives on this host, and whether autogroup is on. */
export interface CpuHierarchy {
  /** Mount point of the cgroup v1 hierarchy that has the cpu controller (hybrid and v1 hosts). */
  v1?: string | undefined;
  /** Mount point of cgroup v2, when the cpu controller is on v2 (`cgroup.controllers` of its root lists cpu). */
  v2?: string | undefined;
  /** /proc/sys/kernel/sched_autogroup_enabled is 1. */
  autogroup: boolean;
}

/** Parses /proc/self/mountinfo: the v1 hierarchy with `cpu` and the cgroup2 mount. */
export function parseCpuMounts(mountinfo: string): { v1?: string; v2?: string } {
  const found: { v1?: string; v2?: string } = {};
  const v2 = parseCgroup2Mount(mountinfo);
  if (v2 !== undefined) found.v2 = v2;
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const [fstype, , superOpts = ""] = line.slice(sep + 3).split(" ");
    if (fstype !== "cgroup" || !superOpts.split(",").includes("cpu")) continue;
    const mountPoint = decodeMountinfo(line.slice(0, sep).split(" ")[4] ?? "");
    if (mountPoint === "") continue;
    found.v1 = mountPoint;
    break;
  }
  return found;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}

/** This host's cpu hierarchy, read from /proc (not cached: doctor and tests call it once). */
export function readCpuHierarchy(): CpuHierarchy {
  const mounts = parseCpuMounts(readOr("/proc/self/mountinfo", ""));
  const v2HasCpu =
    mounts.v2 !== undefined &&
    readOr(join(mounts.v2, "cgroup.controllers"), "").trim().split(/\s+/).includes("cpu");
  return {
    v1: mounts.v1,
    // A v1 cpu hierarchy takes the controller: v2 cannot have it at the same time.
    v2: mounts.v1 === undefined && v2HasCpu ? mounts.v2 : undefined,
    autogroup: readOr("/proc/sys/kernel/sched_autogroup_enabled", "0").trim() === "1",
  };
}

/** One line of /proc/<pid>/cgroup: `id:controllers:path`. */
export interface ProcCgroupLine {
  controllers: string[];
  path: string;
}

export function parseProcCgroup(text: string): ProcCgroupLine[] {
  const lines: ProcCgroupLine[] = [];
  for (const line of text.split("\n")) {
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    lines.push({
      controllers: controllers === "" ? [] : controllers.split(","),
      path: line.slice(second + 1),
    });
  }
  return lines;
}

/** The cpu group a task is in: its directory, or null for the root group. */
export interface CpuGroup {
  dir: string | null;
  hierarchy: "v1" | "v2";
}

/**
 * The cpu group of task `tid` from its /proc cgroup text. On v1 that is the
 * path on the cpu hierarchy; on v2 it is the nearest directory (the task's
 * own or an ancestor, never the root) whose `cgroup.controllers` lists cpu,
 * since a directory without the controller shares its ancestor's group.
 */
export function cpuGroupFrom(
  procCgroup: string,
  h: CpuHierarchy,
  controllersOf: (dir: string) => string = (dir) => readOr(join(dir, "cgroup.controllers"), ""),
): CpuGroup | undefined {
  const lines = parseProcCgroup(procCgroup);
  if (h.v1 !== undefined) {
    const line = lines.find((l) => l.controllers.includes("cpu"));
    if (line === undefined) return undefined;
    return { dir: line.path === "/" ? null : join(h.v1, line.path), hierarchy: "v1" };
  }
  if (h.v2 !== undefined) {
    const line = lines.find((l) => l.controllers.length === 0);
    if (line === undefined) return undefined;
    let rel = line.path;
    while (rel !== "/" && rel !== "") {
      const dir = join(h.v2, rel);
      if (controllersOf(dir).trim().split(/\s+/).includes("cpu")) return { dir, hierarchy: "v2" };
      rel = rel.slice(0, rel.lastIndexOf("/")) || "/";
    }
    return { dir: null, hierarchy: "v2" };
  }
  return undefined;
}

/** Processes in cgroup `dir` and its descendants, or undefined past `max` of them (or unreadable). */
export function processesUnder(dir: string, max: number): number[] | undefined {
  const pids: number[] = [];
  const walk = (d: string): boolean => {
    let text: string;
    try {
      text = readFileSync(join(d, "cgroup.procs"), "utf8");
    } catch {
      return false;
    }
    for (const l of text.split("\n")) if (l !== "") pids.push(Number(l));
    if (pids.length > max) return false;
    let entries: string[];
    try {
      // A cgroup directory's link count is 2 + its child groups (kernfs keeps
      // it so, as tmpfs and ext4 do): at 2 there is nothing below to list.
      // Listing costs five syscalls and a Dirent per file (a v1 cpu group
      // has about 15), one stat is one, and this runs on every registration
      // that weights a sandbox. Any other count (a file system that reports
      // 1 for directories) is listed.
      if (statSync(d).nlink === 2) return true;
      entries = readdirSync(d, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return false;
    }
    return entries.every((name) => walk(join(d, name)));
  };
  return walk(dir) ? pids : undefined;
}
