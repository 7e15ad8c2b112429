/**
 * The simulator's public surface: a discrete-event, multi-core simulator of
 * CPU scheduling policies over a trace, and the summary metrics shared with
 * the real-host replay. Pure library: no I/O.
 */
export type { FinishedColumns } from "./metrics.js";
export {
  percentileNearestRank,
  percentilesNearestRank,
  summarize,
  summarizeColumns,
} from "./metrics.js";
export { simulate } from "./simulate.js";
export type {
  AlpsOptions,
  CfsOptions,
  InvocationOutcome,
  SfsOptions,
  SimOptions,
  SimPolicyName,
  SimResult,
} from "./types.js";
export { SIM_POLICIES } from "./types.js";
