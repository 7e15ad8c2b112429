/** The replay's public surface: other modules and the CLI import from here. */
export { type ReplayOptions, type ReplayResult, type ReplaySummary, DEFAULT_TRACE, comparisonTable, limitTrace, replay } from "./replay.js";
export { type RunModeOptions, ModeUnavailableError, runMode } from "./run-mode.js";
export { type VsCfs, compareWithCfs, durationGroups, meanTurnaround, toFinished } from "./compare.js";
export { MODE_CSV_COLUMNS, modeCsv } from "./csv.js";
export { replayCgroupRoot } from "./sandboxes.js";
export { WORKER_SCRIPT, workerTag } from "./worker-pool.js";
export type { MeasuredInvocation, ModeRun } from "./types.js";
