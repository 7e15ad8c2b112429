/**
 * Public types of the simulator. Other modules (learner, replay, CLI) code
 * against these; keep them stable.
 */
import type { TableResolution } from "../contracts/gittins.js";
import type { LevelCurve, Strategy } from "../contracts/levels.js";
import type { Policy } from "../contracts/policy.js";
import type { Summary } from "../contracts/summary.js";
import type { OverrunOptions } from "./overrun.js";

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

/** An invocation whose CPU work and blocking time are done: what a daemon records when it ends. */
export interface CompletedInvocation {
  fn: string;
  arrivalMs: number;
  /** CPU it used, ms. */
  cpuMs: number;
  completionMs: number;
}

/**
 * A policy that changes during the run: a daemon learning online, on
 * simulated time. The engine hands over each invocation as its CPU work ends
 * (with the time it completes), stops at each decision instant the feed
 * names, and applies what the feed decides from that instant on: to every
 * invocation that arrives later and, under dynamic and static, to the running
 * ones too, as the kernel reads the policy map at every runtime update.
 */
export interface PolicyFeed {
  /** The policy in force from time 0. */
  readonly initial: Policy;
  /** When the next decision falls, ms of simulated time (Infinity: never). */
  nextDecisionMs(): number;
  /**
   * The decision at `nowMs`. `busyMs`: CPU time all cores have given
   * invocations since time 0 (the feed derives utilization from it).
   * Returns the new policy, or undefined when it did not change.
   */
  decide(nowMs: number, busyMs: number): Policy | undefined;
  /** Invocation done with its CPU work; it completes at `completionMs`. */
  cpuDone(invocation: CompletedInvocation): void;
  /**
   * The run lengths (CPU of each burst, ms) of `fn` that the policy in force
   * was learned from; undefined when the feed keeps none. Read by the
   * Gittins remaining time (AlpsCommon.gittins).
   */
  runSamples?(fn: string): readonly number[] | undefined;
}

/**
 * Strategy `dynamic` with distribution-aware remaining time: 1/Gittins index
 * of the function's learned runs given the CPU used (src/contracts/gittins.ts)
 * in place of max(predicted − used, 0). Simulator only; needs a feed whose
 * runSamples gives the learner's samples. A function without an entry of its
 * own (or without samples) uses its entry's predicted run as a one-point
 * distribution, which is `dynamic` exactly.
 */
export interface GittinsOptions {
  /** How finely the level table follows 1/G (default exact). */
  resolution?: TableResolution;
  /** Whether the slice rule applies as to `dynamic` (past the slice never below nice 0); default true. */
  slice?: boolean;
  /**
   * The distribution: `runs`, the learned samples (default), or `mean`, one
   * point at each entry's predicted run: `dynamic`'s own levels through the
   * table, a check of the table path and the reference for `slice: false`.
   */
  from?: "runs" | "mean";
}

interface AlpsCommon {
  /** Default `dynamic`. */
  strategy?: Strategy;
  /** A fixed curve; default: curveForPolicy(policy) of src/contracts/levels.ts, as the backends. */
  curve?: LevelCurve;
  /** Dynamic: levels from here up run under SCHED_IDLE (default DEFAULT_IDLE_FROM, 20 = never). */
  idleFrom?: number;
  /** Dynamic: yields end this many predicted runs after an invocation starts (yieldLiftMs; default DEFAULT_YIELD_BOUND, 0 = never). */
  yieldBound?: number;
  /** Dynamic: nice levels between the levels used (steppedThresholdsMs; default DEFAULT_LEVEL_STEP). Not with `curve`, which has its own. */
  levelStep?: number;
  /** Lowest level any invocation gets (the daemon's floor for callers that are not root); default none. */
  floor?: number;
  /** Dynamic: remaining time from the Gittins index of the learned runs (needs a feed); absent: predicted − used. */
  gittins?: GittinsOptions;
  /** Dynamic, simulator only: the remaining time of a burst past its prediction (overrun.ts); absent: the kernel's (none). */
  overrun?: OverrunOptions;
}

/** One policy for the whole run, or a feed whose policy changes during it (`alps` only). */
export type AlpsOptions = AlpsCommon &
  ({ policy: Policy; feed?: undefined } | { feed: PolicyFeed; policy?: undefined });

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
