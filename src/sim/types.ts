/**
 * Public types of the simulator. Other modules (learner, replay, CLI) code
 * against these; keep them stable.
 */
import type { LevelCurve, Strategy } from "../contracts/levels.js";
import type { Policy } from "../contracts/policy.js";
import type { Summary } from "../contracts/summary.js";

export type SimPolicyName = "ps" | "cfs" | "fifo" | "srpt" | "sfs" | "alps" | "alps-ideal";
export const SIM_POLICIES: readonly SimPolicyName[] = [
  "ps",
  "cfs",
  "fifo",
  "srpt",
  "sfs",
  "alps",
  "alps-ideal",
];

export type SandboxLayout = "invocation" | "function";
export const SANDBOX_LAYOUTS: readonly SandboxLayout[] = ["invocation", "function"];

export interface CfsOptions {
  /** How long the least-vruntime invocation runs before the next pick, ms (default 3). */
  baseSliceMs?: number;
  /** Time a core loses each time it switches to a different invocation, ms (default 0). */
  switchCostMs?: number;
}

export interface SfsOptions {
  /** FILTER slice before the first recompute, ms (default 20). */
  initialSliceMs?: number;
  /** The slice never drops below this, ms (default 6). */
  floorMs?: number;
  /** Recompute the slice every this many arrivals (default 100). */
  recomputeEvery?: number;
  /** An invocation that waited more than this many slices for FILTER goes straight to cfs (default 3). */
  overloadSlices?: number;
}

export interface AlpsOptions {
  policy: Policy;
  /** Default `dynamic`. */
  strategy?: Strategy;
  /** A fixed curve; default: curveForPolicy(policy) of src/contracts/levels.ts, as the backends. */
  curve?: LevelCurve;
  /** Dynamic: levels from here up run under SCHED_IDLE (default DEFAULT_IDLE_FROM, 20 = never). */
  idleFrom?: number;
}

export interface SimOptions {
  policy: SimPolicyName;
  cores: number;
  /** srpt: minimum run before an invocation may be preempted, ms (default 0). */
  quantumMs?: number;
  cfs?: CfsOptions;
  sfs?: SfsOptions;
  /** Required for `alps` and `alps-ideal`. */
  alps?: AlpsOptions;
  /**
   * How invocations are grouped where the fair class compares weights:
   * `invocation` (default): each in a sandbox of its own (a container per
   * activation), so each is its own entity; `function`: one sandbox per
   * function, shared by its concurrent invocations, which then share one
   * weight (alps: the most urgent member's level). Modelled by `ps` and
   * `alps` (dynamic, static); the other policies refuse `function`.
   */
  sandboxes?: SandboxLayout;
  /** When true each outcome carries `runs`: the length, ms, of every uninterrupted run. */
  recordRuns?: boolean;
  /** Default true. False leaves `outcomes` empty: callers that only want the summary skip building one object per invocation. */
  keepOutcomes?: boolean;
}

export interface InvocationOutcome {
  /** Position in the input trace. */
  index: number;
  fn: string;
  arrivalMs: number;
  durationMs: number;
  firstStartMs: number;
  completionMs: number;
  /** CPU received; equals the invocation's CPU demand. */
  cpuMs: number;
  runs?: number[];
}

/** What every engine returns besides the filled job table. */
export interface EngineResult {
  contextSwitches: number;
}

export interface SimResult {
  outcomes: InvocationOutcome[];
  summary: Summary;
  contextSwitches: number;
}
