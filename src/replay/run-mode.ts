/**
 * One mode of a replay: start that mode's scheduler in this process, warm the
 * sandboxes, dispatch every invocation at its arrival time, measure, and put
 * everything back (workers killed by pid, cgroups removed, backend closed,
 * dispatcher back on SCHED_OTHER) on every exit path, abort included.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { createBackend } from "../backend/select.js";
import { Daemon } from "../frontend/daemon.js";
import { moveToCgroup } from "../host/cgroups.js";
import { threadsOf } from "../host/proc-stat.js";
import { loadSyscalls } from "../host/syscalls.js";
import { baseAttr, type Syscalls } from "../host/syscalls-types.js";
import type { Backend, Mode } from "../backend/types.js";
import type { Strategy } from "../contracts/levels.js";
import { cpuDemandMs, type TraceInvocation } from "../contracts/trace.js";
import { UsageError } from "../errors.js";
import { raiseDispatcher } from "./dispatcher-priority.js";
import { prewarmCounts } from "./prewarm.js";
import { Sandboxes } from "./sandboxes.js";
import type { MeasuredInvocation, ModeRun } from "./types.js";
import { type RunResult, WorkerPool } from "./worker-pool.js";

export interface RunModeOptions {
  mode: Mode;
  strategy?: Strategy;
  /** Functions run on CPUs 0..cores−1 only (sched_setaffinity); undefined = all CPUs. */
  cores?: number;
  /** alps that cannot run here (no BPF) runs sfs instead, said in `reasons`. */
  fallback?: boolean;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  log?: (message: string) => void;
  /** Delay between the end of warm-up and the trace's time 0, ms. */
  leadMs?: number;
}

/** A UsageError: the CLI prints its message and exits 2, without a stack. */
export class ModeUnavailableError extends UsageError {}

/** Preemptions of a worker's threads so far (nonvoluntary context switches). */
function preemptions(pid: number): number {
  let sum = 0;
  for (const tid of threadsOf(pid)) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      const m = /nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status);
      if (m?.[1] !== undefined) sum += Number(m[1]);
    } catch {
      // The thread ended: its switches are no longer counted anywhere.
    }
  }
  return sum;
}

/** Create the backend for `mode`; alps must have the BPF sensor, or the fallback must be allowed. */
async function openBackend(
  opts: RunModeOptions,
  reasons: string[],
): Promise<{ backend: Backend; mode: Mode }> {
  const log = opts.log ?? (() => {});
  if (opts.mode !== "alps") {
    const { backend, reasons: why } = await createBackend({
      mode: opts.mode,
      strategy: opts.strategy,
      log,
    });
    reasons.push(...why);
    return { backend, mode: opts.mode };
  }
  let unavailable: string;
  try {
    const { backend, reasons: why } = await createBackend({
      mode: "alps",
      strategy: opts.strategy,
      log,
    });
    reasons.push(...why);
    if (backend.mode === "alps" && backend.sensor === "bpf") return { backend, mode: "alps" };
    unavailable = `alps needs the BPF sensor, and backend selection gave mode ${backend.mode} with sensor ${backend.sensor}`;
    await backend.close();
  } catch (error: unknown) {
    unavailable = `alps could not start: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (!opts.fallback)
    throw new ModeUnavailableError(`${unavailable} (pass --fallback to run sfs instead)`);
  reasons.push(`${unavailable}; running sfs instead because --fallback was given`);
  const { backend, reasons: why } = await createBackend({ mode: "sfs", log });
  reasons.push(...why);
  return { backend, mode: "sfs" };
}

/**
 * Put a fresh worker in its sandbox: first back on SCHED_OTHER nice 0 (it may
 * have inherited the dispatcher's RT level at fork; main thread first, so
 * threads it starts afterwards inherit the normal policy, then every thread
 * seen after that), then into its cgroup and onto its cores.
 */
function placer(sandbox: string, syscalls: Syscalls, cpus?: number[]) {
  return (pid: number): void => {
    syscalls.setAttr(pid, baseAttr());
    for (const tid of threadsOf(pid)) if (tid !== pid) syscalls.setAttr(tid, baseAttr());
    moveToCgroup(sandbox, pid);
    if (cpus === undefined) return;
    for (const tid of threadsOf(pid)) syscalls.setAffinity(tid, cpus);
  };
}

export async function runMode(
  trace: readonly TraceInvocation[],
  opts: RunModeOptions,
): Promise<ModeRun> {
  const log = opts.log ?? (() => {});
  const reasons: string[] = [];
  const { syscalls, reason: syscallsReason } = loadSyscalls();
  if (syscallsReason !== undefined) reasons.push(syscallsReason);
  const hostCpus = availableParallelism();
  const cpus =
    opts.cores === undefined ? undefined : Array.from({ length: opts.cores }, (_, i) => i);
  if (opts.cores !== undefined && opts.cores > hostCpus) {
    throw new ModeUnavailableError(`--cores ${opts.cores}: this host has ${hostCpus} CPUs`);
  }

  const functions = [...new Set(trace.map((inv) => inv.fn))];
  const sandboxes = new Sandboxes(process.pid);
  const pools = new Map<string, WorkerPool>();
  let backend: Backend | undefined;
  let daemon: Daemon | undefined;
  let restoreDispatcher: (() => void) | undefined;
  const began = performance.now();
  const measured: MeasuredInvocation[] = [];
  let contextSwitches = 0;
  let mode: Mode = opts.mode;
  const cleanupFailures: string[] = [];
  try {
    const opened = await openBackend(opts, reasons);
    backend = opened.backend;
    mode = opened.mode;
    // Every mode runs the daemon (cfs: observing only), so every mode pays the same for it;
    // in alps it learns online from the invocations it sees finish, as on a real host.
    daemon = new Daemon({ backend, cores: opts.cores ?? hostCpus, log });
    for (const [fn, abs] of sandboxes.create(functions)) {
      await daemon.addSandbox(fn, abs);
      pools.set(
        fn,
        new WorkerPool({
          fn,
          cgroupPath: abs,
          replayPid: process.pid,
          place: placer(abs, syscalls, cpus),
        }),
      );
    }
    // Warm up a few pools at a time: every start is a Node process competing for the same 2 cores.
    const counts = prewarmCounts(trace);
    const queue = [...counts];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let next = queue.shift(); next !== undefined; next = queue.shift())
          await pools.get(next[0])?.prewarm(next[1]);
      }),
    );
    opts.signal?.throwIfAborted();
    const baseline = new Map<number, number>();
    for (const pool of pools.values())
      for (const pid of pool.pids()) baseline.set(pid, preemptions(pid));

    daemon.start();
    restoreDispatcher = raiseDispatcher(syscalls);
    await dispatchAll(trace, pools, daemon, measured, opts);

    for (const pool of pools.values()) {
      for (const pid of pool.pids()) contextSwitches += preemptions(pid) - (baseline.get(pid) ?? 0);
    }
    const policy = mode === "alps" ? daemon.policy() : undefined;
    const backendStatus = backend.status();
    return {
      requested: opts.mode,
      mode,
      strategy: opts.strategy,
      reasons,
      invocations: measured.sort((a, b) => a.index - b.index),
      contextSwitches,
      coldStarts: [...pools.values()].reduce((n, p) => n + p.coldStarts, 0),
      backendStatus,
      policy,
      wallMs: performance.now() - began,
    };
  } finally {
    restoreDispatcher?.();
    daemon?.stop();
    await Promise.all([...pools.values()].map((p) => p.close()));
    if (backend !== undefined) {
      for (const abs of sandboxes.paths.values()) {
        await (daemon ?? backend).removeSandbox(abs).catch((error: unknown) => {
          cleanupFailures.push(
            `remove sandbox ${abs}: ${error instanceof Error ? error.message : String(error)}`,
          );
        });
      }
      await backend.close();
    }
    cleanupFailures.push(...sandboxes.remove());
    if (cleanupFailures.length > 0) log(`replay cleanup problems: ${cleanupFailures.join("; ")}`);
  }
}

/**
 * How close to an arrival the dispatcher stops sleeping and waits on the
 * clock, ms. A timer fires up to a millisecond late (ms resolution, plus the
 * event loop), and turnaround counts from the scheduled arrival: on an idle
 * host that lag was 0.5-0.8 ms of the ~2 ms every invocation pays, 40 % of
 * a 1.35 ms function's duration. Waiting costs at most this much CPU per
 * arrival on the dispatcher's core (~0.5 % of the cores for the bundled
 * traces), the same in every mode.
 */
const SPIN_BEFORE_MS = 1;

/** Send every invocation at its arrival time; resolves when all have finished. */
function dispatchAll(
  trace: readonly TraceInvocation[],
  pools: Map<string, WorkerPool>,
  daemon: Daemon,
  measured: MeasuredInvocation[],
  opts: RunModeOptions,
): Promise<void> {
  const total = trace.length;
  const t0 = process.hrtime.bigint() + BigInt(Math.round((opts.leadMs ?? 200) * 1e6));
  const scheduledNs = (inv: TraceInvocation): bigint =>
    t0 + BigInt(Math.round(inv.arrivalMs * 1e6));
  return new Promise<void>((resolve, reject) => {
    let next = 0;
    let done = 0;
    let timer: NodeJS.Timeout | undefined;
    let failed = false;
    const fail = (error: unknown): void => {
      if (failed) return;
      failed = true;
      if (timer !== undefined) clearTimeout(timer);
      reject(error);
    };
    const onAbort = (): void => fail(opts.signal?.reason ?? new Error("replay aborted"));
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const finishOne = (): void => {
      done++;
      opts.onProgress?.(done, total);
      if (done === total) {
        opts.signal?.removeEventListener("abort", onAbort);
        resolve();
      }
    };
    const dispatch = async (index: number, inv: TraceInvocation): Promise<void> => {
      const due = scheduledNs(inv);
      const sentNs = process.hrtime.bigint();
      const pool = pools.get(inv.fn);
      if (pool === undefined) throw new Error(`no sandbox for function '${inv.fn}'`);
      const idle = pool.takeIdle();
      const { worker, cold } =
        idle !== undefined ? { worker: idle, cold: false } : await pool.acquire();
      const cpu = cpuDemandMs(inv);
      // Registered before the worker starts burning, so its first instruction is already the function's.
      const id = daemon.startInvocation(inv.fn, worker.pid);
      let result: RunResult;
      try {
        result = await worker.run(cpu, Math.max(inv.durationMs - cpu, 0));
      } catch (error: unknown) {
        daemon.endInvocation(id);
        throw error;
      }
      daemon.endInvocation(id, { cpuMs: result.cpuMs });
      pool.release(worker);
      measured.push({
        index,
        arrivalMs: inv.arrivalMs,
        fn: inv.fn,
        durationMs: inv.durationMs,
        turnaroundMs: Number(result.endNs - due) / 1e6,
        startMs: Number(result.startNs - due) / 1e6,
        cpuMs: result.cpuMs,
        dispatchLagMs: Number(sentNs - due) / 1e6,
        cold,
      });
    };
    const spinNs = BigInt(SPIN_BEFORE_MS * 1e6);
    const tick = (): void => {
      timer = undefined;
      if (failed) return;
      // The next arrival is at most SPIN_BEFORE_MS away: wait for it on the clock
      // (bounded by that: the timer was set to fire SPIN_BEFORE_MS early).
      const first = trace[next];
      if (first !== undefined) {
        const due = scheduledNs(first);
        if (due - process.hrtime.bigint() <= spinNs) while (process.hrtime.bigint() < due);
      }
      const now = process.hrtime.bigint();
      for (let inv = trace[next]; inv !== undefined && scheduledNs(inv) <= now; inv = trace[next]) {
        const index = next++;
        dispatch(index, inv).then(finishOne, fail);
      }
      const upcoming = trace[next];
      if (upcoming !== undefined) {
        const waitMs = Number(scheduledNs(upcoming) - process.hrtime.bigint()) / 1e6;
        timer = setTimeout(tick, Math.max(0, Math.floor(waitMs - SPIN_BEFORE_MS)));
      }
    };
    if (total === 0) resolve();
    else tick();
  });
}
