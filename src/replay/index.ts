/** The replay's public surface: other modules and the CLI import from here. */

export {
  compareWithBaseline,
  durationGroups,
  meanTurnaround,
  toFinished,
  type VsBaseline,
} from "./compare.js";
export { MODE_CSV_COLUMNS, modeCsv } from "./csv.js";
export { ModeUnavailableError } from "./alps-side.js";
export {
  type Baseline,
  comparisonTable,
  DEFAULT_TRACE,
  limitTrace,
  plannedRuns,
  type ReplayOptions,
  type ReplayResult,
  type ReplaySummary,
  type RunDetails,
  replay,
  setupLine,
} from "./replay.js";
export { type RunModeOptions, runMode } from "./run-mode.js";
export { replayCgroupRoot } from "./sandboxes.js";
export {
  DRIVERS,
  type Driver,
  type MeasuredInvocation,
  type ModeRun,
  REPLAY_MODES,
  type ReplayMode,
  type RunSetup,
  WORKER_KINDS,
  type WorkerKind,
} from "./types.js";
export { WORKER_SCRIPT, workerTag } from "./worker-pool.js";
