/**
 * One run of the trace: start what runs beside the functions (nothing, an
 * `alps daemon` process, or the in-process shortcut), make the sandboxes and
 * the workers, dispatch every invocation at its arrival time, measure, and
 * put everything back (workers killed by pid, cgroups removed, the daemon
 * stopped, the dispatcher back on SCHED_OTHER) on every exit path, abort
 * included.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import type { Strategy } from "../contracts/levels.js";
import type { TraceInvocation } from "../contracts/trace.js";
import { hasExited, threadsOf } from "../host/proc-stat.js";
import { loadSyscalls } from "../host/syscalls.js";
import { UsageError } from "../errors.js";
import { type AlpsSide, ModeUnavailableError, openAlpsSide } from "./alps-side.js";
import { raiseDispatcher } from "./dispatcher-priority.js";
import { compareInference, type InferenceReport } from "./inference.js";
import { prewarmCounts } from "./prewarm.js";
import { SandboxSet } from "./sandboxes.js";
import {
  type ApiProtocol,
  type Driver,
  defaultRegistration,
  type MeasuredInvocation,
  type ModeRun,
  type ReplayMode,
  type Registration,
  type SandboxCgroupLayout,
  type WorkerKind,
} from "./types.js";
import { ForkWorkers, type Slot, WarmWorkers, type Workers } from "./workers.js";
import type { RunResult } from "./worker-pool.js";

export { ModeUnavailableError };

export interface RunModeOptions {
  mode: ReplayMode;
  /** How the replay reaches alps (ignored for mode none). Default api. */
  driver?: Driver;
  /** Default warm. */
  workers?: WorkerKind;
  /** Default cpu: a cpu cgroup per sandbox, as platforms do. */
  sandboxCgroups?: SandboxCgroupLayout;
  strategy?: Strategy;
  /** Functions run on CPUs 0..cores−1 only (sched_setaffinity); undefined = all CPUs. */
  cores?: number;
  /** alps that cannot run here (no BPF) runs sfs instead, said in `reasons`. */
  fallback?: boolean;
  /** An alps daemon already running (drivers api and sandbox). */
  socket?: string;
  /** Driver api: the protocol of start and end (default line). */
  apiProtocol?: ApiProtocol;
  /** Driver api: when an invocation starts against its registration (default by workers: defaultRegistration). */
  registration?: Registration;
  /** More flags for the alps daemon the replay starts. */
  daemonArgs?: readonly string[];
  /** Where the daemon's log goes (the replay's output directory). */
  outDir?: string;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  log?: (message: string) => void;
  /** Delay between the end of warm-up and the trace's time 0, ms. */
  leadMs?: number;
}

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

/** Bound on the wait for fork processes to exit after the last report, ms. */
const EXIT_WAIT_MS = 5000;
const EXIT_POLL_MS = 5;

/**
 * Resolves once every process in `pids` has exited, or after EXIT_WAIT_MS
 * (a pid the host reused for another process keeps it waiting that long;
 * the comparison then counts that invocation as missed, which is what it was).
 */
async function untilExited(pids: readonly number[]): Promise<void> {
  const deadline = performance.now() + EXIT_WAIT_MS;
  let left = pids.filter((pid) => !hasExited(pid));
  while (left.length > 0 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, EXIT_POLL_MS));
    left = left.filter((pid) => !hasExited(pid));
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function runMode(
  trace: readonly TraceInvocation[],
  opts: RunModeOptions,
): Promise<ModeRun> {
  const log = opts.log ?? (() => {});
  const driver = opts.mode === "none" ? undefined : (opts.driver ?? "api");
  const workerKind = opts.workers ?? "warm";
  const layout = opts.sandboxCgroups ?? "cpu";
  const registration = opts.registration ?? defaultRegistration(workerKind);
  if (registration === "concurrent" && workerKind === "fork")
    throw new UsageError(
      "--registration concurrent applies to warm workers: a fork worker's fresh process is held until it is registered",
    );
  if (registration === "resume" && workerKind === "warm")
    throw new UsageError(
      "--registration resume applies to fork workers: a warm worker is not stopped, it waits on its channel for the next invocation",
    );
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
  const began = performance.now();
  const measured: MeasuredInvocation[] = [];
  let contextSwitches = 0;
  const cleanupFailures: string[] = [];
  let side: AlpsSide | undefined;
  let sandboxes: SandboxSet | undefined;
  let workers: Workers | undefined;
  let restoreDispatcher: (() => void) | undefined;
  try {
    // The daemon starts before the dispatcher is raised: a child must not inherit its RT level.
    side = await openAlpsSide({
      mode: opts.mode,
      driver: driver ?? "api",
      ...(opts.strategy === undefined ? {} : { strategy: opts.strategy }),
      cores: opts.cores ?? hostCpus,
      fallback: opts.fallback ?? false,
      ...(opts.socket === undefined ? {} : { socket: opts.socket }),
      ...(opts.apiProtocol === undefined ? {} : { apiProtocol: opts.apiProtocol }),
      ...(opts.daemonArgs === undefined ? {} : { daemonArgs: opts.daemonArgs }),
      outDir: opts.outDir ?? ".",
      log,
    });
    reasons.push(...side.reasons);
    if (side.registers)
      reasons.push(
        registration === "resume" && side.resumes
          ? "registration resume: the fresh process waits stopped and the daemon continues it once it has answered (the start request's resume)"
          : registration === "concurrent"
            ? "registration concurrent: a warm worker starts an invocation at once, its registration on the way (the level lands when the daemon has it)"
            : `registration await: the dispatcher lets the ${workerKind === "warm" ? "warm worker" : "fresh process"} go once the daemon answered its registration`,
      );
    reasons.push(
      layout === "cpu"
        ? "sandbox cgroups cpu: every sandbox a cpu cgroup of its own (as platforms do)"
        : "sandbox cgroups none: one cgroup v2 directory per function, no cpu controller (all functions in one scheduling group)",
    );
    sandboxes = new SandboxSet(process.pid, layout, side);
    sandboxes.setFunctions(functions);
    const theSide = side;
    workers =
      workerKind === "warm"
        ? new WarmWorkers({ functions, sandboxes, syscalls, cpus, replayPid: process.pid })
        : new ForkWorkers({ sandboxes, syscalls, cpus, replayPid: process.pid });
    if (workerKind === "fork")
      reasons.push(
        "workers fork: a fresh process per invocation (burn-fork zygote), parked in its sandbox ahead of the arrival and held until registered; a process parked on the spot counts as a cold start, in turnaround, in every mode",
      );
    await workers.prewarm(prewarmCounts(trace));
    opts.signal?.throwIfAborted();
    const baseline = new Map<number, number>();
    for (const pid of workers.pids()) baseline.set(pid, preemptions(pid));

    theSide.start();
    const fromMonoMs = Number(process.hrtime.bigint()) / 1e6;
    restoreDispatcher = raiseDispatcher(syscalls);
    await dispatchAll(trace, workers, theSide, measured, { ...opts, registration });
    restoreDispatcher();
    restoreDispatcher = undefined;
    // A fork process's last burst ends when it exits, after it reported its
    // end; on a loaded host that can be well past the report. The bursts
    // the sandbox driver is judged by are those that ended in the window, so
    // the window closes once every such process is gone.
    if (workerKind === "fork" && driver === "sandbox")
      await untilExited(measured.flatMap((m) => (m.pid === undefined ? [] : [m.pid])));
    const toMonoMs = Number(process.hrtime.bigint()) / 1e6;

    for (const pid of workers.pids())
      contextSwitches += preemptions(pid) - (baseline.get(pid) ?? 0);
    const collected = await theSide.collect();
    let inference: InferenceReport | undefined;
    if (collected.bursts !== undefined) {
      inference = compareInference(
        measured.map((m) => ({
          fn: m.fn,
          pid: m.pid ?? -1,
          startMonoMs: m.startMonoMs ?? Number.NaN,
          endMonoMs: m.endMonoMs ?? Number.NaN,
          cpuMs: m.cpuMs,
        })),
        collected.bursts.records,
        {
          functions: new Set(functions),
          fromMonoMs,
          toMonoMs: toMonoMs + 50,
          lost: collected.bursts.lost,
        },
      );
    }
    return {
      requested: opts.mode,
      mode: theSide.mode,
      setup: { driver, workers: workerKind, sandboxCgroups: layout },
      ...(opts.strategy === undefined ? {} : { strategy: opts.strategy }),
      reasons,
      invocations: measured.sort((a, b) => a.index - b.index),
      contextSwitches,
      coldStarts: workers.coldStarts,
      ...(collected.backendStatus === undefined ? {} : { backendStatus: collected.backendStatus }),
      ...(collected.policy === undefined ? {} : { policy: collected.policy }),
      ...(inference === undefined ? {} : { inference }),
      wallMs: performance.now() - began,
    };
  } finally {
    restoreDispatcher?.();
    await workers?.close().catch((error: unknown) => {
      cleanupFailures.push(`workers: ${message(error)}`);
    });
    if (sandboxes !== undefined) cleanupFailures.push(...(await sandboxes.removeAll()));
    if (side !== undefined) cleanupFailures.push(...(await side.close()));
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

/** Send every invocation at its arrival time; resolves when all have finished. Exported for its tests. */
export function dispatchAll(
  trace: readonly TraceInvocation[],
  workers: Workers,
  side: AlpsSide,
  measured: MeasuredInvocation[],
  opts: RunModeOptions,
): Promise<void> {
  const total = trace.length;
  const concurrent = opts.registration === "concurrent";
  // The daemon continues a fork worker's process; the dispatcher only hands it its demand.
  const resume = opts.registration === "resume" && side.resumes;
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
      // A warm idle worker is taken without an await, so the in-process shortcut
      // reaches the first instruction without yielding to the event loop.
      const slot: Slot = workers.takeNow(index, inv) ?? (await workers.acquire(index, inv));
      // Registered before the slot runs a single instruction of the invocation,
      // or (concurrent) alongside it: the id is awaited before the end either way.
      let id: string | undefined;
      let registerMs: number | undefined;
      let registering: Promise<string> | undefined;
      // Resume: the demand is in the process's pipe before the daemon can continue it.
      // Concurrent: the worker is let go before the registration is sent. The
      // daemon (real-time) then wakes after the worker, not before it: in six
      // rotated rounds on the bundled two, the mean was lower in every one and
      // the tail no worse (docs/results.md, "Warm workers let go before their
      // registration").
      let handedOver: Promise<RunResult> | undefined;
      if (resume) handedOver = slot.run({ continuedBy: "daemon" });
      else if (concurrent) handedOver = slot.run();
      // Awaited below; a registration that throws first must not leave it unhandled.
      handedOver?.catch(() => {});
      if (side.registers) {
        const asked = process.hrtime.bigint();
        const registered = side.register(inv.fn, slot.pid, resume);
        const answered = (value: string): string => {
          registerMs = Number(process.hrtime.bigint() - asked) / 1e6;
          return value;
        };
        if (typeof registered === "string") id = answered(registered);
        else if (concurrent) {
          registering = registered.then(answered);
          // Handled here; awaited (and its error thrown) once the invocation ran.
          registering.catch(() => {});
        } else id = answered(await registered);
      }
      let result: RunResult;
      try {
        result = await (handedOver ?? slot.run());
        if (registering !== undefined) id = await registering;
      } catch (error: unknown) {
        if (registering !== undefined) id = await registering.catch(() => undefined);
        if (id !== undefined) await Promise.resolve(side.end(id, 0)).catch(() => {});
        throw error;
      }
      // Ended before the slot serves another invocation, so no end can undo the next start.
      if (id !== undefined) await side.end(id, result.cpuMs);
      slot.release();
      measured.push({
        index,
        arrivalMs: inv.arrivalMs,
        fn: inv.fn,
        durationMs: inv.durationMs,
        turnaroundMs: Number(result.endNs - due) / 1e6,
        startMs: Number(result.startNs - due) / 1e6,
        cpuMs: result.cpuMs,
        dispatchLagMs: Number(sentNs - due) / 1e6,
        cold: slot.cold,
        pid: slot.pid,
        ...(registerMs === undefined ? {} : { registerMs }),
        ...(result.nice === undefined ? {} : { firstNice: result.nice }),
        ...(result.policy === undefined ? {} : { firstPolicy: result.policy }),
        startMonoMs: Number(result.startNs) / 1e6,
        endMonoMs: Number(result.endNs) / 1e6,
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
