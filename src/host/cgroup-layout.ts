/**
 * Sandboxes as the platforms lay them out: each one a cpu cgroup of its own
 * (Docker gives every OpenWhisk container one, OpenLambda makes one per
 * sandbox), so the kernel schedules it as a group with its own weight.
 *
 * Where the cpu controller lives decides the layout:
 * - hybrid host (v1 controllers beside a v2 hierarchy without `cpu`, like
 *   this one): the sandbox is a directory in the v1 `cpu` hierarchy, and a
 *   directory of the same name in the v2 hierarchy too, because alps's BPF
 *   side maps a task to its sandbox by its v2 cgroup id;
 * - pure v2 host: one v2 directory, with `cpu` enabled in its parents'
 *   cgroup.subtree_control.
 * Shared by the replay (which builds such sandboxes) and anything that must
 * say which entity carries a sandbox's weight.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, normalize, relative } from "node:path";
import { cgroup2Mount, cgroup2MountIfAny, cgroupPids, parseV1CpuMount } from "./cgroups.js";
import { errorCode } from "./errno.js";

/** Where the cpu controller is on this host. */
export type CpuControllerHome =
  | { version: 1; mount: string }
  | { version: 2; mount: string }
  | { version: "none"; reason: string };

/** How sandboxes are laid out: `cpu` = a cpu cgroup each (as platforms do), `none` = v2 directories only. */
export type SandboxCgroupLayout = "cpu" | "none";
export const SANDBOX_CGROUP_LAYOUTS: readonly SandboxCgroupLayout[] = ["cpu", "none"];

/**
 * From mountinfo and the v2 root's cgroup.controllers: v1 `cpu` when it is
 * mounted (a controller lives in one hierarchy only), else v2 when its root
 * offers `cpu`.
 */
export function parseCpuControllerHome(
  mountinfo: string,
  v2Mount: string | undefined,
  v2RootControllers: string | undefined,
): CpuControllerHome {
  const v1 = parseV1CpuMount(mountinfo);
  if (v1 !== undefined) return { version: 1, mount: v1 };
  if (v2Mount !== undefined && (v2RootControllers ?? "").split(/\s+/).includes("cpu"))
    return { version: 2, mount: v2Mount };
  return {
    version: "none",
    reason:
      v2Mount === undefined
        ? "no v1 cpu hierarchy and no cgroup v2 mounted"
        : `no v1 cpu hierarchy, and ${v2Mount}/cgroup.controllers does not offer cpu`,
  };
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

export function cpuControllerHome(): CpuControllerHome {
  const v2 = cgroup2MountIfAny();
  return parseCpuControllerHome(
    readFileSync("/proc/self/mountinfo", "utf8"),
    v2,
    v2 === undefined ? undefined : readOrUndefined(join(v2, "cgroup.controllers")),
  );
}

/**
 * One sandbox's cgroups. `v2` is what alps keys a sandbox by (POST
 * /v1/sandboxes, the BPF cgroup map); `cpu`, when set, is the directory whose
 * weight the scheduler uses for the sandbox (the v1 cpu cgroup, or `v2`
 * itself on a pure v2 host).
 */
export interface SandboxCgroup {
  v2: string;
  cpu?: string;
}

/** `rel` below `mount`, refusing paths that climb out of it. */
function inside(mount: string, rel: string): string {
  const abs = normalize(join(mount, rel));
  const r = relative(mount, abs);
  if (r === "" || r.startsWith("..") || isAbsolute(r))
    throw new RangeError(`cgroup path ${JSON.stringify(rel)} must name a directory below ${mount}`);
  return abs;
}

/** Enables `cpu` for the children of every directory from the v2 mount down to `dir`'s parent. */
function enableV2Cpu(mount: string, dir: string): void {
  const chain: string[] = [];
  for (let d = dirname(dir); d.length >= mount.length; d = dirname(d)) {
    chain.unshift(d);
    if (d === mount) break;
  }
  for (const d of chain) {
    const control = join(d, "cgroup.subtree_control");
    if ((readOrUndefined(control) ?? "").split(/\s+/).includes("cpu")) continue;
    writeFileSync(control, "+cpu\n");
  }
}

/**
 * Creates the sandbox `rel` (a path relative to each hierarchy's mount,
 * parents created as needed). Layout `none`: a v2 directory only.
 */
export function createSandboxCgroup(
  rel: string,
  layout: SandboxCgroupLayout,
  home: CpuControllerHome = cpuControllerHome(),
): SandboxCgroup {
  const v2Mount = cgroup2Mount();
  const v2 = inside(v2Mount, rel);
  if (layout === "none") {
    mkdirSync(v2, { recursive: true });
    return { v2 };
  }
  if (home.version === "none")
    throw new Error(`sandboxes cannot be cpu cgroups on this host: ${home.reason}`);
  if (home.version === 2) {
    mkdirSync(dirname(v2), { recursive: true });
    enableV2Cpu(v2Mount, v2);
    mkdirSync(v2, { recursive: true });
    return { v2, cpu: v2 };
  }
  mkdirSync(v2, { recursive: true });
  const cpu = inside(home.mount, rel);
  mkdirSync(cpu, { recursive: true });
  return { v2, cpu };
}

/** The cgroup.procs files a task writes its pid to, to enter the sandbox (v2 first). */
export function sandboxProcsFiles(sandbox: SandboxCgroup): string[] {
  const files = [join(sandbox.v2, "cgroup.procs")];
  if (sandbox.cpu !== undefined && sandbox.cpu !== sandbox.v2)
    files.push(join(sandbox.cpu, "cgroup.procs"));
  return files;
}

/** Moves process `pid` (all its threads) into the sandbox. */
export function moveToSandbox(sandbox: SandboxCgroup, pid: number): void {
  if (!Number.isInteger(pid) || pid <= 0)
    throw new RangeError(`pid must be a positive integer, got ${pid}`);
  for (const file of sandboxProcsFiles(sandbox)) writeFileSync(file, `${pid}\n`);
}

/** The root of the hierarchy that holds `dir`: the mount among `mounts` that is its prefix. */
function mountOf(dir: string, mounts: readonly string[]): string {
  const found = mounts
    .filter((m) => dir === m || dir.startsWith(`${m}/`))
    .sort((a, b) => b.length - a.length)[0];
  if (found === undefined) throw new Error(`${dir} is in no known cgroup hierarchy`);
  return found;
}

/**
 * Removes one cgroup directory; tasks still inside are first moved to its
 * hierarchy's root (they keep running: killing them is the caller's call).
 */
export function removeCgroupDir(dir: string, hierarchyRoot: string): void {
  if (!existsSync(dir)) return;
  for (const pid of cgroupPids(dir)) {
    try {
      writeFileSync(join(hierarchyRoot, "cgroup.procs"), `${pid}\n`);
    } catch (error) {
      // Exited between the read and the move: nothing to move.
      if (errorCode(error) !== "ESRCH") throw error;
    }
  }
  rmdirSync(dir);
}

/** Removes the sandbox's directories (the cpu one first: it is the one that holds a weight). */
export function removeSandboxCgroup(
  sandbox: SandboxCgroup,
  home: CpuControllerHome = cpuControllerHome(),
): void {
  const mounts = [cgroup2Mount(), ...(home.version === 1 ? [home.mount] : [])];
  if (sandbox.cpu !== undefined && sandbox.cpu !== sandbox.v2)
    removeCgroupDir(sandbox.cpu, mountOf(sandbox.cpu, mounts));
  removeCgroupDir(sandbox.v2, mountOf(sandbox.v2, mounts));
}
