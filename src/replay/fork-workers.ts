/**
 * `--workers fork`: a fresh process per invocation, as cold sandboxes and
 * process-per-request platforms run functions. The processes are forked by
 * the burn-fork zygote (workloads/functions/burn-fork.c: why a zygote in C
 * is there, and its protocol) and parked ahead of their invocation: stopped,
 * on SCHED_OTHER nice 0, inside their sandbox's cgroups. At the arrival the
 * dispatcher registers the parked pid (when alps runs) and lets it go.
 *
 * The zygote runs on SCHED_FIFO at the dispatcher's priority, on the
 * functions' cores, and so do its mover thread and, until they stop, its
 * children: neither a fork nor a placement ever queues behind the functions
 * it competes with. A child steps once through its start (so its pages are
 * its own, as a started runtime's are) and stops itself; the zygote
 * puts it on SCHED_OTHER nice 0 and its mover moves it into its sandbox
 * while it is stopped, so it never needs a CPU inside its sandbox before its
 * invocation (there, at nice 0 against the groups alps boosts, it could wait
 * for one for a long time, and its invocation with it). The function's first
 * instruction runs on SCHED_OTHER nice 0 in every mode (then at its level,
 * with alps). So the start costs the same with and without alps; what
 * differs is only what alps does once it is registered.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Duplex } from "node:stream";
import { threadsOf } from "../host/proc-stat.js";
import { baseAttr, SCHED_FIFO, type Syscalls } from "../host/syscalls-types.js";
import { BURNER, type BurnerDone, burnerUnavailable, parseBurnerLine } from "./burner.js";
import { DISPATCHER_RT_PRIORITY } from "./dispatcher-priority.js";

/** A parked process, stopped inside its sandbox until it is given its invocation. */
export interface Parked {
  pid: number;
  /**
   * Runs the invocation in it; resolves with its report when it finished.
   * `continuedBy` "daemon": its demand is written but it stays stopped until
   * someone else (the daemon, registering it with resume) continues it.
   */
  run(
    cpuMs: number,
    blockMs: number,
    capMs: number,
    continuedBy?: "dispatcher" | "daemon",
  ): Promise<BurnerDone>;
}

interface Pending {
  ready: (pid: number) => void;
  done: (result: BurnerDone) => void;
  fail: (error: Error) => void;
}

export class Zygote {
  readonly #child: ChildProcess;
  readonly #channel: Duplex;
  readonly #pending = new Map<number, Pending>();
  #exited = false;
  #nextId = 0;

  private constructor(child: ChildProcess) {
    this.#child = child;
    const channel = child.stdio[3];
    if (channel === null || channel === undefined || !("write" in channel))
      throw new Error("burn-fork zygote was started without its channel on fd 3");
    this.#channel = channel as Duplex;
    this.#channel.on("error", () => {});
    createInterface({ input: this.#channel }).on("line", (line) => this.#onLine(line));
    child.on("exit", (code, signal) => {
      this.#exited = true;
      const error = new Error(`burn-fork zygote exited (${signal ?? code})`);
      for (const p of this.#pending.values()) p.fail(error);
      this.#pending.clear();
    });
  }

  /**
   * Starts the zygote: SCHED_FIFO on `cpus`, inherited by the mover thread it
   * starts at its first park (after this has returned) and by its children
   * until it places them. Throws when burn-fork is not built.
   */
  static start(syscalls: Syscalls, cpus: number[] | undefined, tag: string): Zygote {
    const why = burnerUnavailable();
    if (why !== undefined) throw new Error(`--workers fork: ${why}`);
    const child = spawn(BURNER, ["zygote", tag], {
      stdio: ["ignore", "ignore", "inherit", "pipe"],
    });
    const zygote = new Zygote(child);
    const pid = child.pid;
    if (pid === undefined) throw new Error("burn-fork zygote did not start");
    try {
      for (const tid of threadsOf(pid)) {
        syscalls.setAttr(tid, {
          ...baseAttr(),
          policy: SCHED_FIFO,
          priority: DISPATCHER_RT_PRIORITY,
        });
        if (cpus !== undefined) syscalls.setAffinity(tid, cpus);
      }
    } catch (error) {
      child.kill("SIGKILL");
      throw error;
    }
    return zygote;
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  #onLine(line: string): void {
    let parsed: ReturnType<typeof parseBurnerLine>;
    try {
      parsed = parseBurnerLine(line);
    } catch (error) {
      // A zygote that speaks nonsense is broken: fail everything waiting on it.
      for (const p of this.#pending.values()) p.fail(error as Error);
      this.#pending.clear();
      this.#child.kill("SIGKILL");
      return;
    }
    const waiter = this.#pending.get(parsed.id);
    if (parsed.type === "ready") waiter?.ready(parsed.pid);
    else if (parsed.type === "done") {
      this.#pending.delete(parsed.id);
      waiter?.done(parsed);
    } else {
      this.#pending.delete(parsed.id);
      waiter?.fail(new Error(`burn-fork invocation ${parsed.id}: ${parsed.message}`));
    }
  }

  /**
   * Parks a process in the cgroups whose cgroup.procs files are given, in
   * that order. Resolves once it is parked (stopped, on SCHED_OTHER nice 0,
   * placed; its pid known); rejects naming the file and errno when a cgroup
   * refuses it (the zygote has killed and reaps that process).
   */
  park(procsFiles: readonly string[]): Promise<Parked> {
    if (this.#exited) return Promise.reject(new Error("burn-fork zygote has exited"));
    for (const f of procsFiles)
      if (/\s/.test(f)) throw new Error(`cgroup path with white space: '${f}'`);
    const id = this.#nextId++;
    return new Promise<Parked>((resolve, reject) => {
      let settleDone: (r: BurnerDone) => void = () => {};
      let failDone: (e: Error) => void = () => {};
      const done = new Promise<BurnerDone>((res, rej) => {
        settleDone = res;
        failDone = rej;
      });
      // Nobody may be awaiting `done` yet when it fails: the rejection is handled where it is awaited.
      done.catch(() => {});
      let parked = false;
      this.#pending.set(id, {
        ready: (pid) => {
          parked = true;
          resolve({
            pid,
            run: (cpuMs, blockMs, capMs, continuedBy = "dispatcher") => {
              const verb = continuedBy === "daemon" ? "H" : "G";
              this.#channel.write(
                `${verb} ${id} ${Math.round(cpuMs * 1000)} ${Math.round(blockMs * 1000)} ${Math.ceil(capMs)}\n`,
              );
              return done;
            },
          });
        },
        done: settleDone,
        fail: (error) => {
          failDone(error);
          if (!parked) reject(error);
        },
      });
      this.#channel.write(
        `P ${id} ${procsFiles.length}${procsFiles.map((f) => ` ${f}`).join("")}\n`,
      );
    });
  }

  /** Closes its channel (it exits at end of file; its children die with it) and waits for it. */
  async close(): Promise<void> {
    if (this.#exited || this.#child.pid === undefined) return;
    const gone = new Promise<void>((resolve) => this.#child.once("exit", () => resolve()));
    this.#channel.end();
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 2000);
    await gone;
    clearTimeout(timer);
  }
}
