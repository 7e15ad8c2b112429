/**
 * A sandbox laid out the way platforms lay it out: a cgroup of its own with
 * the cpu controller, so that the scheduler weighs it as one group against
 * the other sandboxes (Docker: one cpu cgroup per container; OpenLambda: one
 * per sandbox).
 *
 * - Pure cgroup v2 (cpu on v2): one directory, with `+cpu` enabled in the
 *   subtree_control of every ancestor up to the mount.
 * - Hybrid or v1 (cpu on a v1 hierarchy, as on this project's test hosts):
 *   a directory on the v1 cpu hierarchy for the weight, and one on the v2
 *   mount, which is where the BPF side reads a task's cgroup id. Docker and
 *   systemd do the same on such hosts.
 * Removing moves leftover processes to the hierarchy's root first (rmdir
 * fails on a populated cgroup), deepest directory first.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { isAbsolute, join, normalize, relative } from "node:path";
import { type CpuHierarchy, parseCpuMounts, readCpuHierarchy } from "./cpu-cgroups.js";

export interface CpuSandbox {
  /** The cgroup v2 directory the BPF side tracks (declare this one). */
  readonly v2Dir: string;
  /** The directory whose cpu.weight / cpu.shares weighs the sandbox. */
  readonly cpuDir: string;
  readonly hierarchy: "v1" | "v2";
  /** Move process `pid` (all its threads) into the sandbox, on both hierarchies. */
  add(pid: number): void;
}

function inside(mount: string, rel: string): string {
  const abs = normalize(join(mount, rel));
  const r = relative(mount, abs);
  if (r === "" || r.startsWith("..") || isAbsolute(r))
    throw new RangeError(`cgroup path ${JSON.stringify(rel)} must name a directory below ${mount}`);
  return abs;
}

/** Enable the cpu controller for the children of every directory from the mount down to `dir`'s parent. */
function enableCpuDown(mount: string, dir: string): void {
  const parts = relative(mount, dir).split("/").slice(0, -1);
  let at = mount;
  for (const part of ["", ...parts]) {
    at = part === "" ? at : join(at, part);
    const control = join(at, "cgroup.subtree_control");
    if (!readFileSync(control, "utf8").split(/\s+/).includes("cpu"))
      writeFileSync(control, "+cpu\n");
  }
}

/**
 * Layouts of sandboxes under one parent directory (relative to each
 * hierarchy's mount), so a run's sandboxes can be removed together.
 */
export class CpuSandboxes {
  readonly hierarchy: CpuHierarchy;
  readonly #v2Mount: string;
  readonly #parent: string;
  /** Directories created, in creation order (removed in reverse). */
  readonly #created: string[] = [];

  constructor(parent: string, hierarchy: CpuHierarchy = readCpuHierarchy()) {
    this.hierarchy = hierarchy;
    const v2 = parseCpuMounts(readFileSync("/proc/self/mountinfo", "utf8")).v2;
    if (v2 === undefined) throw new Error("no cgroup2 filesystem is mounted: sandboxes need one");
    if (hierarchy.v1 === undefined && hierarchy.v2 === undefined)
      throw new Error(
        "no cpu controller is available (neither a v1 cpu hierarchy nor cpu in the v2 root's cgroup.controllers)",
      );
    this.#v2Mount = v2;
    this.#parent = parent;
  }

  #mkdir(abs: string): void {
    if (existsSync(abs)) return;
    mkdirSync(abs, { recursive: false });
    this.#created.push(abs);
  }

  /** Create sandbox `name` (and the parent on first use). */
  create(name: string): CpuSandbox {
    const rel = `${this.#parent}/${name}`;
    const v2Parent = inside(this.#v2Mount, this.#parent);
    const v2Dir = inside(this.#v2Mount, rel);
    let cpuDir = v2Dir;
    let kind: "v1" | "v2" = "v2";
    if (this.hierarchy.v1 !== undefined) {
      this.#mkdir(v2Parent);
      this.#mkdir(v2Dir);
      const v1Mount = this.hierarchy.v1;
      this.#mkdir(inside(v1Mount, this.#parent));
      cpuDir = inside(v1Mount, rel);
      this.#mkdir(cpuDir);
      kind = "v1";
    } else {
      this.#mkdir(v2Parent);
      enableCpuDown(this.#v2Mount, v2Dir);
      this.#mkdir(v2Dir);
    }
    return {
      v2Dir,
      cpuDir,
      hierarchy: kind,
      add(pid: number): void {
        if (!Number.isInteger(pid) || pid <= 0)
          throw new RangeError(`pid must be a positive integer, got ${pid}`);
        writeFileSync(join(v2Dir, "cgroup.procs"), `${pid}\n`);
        if (cpuDir !== v2Dir) writeFileSync(join(cpuDir, "cgroup.procs"), `${pid}\n`);
      },
    };
  }

  /** Remove every directory created, deepest first; returns the failures (leftovers are moved to the root first). */
  remove(): string[] {
    const failures: string[] = [];
    for (const dir of this.#created.splice(0).reverse()) {
      const root = dir.startsWith(`${this.#v2Mount}/`) ? this.#v2Mount : this.hierarchy.v1;
      try {
        if (root !== undefined) {
          for (const line of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n")) {
            if (line === "") continue;
            try {
              writeFileSync(join(root, "cgroup.procs"), `${line}\n`);
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
            }
          }
        }
        rmdirSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT")
          failures.push(`${dir}: ${(err as Error).message}`);
      }
    }
    return failures;
  }
}
