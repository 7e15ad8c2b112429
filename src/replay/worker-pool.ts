/**
 * Warm sandboxes: per function, pre-started worker processes, each placed in
 * its sandbox when it starts (its own cpu cgroup, or the function's cgroup v2
 * directory: see sandboxes.ts). The pool grows on demand (a cold start when
 * no worker is idle, counted) so overlapping invocations of one function run
 * as separate tasks, and it keeps one spare warm behind the last idle worker.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";

/** The function body the workers run (workloads/functions/burn.mjs), from src/replay or dist/replay. */
export const WORKER_SCRIPT = fileURLToPath(
  new URL("../../workloads/functions/burn.mjs", import.meta.url),
);

/** Argument that marks a worker as belonging to one replay process (cleanup checks look for it). */
export function workerTag(replayPid: number): string {
  return `--alps-replay=${replayPid}`;
}

export interface RunResult {
  /** CLOCK_MONOTONIC ns when the worker began the invocation and when it finished. */
  startNs: bigint;
  endNs: bigint;
  /** CPU the worker measured on its thread clock, ms. */
  cpuMs: number;
  /** Nice level and scheduling policy of its thread at the invocation's first instruction. */
  nice?: number;
  policy?: number;
}

/** A line the worker wrote on its channel (see burn.mjs for the protocol). */
interface WorkerMessage {
  type: "ready" | "done";
  id?: number;
  startNs?: string;
  endNs?: string;
  cpuMs?: number;
  nice?: number;
  policy?: number;
}

function parseMessage(pid: number | undefined, line: string): WorkerMessage {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`worker ${pid}: not a JSON line: '${line.slice(0, 200)}'`);
  }
  const type = (value as { type?: unknown } | null)?.type;
  if (type !== "ready" && type !== "done")
    throw new Error(`worker ${pid}: unknown message '${line.slice(0, 200)}'`);
  return value as WorkerMessage;
}

/** One warm worker process, driven over the socket on its fd 3. */
export class Worker {
  readonly #child: ChildProcess;
  readonly #channel: Duplex;
  readonly #pending = new Map<
    number,
    { resolve: (r: RunResult) => void; reject: (e: Error) => void }
  >();
  #nextId = 1;
  #exited = false;
  #onReady: (() => void) | undefined;

  constructor(child: ChildProcess) {
    this.#child = child;
    const channel = child.stdio[3];
    if (channel === null || channel === undefined || !("write" in channel))
      throw new Error("worker was started without its channel on fd 3");
    this.#channel = channel as Duplex;
    // A write after the worker died fails with EPIPE; the exit handler reports it.
    this.#channel.on("error", () => {});
    createInterface({ input: this.#channel }).on("line", (line) => this.#onLine(line));
    child.on("exit", (code, signal) => {
      this.#exited = true;
      for (const waiter of this.#pending.values()) {
        waiter.reject(
          new Error(`worker ${child.pid} exited (${signal ?? code}) during an invocation`),
        );
      }
      this.#pending.clear();
    });
  }

  #onLine(line: string): void {
    let message: WorkerMessage;
    try {
      message = parseMessage(this.#child.pid, line);
    } catch (error: unknown) {
      // A worker that speaks nonsense is broken: fail what waits on it, never guess.
      for (const waiter of this.#pending.values()) waiter.reject(error as Error);
      this.#pending.clear();
      this.#child.kill("SIGKILL");
      return;
    }
    if (message.type === "ready") {
      this.#onReady?.();
      return;
    }
    const id = message.id ?? -1;
    const waiter = this.#pending.get(id);
    this.#pending.delete(id);
    waiter?.resolve({
      startNs: BigInt(message.startNs ?? "0"),
      endNs: BigInt(message.endNs ?? "0"),
      cpuMs: Number(message.cpuMs),
      ...(message.nice === undefined ? {} : { nice: message.nice }),
      ...(message.policy === undefined ? {} : { policy: message.policy }),
    });
  }

  /** Resolves at the worker's `ready` line. */
  ready(): Promise<void> {
    return new Promise((resolve) => {
      this.#onReady = () => {
        this.#onReady = undefined;
        resolve();
      };
    });
  }

  get pid(): number {
    const pid = this.#child.pid;
    if (pid === undefined) throw new Error("worker has no pid (spawn failed)");
    return pid;
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** Burn `cpuMs` of CPU, then block `blockMs`. */
  run(cpuMs: number, blockMs: number): Promise<RunResult> {
    const id = this.#nextId++;
    return new Promise<RunResult>((resolve, reject) => {
      if (this.#exited) {
        reject(new Error(`worker ${this.#child.pid} has exited`));
        return;
      }
      this.#pending.set(id, { resolve, reject });
      this.#channel.write(`${JSON.stringify({ type: "run", id, cpuMs, blockMs })}\n`);
    });
  }

  /** SIGKILL by pid and wait until it is reaped. */
  async kill(): Promise<void> {
    if (this.#exited || this.#child.pid === undefined) return;
    const gone = new Promise<void>((resolve) => this.#child.once("exit", () => resolve()));
    this.#child.kill("SIGKILL");
    await gone;
  }
}

export interface PoolOptions {
  fn: string;
  replayPid: number;
  /** Puts a fresh worker in its sandbox (cgroup, affinity) before it is used. */
  place: (pid: number) => void | Promise<void>;
  /** How long a worker may take to start, ms. */
  startTimeoutMs?: number;
}

/** Start a worker and wait for its `ready`. */
async function startWorker(opts: PoolOptions): Promise<Worker> {
  const child = spawn(
    process.execPath,
    [WORKER_SCRIPT, workerTag(opts.replayPid), `--function=${opts.fn}`],
    { stdio: ["ignore", "ignore", "inherit", "pipe"] },
  );
  const worker = new Worker(child);
  const ready = worker.ready();
  // Generous: on a loaded host (8 busy tenants on 2 cores) a Node process can take seconds to start.
  const timeoutMs = opts.startTimeoutMs ?? 120_000;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`worker for '${opts.fn}' not ready after ${timeoutMs} ms`)),
        timeoutMs,
      );
      child.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`worker for '${opts.fn}' exited while starting (${signal ?? code})`));
      });
      // Placed at once: threads the worker starts later inherit the cgroup and the affinity.
      const placed = child.pid === undefined ? Promise.resolve() : opts.place(child.pid);
      Promise.all([ready, placed]).then(() => {
        clearTimeout(timer);
        resolve();
      }, reject);
    });
  } catch (error: unknown) {
    await worker.kill();
    throw error;
  }
  return worker;
}

export class WorkerPool {
  readonly #opts: PoolOptions;
  readonly #idle: Worker[] = [];
  readonly #all = new Set<Worker>();
  /** Invocations waiting for a worker, first come first served. */
  readonly #waiters: Array<{ resolve: (w: Worker) => void; reject: (e: Error) => void }> = [];
  /** Workers still starting: close() waits for them so none outlives the pool. */
  readonly #starting = new Set<Promise<void>>();
  #closed = false;
  /** Invocations that found no idle worker and waited for one. */
  coldStarts = 0;

  constructor(opts: PoolOptions) {
    this.#opts = opts;
  }

  get size(): number {
    return this.#all.size;
  }

  pids(): number[] {
    return [...this.#all].filter((w) => !w.exited).map((w) => w.pid);
  }

  /** Give a free worker to the longest waiting invocation, else keep it idle. */
  #offer(worker: Worker): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter.resolve(worker);
    else this.#idle.push(worker);
  }

  /**
   * Start one more worker. Whoever waits longest gets the first worker that
   * becomes free (a new one or a released one), so a slow start on a busy
   * host never starts more workers than there are waiting invocations.
   */
  #grow(): Promise<void> {
    const growing = (async () => {
      if (this.#closed) throw new Error("worker pool is closed");
      const worker = await startWorker(this.#opts);
      this.#all.add(worker);
      if (this.#closed) await worker.kill();
      else this.#offer(worker);
    })();
    this.#starting.add(growing);
    const forget = (): void => {
      this.#starting.delete(growing);
    };
    growing.then(
      () => {
        forget();
        // Still invocations waiting: start the next one (one at a time, see acquire()).
        if (!this.#closed && this.#waiters.length > 0 && this.#starting.size === 0)
          this.#grow().catch(() => {});
      },
      (error: unknown) => {
        forget();
        // A failed start fails an invocation that needed it, never silently.
        this.#waiters.shift()?.reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
    return growing;
  }

  /** Start `count` workers before the replay begins. */
  async prewarm(count: number): Promise<void> {
    for (let i = 0; i < count; i++) await this.#grow();
  }

  /**
   * An idle worker now, without waiting (the dispatcher's path to an
   * invocation's first instruction has no await on it), or undefined.
   * Keeps one spare warming behind the last idle worker.
   */
  takeIdle(): Worker | undefined {
    if (this.#closed) return undefined;
    const idle = this.#idle.pop();
    if (idle !== undefined && this.#idle.length === 0 && this.#starting.size === 0)
      this.#grow().catch(() => {});
    return idle;
  }

  /** An idle worker, or the next one to become free (cold). */
  acquire(): Promise<{ worker: Worker; cold: boolean }> {
    if (this.#closed) return Promise.reject(new Error("worker pool is closed"));
    const idle = this.takeIdle();
    if (idle !== undefined) return Promise.resolve({ worker: idle, cold: false });
    this.coldStarts++;
    const waiting = new Promise<Worker>((resolve, reject) =>
      this.#waiters.push({ resolve, reject }),
    );
    // One start at a time per function: on a loaded host starts are slow and each one adds load,
    // so starting one per waiting invocation runs away. Waiters also take released workers.
    if (this.#starting.size === 0) this.#grow().catch(() => {});
    return waiting.then((worker) => ({ worker, cold: true }));
  }

  release(worker: Worker): void {
    if (!this.#closed && !worker.exited) this.#offer(worker);
  }

  /** Kill every worker (by pid) and wait for each to be reaped. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#idle.length = 0;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error("worker pool closed"));
    await Promise.allSettled([...this.#starting]);
    await Promise.all([...this.#all].map((w) => w.kill()));
  }
}
