/**
 * The sandboxes of one replay, under one directory named after the replay
 * process (in every hierarchy a sandbox uses), so a cleanup check and a
 * person can tell what a replay left behind.
 *
 * Layout `cpu` (the default, what platforms do): every sandbox is a cpu
 * cgroup of its own, all of them siblings, as Docker's containers are: one
 * per warm worker (OpenWhisk runs one container per concurrent activation),
 * or, with fork workers, a pool per function that invocations take and give
 * back (a container reused by the next activation). Layout `none`: one
 * cgroup v2 directory per function, no cpu controller (every function's
 * tasks in one scheduling group), the replay's layout before it had a choice.
 */
import { join } from "node:path";
import { createCgroup, removeCgroup } from "../host/cgroups.js";
import { CpuSandboxes } from "../host/sandbox-cgroups.js";
import type { SandboxCgroupLayout } from "./types.js";

/** One sandbox of the replay. */
export interface Sandbox {
  /** Its cgroup v2 directory: what alps keys a sandbox by (POST /v1/sandboxes, the BPF map). */
  readonly v2: string;
  /**
   * The cgroup.procs files a process writes its pid to, to enter it, in that
   * order: the v2 one last, so the process is not inside the sandbox alps
   * watches (it keys sandboxes by their v2 directory) until it has finished
   * moving (a move may sleep, and a wake-up there would look like a burst).
   */
  readonly procsFiles: readonly string[];
}

/** Directory (below each hierarchy's mount) that holds one replay's sandboxes. */
export function replayCgroupRoot(replayPid: number): string {
  return `alps-replay-${replayPid}`;
}

/** A cgroup directory name for function number `index`: names may hold anything, directories may not. */
export function sandboxDirName(index: number, fn: string): string {
  const safe = fn.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 64);
  return `f${index}-${safe}`;
}

/** Declares a sandbox to alps (or not, without alps); undeclare before removing it. */
export interface SandboxDeclarer {
  declareSandbox(fn: string, v2Dir: string): Promise<void>;
  undeclareSandbox(v2Dir: string): Promise<void>;
}

export class SandboxSet {
  readonly layout: SandboxCgroupLayout;
  readonly #root: string;
  readonly #declarer: SandboxDeclarer;
  /** Layout cpu: the host layer's cpu sandboxes under the replay's root. */
  readonly #cpu: CpuSandboxes | undefined;
  /** Layout none: v2 directories created, the root first. */
  readonly #v2Created: string[] = [];
  /** Sandboxes declared to alps, to undeclare before removal. */
  readonly #declared: string[] = [];
  readonly #indexOf = new Map<string, number>();

  constructor(replayPid: number, layout: SandboxCgroupLayout, declarer: SandboxDeclarer) {
    this.layout = layout;
    this.#root = replayCgroupRoot(replayPid);
    this.#declarer = declarer;
    this.#cpu = layout === "cpu" ? new CpuSandboxes(this.#root) : undefined;
  }

  /** Numbers the functions (directory names stay short and unique whatever the names). */
  setFunctions(functions: readonly string[]): void {
    functions.forEach((fn, i) => this.#indexOf.set(fn, i));
  }

  #make(name: string): Sandbox {
    if (this.#cpu !== undefined) {
      const sb = this.#cpu.create(name);
      return {
        v2: sb.v2Dir,
        procsFiles:
          sb.cpuDir === sb.v2Dir
            ? [join(sb.v2Dir, "cgroup.procs")]
            : [join(sb.cpuDir, "cgroup.procs"), join(sb.v2Dir, "cgroup.procs")],
      };
    }
    if (this.#v2Created.length === 0) this.#v2Created.push(createCgroup(this.#root));
    const v2 = createCgroup(`${this.#root}/${name}`);
    this.#v2Created.push(v2);
    return {
      v2,
      procsFiles: [join(v2, "cgroup.procs")],
    };
  }

  /**
   * A new sandbox for `fn`, declared to alps. `instance` names one of
   * several sandboxes of a function (layout cpu); omit it for the one
   * per-function sandbox.
   */
  async create(fn: string, instance?: string): Promise<Sandbox> {
    const index = this.#indexOf.get(fn);
    if (index === undefined) throw new Error(`no sandbox numbering for function '${fn}'`);
    const sandbox = this.#make(
      `${sandboxDirName(index, fn)}${instance === undefined ? "" : `-${instance}`}`,
    );
    await this.#declarer.declareSandbox(fn, sandbox.v2);
    this.#declared.push(sandbox.v2);
    return sandbox;
  }

  /**
   * Undeclares and removes every sandbox this replay created, then the root;
   * collects failures instead of stopping at the first.
   */
  async removeAll(): Promise<string[]> {
    const failures: string[] = [];
    const say = (what: string, error: unknown): void => {
      failures.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
    };
    for (const v2 of this.#declared.splice(0).reverse()) {
      await this.#declarer
        .undeclareSandbox(v2)
        .catch((error: unknown) => say(`undeclare ${v2}`, error));
    }
    if (this.#cpu !== undefined) failures.push(...this.#cpu.remove());
    for (const v2 of this.#v2Created.splice(0).reverse()) {
      try {
        removeCgroup(v2);
      } catch (error) {
        say(`remove ${v2}`, error);
      }
    }
    return failures;
  }
}
