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
import {
  type CpuControllerHome,
  cpuControllerHome,
  createSandboxCgroup,
  removeSandboxCgroup,
  type SandboxCgroup,
  type SandboxCgroupLayout,
} from "../host/cgroup-layout.js";

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
  readonly #home: CpuControllerHome;
  readonly #declarer: SandboxDeclarer;
  #rootCgroup: SandboxCgroup | undefined;
  /** Every sandbox created, in order, with the function it was declared for. */
  readonly #created: Array<{ sandbox: SandboxCgroup; declared: boolean }> = [];
  readonly #indexOf = new Map<string, number>();

  constructor(
    replayPid: number,
    layout: SandboxCgroupLayout,
    declarer: SandboxDeclarer,
    home: CpuControllerHome = cpuControllerHome(),
  ) {
    this.layout = layout;
    this.#root = replayCgroupRoot(replayPid);
    this.#home = home;
    this.#declarer = declarer;
  }

  /** Numbers the functions (directory names stay short and unique whatever the names). */
  setFunctions(functions: readonly string[]): void {
    functions.forEach((fn, i) => this.#indexOf.set(fn, i));
  }

  /**
   * A new sandbox for `fn`, declared to alps. `instance` names one of
   * several sandboxes of a function (layout cpu); omit it for the one
   * per-function sandbox.
   */
  async create(fn: string, instance?: string): Promise<SandboxCgroup> {
    if (this.#rootCgroup === undefined) {
      this.#rootCgroup = createSandboxCgroup(this.#root, this.layout, this.#home);
    }
    const index = this.#indexOf.get(fn);
    if (index === undefined) throw new Error(`no sandbox numbering for function '${fn}'`);
    const name = `${sandboxDirName(index, fn)}${instance === undefined ? "" : `-${instance}`}`;
    const sandbox = createSandboxCgroup(`${this.#root}/${name}`, this.layout, this.#home);
    const entry = { sandbox, declared: false };
    this.#created.push(entry);
    await this.#declarer.declareSandbox(fn, sandbox.v2);
    entry.declared = true;
    return sandbox;
  }

  /** How many sandboxes were created. */
  get count(): number {
    return this.#created.length;
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
    for (const { sandbox, declared } of this.#created.splice(0).reverse()) {
      if (declared) {
        await this.#declarer
          .undeclareSandbox(sandbox.v2)
          .catch((error: unknown) => say(`undeclare ${sandbox.v2}`, error));
      }
      try {
        removeSandboxCgroup(sandbox, this.#home);
      } catch (error) {
        say(`remove ${sandbox.v2}`, error);
      }
    }
    if (this.#rootCgroup !== undefined) {
      try {
        removeSandboxCgroup(this.#rootCgroup, this.#home);
      } catch (error) {
        say(`remove ${this.#rootCgroup.v2}`, error);
      }
      this.#rootCgroup = undefined;
    }
    return failures;
  }
}
