/**
 * The simulator's public surface: a discrete-event, multi-core simulator of
 * CPU scheduling policies over a trace, and the summary metrics shared with
 * the real-host replay. Pure library: no I/O.
 *
 * Conventions every policy follows:
 * - An invocation's CPU demand is `cpuDemandMs(inv)`; when `cpuMs` is less
 *   than `durationMs`, the rest is blocking after the CPU work: completion =
 *   CPU done + (duration − cpu). Turnaround = completion − arrival;
 *   slowdown = turnaround ÷ duration; wait = first start − arrival.
 * - Percentiles are nearest-rank (see metrics.ts).
 * - A context switch is a core starting an invocation other than the one it
 *   ran last (a core's first invocation is not one). The sharing policies
 *   (`ps`, `alps` dynamic/static) have no discrete dispatches and report 0.
 * - `runs` (with `recordRuns`): lengths of uninterrupted runs on a core. Under
 *   the sharing policies an invocation is never taken off the CPU, so its CPU
 *   time is one run.
 * - Ties between equally urgent invocations go to the earlier arrival.
 */
export type { FinishedColumns } from "./metrics.js";
export {
  percentileNearestRank,
  percentilesNearestRank,
  summarize,
  summarizeColumns,
} from "./metrics.js";
export type { SimInput } from "./jobs.js";
export { simulate } from "./simulate.js";
export type {
  AlpsOptions,
  CfsOptions,
  GittinsOptions,
  InvocationOutcome,
  SandboxLayout,
  SfsOptions,
  SimOptions,
  SimPolicyName,
  SimResult,
} from "./types.js";
export { SANDBOX_LAYOUTS, SIM_POLICIES } from "./types.js";
