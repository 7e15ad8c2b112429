/**
 * Warm sandboxes: per function, pre-started worker processes in that
 * function's cgroup v2 directory. The pool grows on demand (a cold start when
 * no worker is idle, counted) so overlapping invocations of one function run
 * as separate tasks, and it keeps one spare warm behind the last idle worker.
 */
import { type ChildProcess, fork } from "node:child_process";
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
}

interface DoneMessage {
  type: "done";
  id: number;
  startNs: string;
  endNs: string;
  cpuMs: number;
}

function isDone(message: unknown): message is DoneMessage {
  return (
    typeof message === "object" &&
    message !== null &&
    (message as { type?: unknown }).type === "done"
  );
}

/** One warm worker process. */
export class Worker {
  readonly #child: ChildProcess;
  readonly #pending = new Map<
    number,
    { resolve: (r: RunResult) => void; reject: (e: Error) => void }
  >();
  #nextId = 1;
  #exited = false;

  constructor(child: ChildProcess) {
    this.#child = child;
    child.on("message", (message: unknown) => {
      if (!isDone(message)) return;
      const waiter = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      waiter?.resolve({
        startNs: BigInt(message.startNs),
        endNs: BigInt(message.endNs),
        cpuMs: message.cpuMs,
      });
    });
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
      this.#pending.set(id, { resolve, reject });
      this.#child.send({ type: "run", id, cpuMs, blockMs });
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
  /** The function's cgroup v2 directory (absolute). */
  cgroupPath: string;
  replayPid: number;
  /** Puts a fresh worker in its sandbox (cgroup, affinity) before it is used. */
  place: (pid: number) => void;
  /** How long a worker may take to start, ms. */
  startTimeoutMs?: number;
}

/** Start a worker and wait for its `ready`. */
async function startWorker(opts: PoolOptions): Promise<Worker> {
  const child = fork(WORKER_SCRIPT, [workerTag(opts.replayPid), `--function=${opts.fn}`], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const worker = new Worker(child);
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
      child.on("message", function onReady(message: unknown) {
        if (
          typeof message === "object" &&
          message !== null &&
          (message as { type?: unknown }).type === "ready"
        ) {
          clearTimeout(timer);
          child.off("message", onReady);
          resolve();
        }
      });
      // Placed at once: threads the worker starts later inherit the cgroup and the affinity.
      if (child.pid !== undefined) opts.place(child.pid);
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

  /** An idle worker, or the next one to become free (cold). Keeps one spare warming behind the last idle worker. */
  acquire(): Promise<{ worker: Worker; cold: boolean }> {
    if (this.#closed) return Promise.reject(new Error("worker pool is closed"));
    const idle = this.#idle.pop();
    if (idle !== undefined) {
      if (this.#idle.length === 0 && this.#starting.size === 0) this.#grow().catch(() => {});
      return Promise.resolve({ worker: idle, cold: false });
    }
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
