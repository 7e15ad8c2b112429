/** What one replay measures. Field names of the CSV and JSON outputs are set in csv.ts and summary.ts. */

import type { BackendStatus, Mode } from "../backend/types.js";
import type { Strategy } from "../contracts/levels.js";
import type { Policy } from "../contracts/policy.js";

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
}

export interface ModeRun {
  /** The mode asked for. */
  requested: Mode;
  /** The mode that ran (differs only when the user allowed the fallback). */
  mode: Mode;
  strategy?: Strategy;
  /** Why this backend runs, from backend selection, plus the replay's own notes. */
  reasons: string[];
  invocations: MeasuredInvocation[];
  /** Preemptions of the workers (nonvoluntary context switches), summed. */
  contextSwitches: number;
  coldStarts: number;
  backendStatus?: BackendStatus;
  /** alps: the policy the daemon had learned when the mode ended. */
  policy?: Policy;
  wallMs: number;
}
