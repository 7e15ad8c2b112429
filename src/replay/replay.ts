/**
 * `alps replay`: the same trace under each mode in turn, real processes on
 * this host, then the outputs (per-mode CSV, summary.json, report.html) and
 * the comparison with CFS.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Strategy } from "../contracts/levels.js";
import type { Summary } from "../contracts/summary.js";
import type { TraceInvocation } from "../contracts/trace.js";
import { summarize } from "../sim/index.js";
import { readTraceFile } from "../trace/native.js";
import { compareWithBaseline, toFinished, type VsBaseline } from "./compare.js";
import type { InferenceReport } from "./inference.js";
import { modeCsv } from "./csv.js";
import { predictRun } from "./predict.js";
import { modeProgress } from "./progress.js";
import { type ReportMode, renderReport } from "./report.js";
import { decileRows, fromMeasured } from "./report-data.js";
import { runMode } from "./run-mode.js";
import { type HostStallReport, hostStallNote, markStalls, watchStalls } from "./stall-probe.js";
export { comparisonTable, setupLine } from "./table.js";
import {
  type ApiProtocol,
  type Driver,
  defaultRegistration,
  type ModeRun,
  type Registration,
  type ReplayMode,
  type SandboxCgroupLayout,
  type WorkerKind,
} from "./types.js";

export const DEFAULT_TRACE = fileURLToPath(
  new URL("../../workloads/azure-like.csv", import.meta.url),
);

export interface ReplayOptions {
  tracePath: string;
  modes: ReplayMode[];
  /** How every mode but none reaches alps; several run each such mode once per driver. Default [api]. */
  drivers?: Driver[];
  /** Default warm. */
  workers?: WorkerKind;
  /** Default cpu. */
  sandboxCgroups?: SandboxCgroupLayout;
  strategy?: Strategy;
  /** Confine functions to this many cores; undefined = every core of the host. */
  cores?: number;
  outDir: string;
  fallback?: boolean;
  /** An alps daemon already running, for drivers api and sandbox. */
  socket?: string;
  /** Driver api: the protocol of start and end. Default line. */
  apiProtocol?: ApiProtocol;
  /** Driver api: when an invocation starts against its registration (default by workers: defaultRegistration). */
  registration?: Registration;
  /** More flags for the alps daemon the replay starts. */
  daemonArgs?: string[];
  /** Replay only invocations arriving before this many seconds (said in the outputs). */
  timeLimitS?: number;
  progress?: boolean;
  signal?: AbortSignal;
  log?: (message: string) => void;
}

/** The run every other is compared with: `none` (CFS, the host without alps), else `cfs-observed`. */
export interface Baseline {
  key: string;
  mode: ReplayMode;
  label: string;
}

/** What summary.json holds and `--json` prints. */
export interface ReplaySummary {
  trace: string;
  cores: number;
  /** What every run shares. */
  setup: {
    workers: WorkerKind;
    sandbox_cgroups: SandboxCgroupLayout;
    drivers: Driver[];
    /** Driver api's protocol of start and end (absent without driver api). */
    api_protocol?: ApiProtocol;
    /** Driver api: when an invocation starts against its registration (absent without driver api). */
    registration?: Registration;
  };
  baseline: Baseline | null;
  modes: Record<string, Summary>;
  /** Each run against the baseline (the baseline against itself too). */
  vs_baseline: Record<string, VsBaseline>;
  /** Per run: mode, driver, workers, sandbox cgroups, what ran and why, dispatch and registration lag, inference... */
  details: Record<string, RunDetails>;
  predicted: Record<string, Summary | { error: string }>;
  /**
   * Per run: mean slowdown by duration decile (1 = the shortest tenth of the
   * trace's invocations, the same invocations in every run): the chart of
   * report.html, as numbers.
   */
  deciles: Record<string, number[]>;
  notes: string[];
}

export interface Stats {
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

export interface RunDetails {
  requested: ReplayMode;
  mode: ReplayMode;
  /** null: mode none, nothing of alps to drive. */
  driver: Driver | null;
  workers: WorkerKind;
  sandbox_cgroups: SandboxCgroupLayout;
  strategy: Strategy | null;
  reasons: string[];
  dispatch_lag_ms: { mean: number; max: number };
  /** Driver api: the registration request, ms. */
  register_ms: Stats | null;
  /** Where the functions' first instructions ran: at nice 0 SCHED_OTHER, or at a level alps gave. */
  first_instruction: { at_base: number; at_other_level: number; unknown: number };
  cold_starts: number;
  wall_ms: number;
  backend: ModeRun["backendStatus"] | null;
  policy: ModeRun["policy"] | null;
  /** Driver sandbox: inferred invocations against the real ones. */
  inference: InferenceReport | null;
  /** What the stall probes saw while the mode ran (stall-probe.ts). */
  host_stalls: HostStallReport | null;
}

export interface ReplayResult {
  summary: ReplaySummary;
  runs: Array<{ key: string; run: ModeRun }>;
  outDir: string;
}

/** The trace the modes replay: all of it, or what arrives within the time limit (never silently). */
export function limitTrace(
  trace: readonly TraceInvocation[],
  timeLimitS: number | undefined,
  notes: string[],
): TraceInvocation[] {
  if (timeLimitS === undefined) return [...trace];
  const kept = trace.filter((inv) => inv.arrivalMs < timeLimitS * 1000);
  if (kept.length < trace.length) {
    notes.push(
      `--time-limit-s ${timeLimitS}: replayed the ${kept.length} of ${trace.length} invocations arriving in the first ${timeLimitS} s`,
    );
  }
  return kept;
}

function lagStats(run: ModeRun): { mean: number; max: number } {
  const lags = run.invocations.map((m) => m.dispatchLagMs);
  if (lags.length === 0) return { mean: 0, max: 0 };
  return { mean: lags.reduce((a, b) => a + b, 0) / lags.length, max: Math.max(...lags) };
}

function stats(values: readonly number[]): Stats | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return {
    mean: values.reduce((a, b) => a + b, 0) / values.length,
    p50: at(0.5),
    p99: at(0.99),
    max: sorted[sorted.length - 1] as number,
  };
}

function firstInstruction(run: ModeRun): RunDetails["first_instruction"] {
  let atBase = 0;
  let other = 0;
  let unknown = 0;
  for (const m of run.invocations) {
    if (m.firstNice === undefined || m.firstPolicy === undefined) unknown++;
    else if (m.firstNice === 0 && m.firstPolicy === 0) atBase++;
    else other++;
  }
  return { at_base: atBase, at_other_level: other, unknown };
}

/** How a run is named in the tables: a mode, its driver when several ran, never "cfs" for a daemon. */
export function runLabel(run: ModeRun): string {
  if (run.mode === "none") return "none (CFS, no alps)";
  return `${run.mode} · driver ${run.setup.driver ?? "?"}`;
}

/** The runs a replay makes: each mode once, each mode but none once per driver. */
export function plannedRuns(
  modes: readonly ReplayMode[],
  drivers: readonly Driver[],
): Array<{ mode: ReplayMode; driver: Driver | undefined }> {
  return modes.flatMap(
    (mode): Array<{ mode: ReplayMode; driver: Driver | undefined }> =>
      mode === "none" ? [{ mode, driver: undefined }] : drivers.map((driver) => ({ mode, driver })),
  );
}

export async function replay(opts: ReplayOptions): Promise<ReplayResult> {
  const notes: string[] = [];
  const trace = limitTrace(readTraceFile(opts.tracePath), opts.timeLimitS, notes);
  const cores = opts.cores ?? (await import("node:os")).availableParallelism();
  const drivers = opts.drivers ?? ["api"];
  const workers = opts.workers ?? "warm";
  const layout = opts.sandboxCgroups ?? "cpu";
  const apiProtocol = opts.apiProtocol ?? "line";
  const registration = opts.registration ?? defaultRegistration(workers);
  mkdirSync(opts.outDir, { recursive: true });
  if (opts.socket !== undefined && opts.modes.includes("alps"))
    notes.push(
      "predicted alps learns from the trace's start; the daemon on --socket may have learned before it",
    );
  if (drivers.includes("inprocess"))
    notes.push(
      "driver inprocess is a shortcut: the daemon runs inside the dispatcher, not as a platform reaches it",
    );

  const runs: Array<{ key: string; run: ModeRun }> = [];
  for (const planned of plannedRuns(opts.modes, drivers)) {
    opts.signal?.throwIfAborted();
    const name =
      planned.driver === undefined || drivers.length === 1
        ? planned.mode
        : `${planned.mode}-${planned.driver}`;
    const bar = modeProgress(name, trace.length, opts.progress ?? false);
    const stallWatch = watchStalls();
    let run: ModeRun;
    let hostStalls: HostStallReport;
    try {
      run = await runMode(trace, {
        mode: planned.mode,
        ...(planned.driver === undefined ? {} : { driver: planned.driver }),
        workers,
        sandboxCgroups: layout,
        ...(opts.strategy === undefined ? {} : { strategy: opts.strategy }),
        ...(opts.cores === undefined ? {} : { cores: opts.cores }),
        fallback: opts.fallback ?? false,
        ...(opts.socket === undefined ? {} : { socket: opts.socket }),
        apiProtocol,
        registration,
        ...(opts.daemonArgs === undefined ? {} : { daemonArgs: opts.daemonArgs }),
        outDir: opts.outDir,
        ...(opts.signal === undefined ? {} : { signal: opts.signal }),
        ...(opts.log === undefined ? {} : { log: opts.log }),
        onProgress: (done, total) => bar.update(done, total),
      });
    } finally {
      bar.stop();
      hostStalls = await stallWatch.stop();
    }
    run.hostStalls = hostStalls;
    markStalls(run.invocations, hostStalls);
    // A fallback may run a mode already in the list: keep both, under distinct keys.
    const ran =
      planned.driver === undefined || drivers.length === 1
        ? run.mode
        : `${run.mode}-${planned.driver}`;
    const key = runs.some((r) => r.key === ran) ? `${ran}-for-${name}` : ran;
    runs.push({ key, run });
    writeFileSync(join(opts.outDir, `${key}.csv`), modeCsv(run.invocations));
    const stallNote = hostStallNote(key, hostStalls, run.invocations);
    if (stallNote !== undefined) notes.push(stallNote);
  }

  const summaries: Record<string, Summary> = {};
  const details: Record<string, RunDetails> = {};
  const predicted: ReplaySummary["predicted"] = {};
  const reportModes: ReportMode[] = [];
  for (const { key, run } of runs) {
    const summary = summarize(toFinished(run.invocations), {
      cores,
      label: { mode: key },
      contextSwitches: run.contextSwitches,
    });
    summaries[key] = summary;
    const { note, ...prediction } = predictRun(trace, run, cores, opts.daemonArgs ?? []);
    if (note !== undefined) notes.push(note);
    predicted[key] = "summary" in prediction ? prediction.summary : { error: prediction.error };
    details[key] = {
      requested: run.requested,
      mode: run.mode,
      driver: run.setup.driver ?? null,
      workers: run.setup.workers,
      sandbox_cgroups: run.setup.sandboxCgroups,
      strategy: run.strategy ?? null,
      reasons: run.reasons,
      dispatch_lag_ms: lagStats(run),
      register_ms: stats(
        run.invocations.flatMap((m) => (m.registerMs === undefined ? [] : [m.registerMs])),
      ),
      first_instruction: firstInstruction(run),
      cold_starts: run.coldStarts,
      wall_ms: run.wallMs,
      backend: run.backendStatus ?? null,
      policy: run.policy ?? null,
      inference: run.inference ?? null,
      host_stalls: run.hostStalls ?? null,
    };
    reportModes.push({
      key,
      run,
      summary,
      samples: fromMeasured(run.invocations),
      predicted: prediction,
    });
  }

  const vsBaseline: Record<string, VsBaseline> = {};
  const base =
    runs.find((r) => r.run.mode === "none" && r.run.requested === "none") ??
    runs.find((r) => r.run.mode === "cfs-observed");
  let baseline: Baseline | null = null;
  if (base === undefined)
    notes.push("neither none nor cfs-observed was among the modes: no baseline to compare with");
  else {
    baseline = {
      key: base.key,
      mode: base.run.mode,
      label:
        base.run.mode === "none"
          ? "CFS: the host without alps (no daemon, no BPF program)"
          : `cfs-observed: the alps daemon observing (driver ${base.run.setup.driver ?? "?"}), not the host without alps`,
    };
    if (base.run.mode !== "none")
      notes.push(
        "the baseline is cfs-observed, not none: ratios are against a host running the alps daemon (observing only), not against CFS alone",
      );
    // The baseline against itself too: its ratios are 1 and its shorter-half slowdown is its own.
    for (const { key, run } of runs)
      vsBaseline[key] = compareWithBaseline(
        base.run.invocations,
        run.invocations,
        summarize,
        cores,
      );
  }

  const summary: ReplaySummary = {
    trace: opts.tracePath,
    cores,
    setup: {
      workers,
      sandbox_cgroups: layout,
      drivers,
      ...(drivers.includes("api") ? { api_protocol: apiProtocol } : {}),
      ...(drivers.includes("api") ? { registration } : {}),
    },
    baseline,
    modes: summaries,
    vs_baseline: vsBaseline,
    deciles: Object.fromEntries(
      runs.map(({ key, run }) => [
        key,
        decileRows(key, fromMeasured(run.invocations)).map((r) => r.mean_slowdown),
      ]),
    ),
    details,
    predicted,
    notes,
  };
  writeFileSync(join(opts.outDir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  const html = await renderReport({
    trace: opts.tracePath,
    cores,
    modes: reportModes,
    vsBaseline,
    baseline,
    setup: summary.setup,
    notes,
  });
  writeFileSync(join(opts.outDir, "report.html"), html);
  return { summary, runs, outDir: opts.outDir };
}
