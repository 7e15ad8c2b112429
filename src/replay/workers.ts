/**
 * Where an invocation runs: a warm worker of its function (`--workers warm`)
 * or a fresh process forked for it (`--workers fork`), each in its sandbox.
 * The dispatcher takes a slot, registers the slot's pid (when alps is
 * there), lets it run, ends the invocation, and gives the slot back.
 */
import { writeFile } from "node:fs/promises";
import type { TraceInvocation } from "../contracts/trace.js";
import { cpuDemandMs } from "../contracts/trace.js";
import { threadsOf } from "../host/proc-stat.js";
import { baseAttr, type Syscalls } from "../host/syscalls-types.js";
import { type Parked, Zygote } from "./fork-workers.js";
import type { Sandbox, SandboxSet } from "./sandboxes.js";
import { type RunResult, type Worker, WorkerPool, workerTag } from "./worker-pool.js";

export interface SlotRunOptions {
  continuedBy?: "dispatcher" | "daemon";
}

export interface Slot {
  readonly pid: number;
  /** It had to be started (warm) or parked (fork: forked and moved into its sandbox) while the invocation waited. */
  readonly cold: boolean;
  /**
   * Let it run the invocation's body; resolves at the end. `continuedBy:
   * "daemon"` (fork workers): the process is handed its demand but left
   * stopped, for the daemon to continue as it registers it.
   */
  run(opts?: SlotRunOptions): Promise<RunResult>;
  /** The invocation is over (and ended with alps): the slot may serve another. */
  release(): void;
}

export interface Workers {
  readonly kind: "warm" | "fork";
  /** Start what the trace will need before it begins (warm workers, sandboxes). */
  prewarm(counts: ReadonlyMap<string, number>): Promise<void>;
  /** A slot for `inv` now, without any await on the way (warm and idle), or undefined. */
  takeNow(index: number, inv: TraceInvocation): Slot | undefined;
  /** A slot for `inv`, waiting for it if need be. */
  acquire(index: number, inv: TraceInvocation): Promise<Slot>;
  /** Processes that live through the run (warm workers), for their preemption counts. */
  pids(): number[];
  /** Invocations that waited for a worker to start (warm) or a process to be parked (fork). */
  readonly coldStarts: number;
  close(): Promise<void>;
}

function blockMsOf(inv: TraceInvocation): number {
  return Math.max(inv.durationMs - cpuDemandMs(inv), 0);
}

/**
 * A fresh worker back on SCHED_OTHER nice 0 (it may have inherited the
 * dispatcher's RT level at fork; main thread first, so threads it starts
 * afterwards inherit the normal policy, then every thread seen after that;
 * a v1 cpu cgroup with RT group scheduling also refuses an RT task), then
 * into its sandbox and onto its cores.
 *
 * The moves are written off the dispatcher's event loop (libuv's threads):
 * a write to cgroup.procs waits for an RCU grace period (rcu_sync_enter →
 * synchronize_rcu_expedited), and a warm pool grows while invocations are
 * being dispatched. Sampled on this host, the dispatcher's main thread sat
 * in that wait 5-14 times (samples 10 ms apart) per huawei-heldout replay
 * (docs/results.md, "A dispatcher held up by cgroup moves").
 */
async function place(
  pid: number,
  sandbox: Sandbox,
  syscalls: Syscalls,
  cpus?: number[],
): Promise<void> {
  syscalls.setAttr(pid, baseAttr());
  for (const tid of threadsOf(pid)) if (tid !== pid) syscalls.setAttr(tid, baseAttr());
  // In the sandbox's order (its v2 directory, the one alps watches, last).
  for (const file of sandbox.procsFiles) await writeFile(file, `${pid}\n`);
  if (cpus === undefined) return;
  for (const tid of threadsOf(pid)) syscalls.setAffinity(tid, cpus);
}

export class WarmWorkers implements Workers {
  readonly kind = "warm";
  readonly #pools = new Map<string, WorkerPool>();

  constructor(opts: {
    functions: readonly string[];
    sandboxes: SandboxSet;
    syscalls: Syscalls;
    cpus: number[] | undefined;
    replayPid: number;
  }) {
    const { sandboxes, syscalls, cpus } = opts;
    for (const fn of opts.functions) {
      let shared: Promise<Sandbox> | undefined;
      let next = 0;
      // Layout cpu: a sandbox (a cpu cgroup) per worker, as a container per concurrent
      // activation; layout none: every worker of the function in its one directory.
      const sandboxFor = (): Promise<Sandbox> =>
        sandboxes.layout === "cpu"
          ? sandboxes.create(fn, `w${next++}`)
          : (shared ??= sandboxes.create(fn));
      this.#pools.set(
        fn,
        new WorkerPool({
          fn,
          replayPid: opts.replayPid,
          place: async (pid) => place(pid, await sandboxFor(), syscalls, cpus),
        }),
      );
    }
  }

  async prewarm(counts: ReadonlyMap<string, number>): Promise<void> {
    // A few pools at a time: every start is a Node process competing for the same cores.
    const queue = [...counts];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let next = queue.shift(); next !== undefined; next = queue.shift())
          await this.#pools.get(next[0])?.prewarm(next[1]);
      }),
    );
  }

  #pool(fn: string): WorkerPool {
    const pool = this.#pools.get(fn);
    if (pool === undefined) throw new Error(`no sandbox for function '${fn}'`);
    return pool;
  }

  #slot(pool: WorkerPool, worker: Worker, cold: boolean, inv: TraceInvocation): Slot {
    const cpu = cpuDemandMs(inv);
    return {
      pid: worker.pid,
      cold,
      run: () => worker.run(cpu, blockMsOf(inv)),
      release: () => pool.release(worker),
    };
  }

  takeNow(_index: number, inv: TraceInvocation): Slot | undefined {
    const pool = this.#pool(inv.fn);
    const idle = pool.takeIdle();
    return idle === undefined ? undefined : this.#slot(pool, idle, false, inv);
  }

  async acquire(index: number, inv: TraceInvocation): Promise<Slot> {
    const now = this.takeNow(index, inv);
    if (now !== undefined) return now;
    const pool = this.#pool(inv.fn);
    const { worker, cold } = await pool.acquire();
    return this.#slot(pool, worker, cold, inv);
  }

  pids(): number[] {
    return [...this.#pools.values()].flatMap((p) => p.pids());
  }

  get coldStarts(): number {
    return [...this.#pools.values()].reduce((n, p) => n + p.coldStarts, 0);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((p) => p.close()));
  }
}

/**
 * How long a forked invocation may live, ms: far beyond any turnaround a
 * replay sees (its own CPU is bounded separately, by RLIMIT_CPU).
 */
function capMsOf(inv: TraceInvocation): number {
  return 600_000 + 20 * inv.durationMs;
}

/** A parked process and the sandbox it waits in. */
interface Seat {
  sandbox: Sandbox;
  parked: Promise<Parked>;
  /** Its process is parked (forked, placed, stopped) already. */
  ready: boolean;
}

export class ForkWorkers implements Workers {
  readonly kind = "fork";
  readonly #zygote: Zygote;
  readonly #sandboxes: SandboxSet;
  /** Per function: parked processes free for its next invocations. */
  readonly #free = new Map<string, Seat[]>();
  /** Layout none: the function's one sandbox. */
  readonly #shared = new Map<string, Promise<Sandbox>>();
  readonly #made = new Map<string, number>();
  coldStarts = 0;

  constructor(opts: {
    sandboxes: SandboxSet;
    syscalls: Syscalls;
    cpus: number[] | undefined;
    replayPid: number;
  }) {
    this.#sandboxes = opts.sandboxes;
    this.#zygote = Zygote.start(opts.syscalls, opts.cpus, workerTag(opts.replayPid));
  }

  get zygotePid(): number {
    return this.#zygote.pid;
  }

  /** A sandbox for one more concurrent invocation of `fn`: its own (layout cpu), or the function's one. */
  #newSandbox(fn: string): Promise<Sandbox> {
    if (this.#sandboxes.layout !== "cpu") {
      let shared = this.#shared.get(fn);
      if (shared === undefined) {
        shared = this.#sandboxes.create(fn);
        this.#shared.set(fn, shared);
      }
      return shared;
    }
    const k = this.#made.get(fn) ?? 0;
    this.#made.set(fn, k + 1);
    return this.#sandboxes.create(fn, `s${k}`);
  }

  #seat(sandbox: Sandbox): Seat {
    const parked = this.#zygote.park(sandbox.procsFiles);
    const seat: Seat = { sandbox, parked, ready: false };
    // Awaited when the seat is taken; a failure before that must not be unhandled.
    parked.then(
      () => {
        seat.ready = true;
      },
      () => {},
    );
    return seat;
  }

  #give(fn: string, seat: Seat): void {
    const free = this.#free.get(fn) ?? [];
    free.push(seat);
    this.#free.set(fn, free);
  }

  async prewarm(counts: ReadonlyMap<string, number>): Promise<void> {
    for (const [fn, n] of counts)
      for (let i = 0; i < n; i++) this.#give(fn, this.#seat(await this.#newSandbox(fn)));
    // Every parked process placed before the first arrival.
    await Promise.all([...this.#free.values()].flat().map((seat) => seat.parked));
  }

  takeNow(): Slot | undefined {
    return undefined;
  }

  async acquire(_index: number, inv: TraceInvocation): Promise<Slot> {
    // A seat whose process is parked already, else the one parked longest ago: a
    // sandbox given back a moment ago may still be moving its new process in.
    const free = this.#free.get(inv.fn) ?? [];
    const at = free.findIndex((s) => s.ready);
    let seat = free.splice(at < 0 ? 0 : at, 1)[0];
    const cold = seat === undefined;
    if (seat === undefined) {
      this.coldStarts++;
      seat = this.#seat(await this.#newSandbox(inv.fn));
    }
    const parked = await seat.parked;
    const { sandbox } = seat;
    let successor: Seat | undefined;
    return {
      pid: parked.pid,
      cold,
      run: async (opts) => {
        const running = parked.run(
          cpuDemandMs(inv),
          blockMsOf(inv),
          capMsOf(inv),
          opts?.continuedBy ?? "dispatcher",
        );
        // The sandbox's next process is parked while this invocation runs (the zygote
        // continues this one first: G was written before P, and it holds a P back for
        // 2 ms after a G, burn-fork.c), so it is ready, as a warm sandbox is, when the
        // sandbox is given back, unless the next arrival comes within those 2 ms.
        successor = this.#seat(sandbox);
        const d = await running;
        return {
          startNs: d.startNs,
          endNs: d.endNs,
          cpuMs: d.cpuMs,
          nice: d.nice,
          policy: d.policy,
        };
      },
      // The next invocation of the function gets a fresh process, parked in this sandbox meanwhile.
      release: () => this.#give(inv.fn, successor ?? this.#seat(sandbox)),
    };
  }

  pids(): number[] {
    return [];
  }

  async close(): Promise<void> {
    // The zygote kills and reaps the parked processes before it exits.
    await this.#zygote.close();
  }
}
