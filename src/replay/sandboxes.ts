/**
 * Per-function sandboxes of one replay: a cgroup v2 directory each, under one
 * directory named after the replay process, so a cleanup check (and a person)
 * can tell what a replay left behind.
 */
import * as hostCgroups from "../host/cgroups.js";

/** The cgroup operations the sandboxes use (the real ones unless a caller passes others). */
export type SandboxCgroups = Pick<typeof hostCgroups, "createCgroup" | "removeCgroup">;

/** Directory under the cgroup v2 mount that holds one replay's sandboxes. */
export function replayCgroupRoot(replayPid: number): string {
  return `alps-replay-${replayPid}`;
}

/** A cgroup directory name for function number `index`: names may hold anything, directories may not. */
export function sandboxDirName(index: number, fn: string): string {
  const safe = fn.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 64);
  return `f${index}-${safe}`;
}

export class Sandboxes {
  readonly #cgroups: SandboxCgroups;
  readonly #root: string;
  readonly #created: string[] = [];
  readonly paths = new Map<string, string>();

  constructor(replayPid: number, cgroups: SandboxCgroups = hostCgroups) {
    this.#cgroups = cgroups;
    this.#root = replayCgroupRoot(replayPid);
  }

  /** Create the root and one directory per function; returns fn → absolute path. */
  create(functions: readonly string[]): Map<string, string> {
    this.#created.push(this.#cgroups.createCgroup(this.#root));
    functions.forEach((fn, i) => {
      const abs = this.#cgroups.createCgroup(`${this.#root}/${sandboxDirName(i, fn)}`);
      this.#created.push(abs);
      this.paths.set(fn, abs);
    });
    return this.paths;
  }

  /** Remove every directory this replay created, deepest first; collects failures instead of stopping at the first. */
  remove(): string[] {
    const failures: string[] = [];
    for (const abs of this.#created.splice(0).reverse()) {
      try {
        this.#cgroups.removeCgroup(abs);
      } catch (error: unknown) {
        failures.push(`${abs}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    this.paths.clear();
    return failures;
  }
}
