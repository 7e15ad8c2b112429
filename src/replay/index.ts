/** The replay's public surface: other modules and the CLI import from here. */

export {
  compareWithCfs,
  durationGroups,
  meanTurnaround,
  toFinished,
  type VsCfs,
} from "./compare.js";
export { MODE_CSV_COLUMNS, modeCsv } from "./csv.js";
export {
  comparisonTable,
  DEFAULT_TRACE,
  limitTrace,
  type ReplayOptions,
  type ReplayResult,
  type ReplaySummary,
  replay,
} from "./replay.js";
export { ModeUnavailableError, type RunModeOptions, runMode } from "./run-mode.js";
export { replayCgroupRoot } from "./sandboxes.js";
export type { MeasuredInvocation, ModeRun } from "./types.js";
export { WORKER_SCRIPT, workerTag } from "./worker-pool.js";
