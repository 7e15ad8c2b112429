/** What one replay measures. Field names of the CSV and JSON outputs are set in csv.ts and summary.ts. */

import type { BackendStatus } from "../backend/types.js";
import type { Strategy } from "../contracts/levels.js";
import type { Policy } from "../contracts/policy.js";
import type { InferenceReport } from "./inference.js";
import type { HostStallReport } from "./stall-probe.js";

/**
 * What runs beside the functions in one run of the trace:
 * - `none`: nothing of alps (no daemon, no BPF program, no cgroup move by
 *   alps): the host as it is. The only baseline a result may call CFS.
 * - `cfs-observed`: the daemon in its cfs mode, observing bursts (with the
 *   BPF sensor where it loads) and changing nothing.
 * - `alps`, `sfs`: the daemon in that mode.
 */
export type ReplayMode = "none" | "cfs-observed" | "alps" | "sfs";
export const REPLAY_MODES: readonly ReplayMode[] = ["none", "cfs-observed", "alps", "sfs"];

/**
 * How the replay reaches the daemon:
 * - `api`: a separate `alps daemon` process; every invocation is registered
 *   (POST /v1/invocations) before its first instruction and ended, as a
 *   platform with alps's hook does;
 * - `sandbox`: the same daemon, told only which cgroup is which function's
 *   sandbox (POST /v1/sandboxes): it infers invocations from CPU bursts, as on
 *   an unpatched OpenWhisk or OpenLambda host;
 * - `inprocess`: the daemon inside the dispatcher's own process, invocations
 *   registered by a function call. A shortcut for development, not the path a
 *   platform takes.
 */
export type Driver = "api" | "sandbox" | "inprocess";
export const DRIVERS: readonly Driver[] = ["api", "sandbox", "inprocess"];

/**
 * The function's process: `warm` = a pool of long-lived Node workers per
 * function (warm sandboxes); `fork` = a fresh process per invocation, held
 * until it is registered (cold sandboxes, process-per-request platforms).
 */
export type WorkerKind = "warm" | "fork";

/**
 * How driver api registers and ends invocations: `line`, the control API's
 * line protocol (its lean path for a platform's hot loop), or `http`, the
 * HTTP routes. Both apply the same rules (docs/api.md).
 */
export type ApiProtocol = "http" | "line";
export const API_PROTOCOLS: readonly ApiProtocol[] = ["http", "line"];
export const WORKER_KINDS: readonly WorkerKind[] = ["warm", "fork"];

/**
 * When driver api's invocation starts against its registration:
 * - `await` (the default for fork workers): the dispatcher lets the worker
 *   go once the daemon answered (the first instruction already runs at its
 *   level).
 * - `concurrent` (warm workers, their default): at once, with the
 *   registration on its way (the worker is let go first, then the start
 *   is sent; the level lands when the daemon has it; the round trip is off
 *   the invocation's path). Measured better than await for warm workers
 *   on both bundled workloads, alone and at load (docs/results.md), and it
 *   is what a platform does with a warm sandbox that already has the
 *   request.
 * - `resume` (fork workers): the fresh process waits stopped and the daemon
 *   continues it once it has answered (the start request's `resume`), so
 *   the dispatcher's own release is off the invocation's path. Measured
 *   equal to await here, where the dispatcher runs on SCHED_FIFO
 *   (docs/results.md), so not the default.
 * A fork worker's process is held until it is registered either way.
 */
export type Registration = "await" | "concurrent" | "resume";
export const REGISTRATIONS: readonly Registration[] = ["await", "concurrent", "resume"];

/** The registration a replay uses when none is asked for: see {@link Registration}. */
export function defaultRegistration(workers: WorkerKind): Registration {
  return workers === "warm" ? "concurrent" : "await";
}

/**
 * How sandboxes are laid out: `cpu` = each one a cpu cgroup of its own (as
 * platforms do: Docker, OpenLambda), `none` = one cgroup v2 directory per
 * function without the cpu controller (every function's tasks in one
 * scheduling group).
 */
export type SandboxCgroupLayout = "cpu" | "none";
export const SANDBOX_CGROUP_LAYOUTS: readonly SandboxCgroupLayout[] = ["cpu", "none"];

/** Everything a number of a replay depends on besides the trace and the mode: said beside every result. */
export interface RunSetup {
  /** Undefined for mode `none` (nothing of alps to drive). */
  driver: Driver | undefined;
  workers: WorkerKind;
  sandboxCgroups: SandboxCgroupLayout;
}

/** One invocation as it ran on this host. Times in ms; arrival is the trace's scheduled arrival. */
export interface MeasuredInvocation {
  index: number;
  arrivalMs: number;
  fn: string;
  durationMs: number;
  /** completion − scheduled arrival. */
  turnaroundMs: number;
  /** When the worker began the invocation, − scheduled arrival. */
  startMs: number;
  /** CPU the worker measured on its thread clock. */
  cpuMs: number;
  /** How late the dispatcher sent it (RT throttling and timer granularity show here). */
  dispatchLagMs: number;
  /** No warm worker was idle: it waited for a new one. */
  cold: boolean;
  /** The process that ran it. */
  pid?: number;
  /** Registration through the API: request to answer, ms (driver api only). */
  registerMs?: number;
  /** Nice level and scheduling policy of the function's thread at its first instruction. */
  firstNice?: number;
  firstPolicy?: number;
  /** CLOCK_MONOTONIC of the first instruction and of the end, ms (to line up with the daemon's bursts). */
  startMonoMs?: number;
  endMonoMs?: number;
  /** How long the host stood still (stall-probe.ts) between its arrival and its end, ms; undefined: not probed. */
  hostStallMs?: number;
}

export interface ModeRun {
  /** The mode asked for. */
  requested: ReplayMode;
  /** The mode that ran (differs only when the user allowed the fallback). */
  mode: ReplayMode;
  setup: RunSetup;
  strategy?: Strategy;
  /** Why this backend runs, from backend selection, plus the replay's own notes. */
  reasons: string[];
  invocations: MeasuredInvocation[];
  /** Preemptions of the workers (nonvoluntary context switches), summed (warm workers only). */
  contextSwitches: number;
  coldStarts: number;
  backendStatus?: BackendStatus;
  /** alps: the policy the daemon had learned when the mode ended. */
  policy?: Policy;
  /** Driver sandbox: the invocations the daemon inferred from bursts, against the real ones. */
  inference?: InferenceReport;
  /** What the stall probes saw while the mode ran (set by replay()). */
  hostStalls?: HostStallReport;
  wallMs: number;
}
