/**
 * Real cgroup v2 trees and processes for the platform tests: every directory
 * and child made here is recorded and undone by cleanup() (children killed
 * by pid, directories removed deepest first).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cgroup2Mount } from "../../src/host/cgroups.js";

export class CgroupFixture {
  readonly root: string;
  readonly #dirs: string[] = [];
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
    if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    await exited;
  }

  /** Removes a cgroup directory (its processes must be gone). */
  rmdir(path: string): void {
    rmdirSync(path);
    const i = this.#dirs.indexOf(path);
    if (i >= 0) this.#dirs.splice(i, 1);
  }

  async cleanup(): Promise<void> {
    for (const c of this.#children) await this.kill(c);
    for (const d of [...this.#dirs].sort((a, b) => b.length - a.length)) {
      if (!existsSync(d)) continue;
      // Anything still inside (should be nothing) goes back to the root cgroup so rmdir works.
      for (const pid of readFileSync(join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
        writeFileSync(join(cgroup2Mount(), "cgroup.procs"), `${pid}\n`);
      }
      rmdirSync(d);
    }
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
