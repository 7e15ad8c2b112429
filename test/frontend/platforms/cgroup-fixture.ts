/**
 * Real cgroup v2 trees and processes for the platform tests: every directory
 * and child made here is recorded and undone by cleanup() (children killed
 * by pid, directories removed deepest first).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cgroup2Mount, decodeMountinfo } from "../../../src/host/cgroups.js";
import { rmdirWhenEmpty } from "../../helpers/cgroup-dir.js";

/** A cgroup v1 hierarchy's mount point and the name it shows in /proc/<pid>/cgroup. */
export interface V1Hierarchy {
  mount: string;
  /** "cpu", "cpu,cpuacct", "name=…": the middle field of /proc/<pid>/cgroup lines. */
  controllers: string;
  /** Mounted by the fixture (unmounted by cleanup). */
  ours: boolean;
}

/** The host's v1 hierarchy with the cpu controller, as a hybrid host has, if mounted. */
export function hostV1CpuHierarchy(): V1Hierarchy | undefined {
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const [fstype, , superOpts] = line.slice(sep + 3).split(" ");
    if (fstype !== "cgroup" || superOpts === undefined) continue;
    const controllers = superOpts.split(",").filter((o) => o !== "rw" && o !== "ro");
    if (!controllers.includes("cpu")) continue;
    const mount = line.slice(0, sep).split(" ")[4];
    if (mount !== undefined)
      return { mount: decodeMountinfo(mount), controllers: controllers.join(","), ours: false };
  }
  return undefined;
}

export class CgroupFixture {
  readonly root: string;
  readonly #dirs: string[] = [];
  readonly #v1Dirs: string[] = [];
  #v1: V1Hierarchy | undefined;
  readonly #children: ChildProcess[] = [];

  constructor(name: string) {
    this.root = join(cgroup2Mount(), `alps-test-${name}-${process.pid}`);
    this.mkdir(this.root);
  }

  /** mkdir -p, recording each directory created. */
  mkdir(path: string): string {
    const parts = path.split("/").filter(Boolean);
    let at = "";
    for (const p of parts) {
      at += `/${p}`;
      if (!existsSync(at)) {
        mkdirSync(at);
        this.#dirs.push(at);
      }
    }
    return path;
  }

  /** A `sleep` (bounded: it ends by itself) started here and moved into `cgroupDir`. */
  spawnIn(cgroupDir: string, cmd = "sleep", args = ["30"]): ChildProcess {
    const child = spawn(cmd, args, { stdio: "ignore" });
    this.#children.push(child);
    if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
    writeFileSync(join(cgroupDir, "cgroup.procs"), `${child.pid}\n`);
    return child;
  }

  track(child: ChildProcess): void {
    this.#children.push(child);
  }

  async kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    if (child.pid !== undefined) {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch (error) {
        // It died on its own (its pid namespace's init ended it) and the
        // exit event is still on its way: nothing left to kill.
        if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
      }
    }
    await exited;
  }

  /** Removes a cgroup directory once its processes are gone (a killed one may still be exiting). */
  async rmdir(path: string): Promise<void> {
    await rmdirWhenEmpty(path);
    const i = this.#dirs.indexOf(path);
    if (i >= 0) this.#dirs.splice(i, 1);
  }

  /**
   * A cgroup v1 hierarchy for hybrid layouts: the host's cpu one when it is
   * mounted (a hybrid host, like the real thing), else a named hierarchy
   * without controllers mounted here (it changes nothing for any task).
   */
  v1(): V1Hierarchy {
    if (this.#v1 !== undefined) return this.#v1;
    let h = hostV1CpuHierarchy();
    if (h === undefined) {
      const mount = mkdtempSync(join(tmpdir(), "alps-test-v1-"));
      const name = `alps-test-${process.pid}`;
      execFileSync("mount", ["-t", "cgroup", "-o", `none,name=${name}`, "cgroup", mount]);
      h = { mount, controllers: `name=${name}`, ours: true };
    }
    this.#v1 = h;
    return h;
  }

  /** mkdir -p of `rel` (e.g. "alps-test-x/docker/<id>") in the v1 hierarchy, recorded; its absolute path. */
  mkdirV1(rel: string): string {
    const h = this.v1();
    let at = h.mount;
    for (const p of rel.split("/").filter(Boolean)) {
      at = join(at, p);
      if (!existsSync(at)) {
        mkdirSync(at);
        this.#v1Dirs.push(at);
      }
    }
    return at;
  }

  async cleanup(): Promise<void> {
    for (const c of this.#children) await this.kill(c);
    const v1 = this.#v1;
    for (const d of [...this.#v1Dirs].sort((a, b) => b.length - a.length)) {
      if (!existsSync(d) || v1 === undefined) continue;
      for (const pid of readFileSync(join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
        moveOut(join(v1.mount, "cgroup.procs"), pid);
      }
      await rmdirWhenEmpty(d);
    }
    if (v1?.ours) {
      execFileSync("umount", [v1.mount]);
      rmdirSync(v1.mount);
    }
    for (const d of [...this.#dirs].sort((a, b) => b.length - a.length)) {
      if (!existsSync(d)) continue;
      // Anything still inside (should be nothing) goes back to the root cgroup so rmdir works.
      // A process the test killed but did not wait for (an orphan reaped elsewhere) leaves only
      // once it has exited: rmdirWhenEmpty waits for that.
      for (const pid of readFileSync(join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
        moveOut(join(cgroup2Mount(), "cgroup.procs"), pid);
      }
      await rmdirWhenEmpty(d);
    }
  }
}

/** Moves `pid` into the cgroup whose cgroup.procs is `procs`; one that exited meanwhile has nothing to move. */
function moveOut(procs: string, pid: string): void {
  try {
    writeFileSync(procs, `${pid}\n`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

/** Resolves when `cond()` holds; rejects after `ms`. Returns the time it took. */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<number> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms)
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - t0;
}
