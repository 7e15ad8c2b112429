/**
 * `alps replay`: the same trace under each mode in turn, real processes on
 * this host, then the outputs (per-mode CSV, summary.json, report.html) and
 * the comparison with CFS.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Mode } from "../backend/types.js";
import type { Strategy } from "../contracts/levels.js";
import type { Summary } from "../contracts/summary.js";
import type { TraceInvocation } from "../contracts/trace.js";
import { type SimPolicyName, simulate, summarize } from "../sim/index.js";
import { readTraceFile } from "../trace/native.js";
import { compareWithCfs, toFinished, type VsCfs } from "./compare.js";
import { modeCsv } from "./csv.js";
import { modeProgress } from "./progress.js";
import { type ReportMode, renderReport } from "./report.js";
import { fromMeasured } from "./report-data.js";
import { runMode } from "./run-mode.js";
export { comparisonTable } from "./table.js";
import type { ModeRun } from "./types.js";

export const DEFAULT_TRACE = fileURLToPath(
  new URL("../../workloads/azure-like.csv", import.meta.url),
);

export interface ReplayOptions {
  tracePath: string;
  modes: Mode[];
  strategy?: Strategy;
  /** Confine functions to this many cores; undefined = every core of the host. */
  cores?: number;
  outDir: string;
  fallback?: boolean;
  /** Replay only invocations arriving before this many seconds (said in the outputs). */
  timeLimitS?: number;
  progress?: boolean;
  signal?: AbortSignal;
  log?: (message: string) => void;
}

/** What summary.json holds and `--json` prints. */
export interface ReplaySummary {
  trace: string;
  cores: number;
  modes: Record<string, Summary>;
  vs_cfs: Record<string, VsCfs>;
  /** Per mode: what ran and why, dispatch lag, cold starts, learned policy (readers may ignore). */
  details: Record<string, unknown>;
  predicted: Record<string, Summary | { error: string }>;
  notes: string[];
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

function simPolicyFor(run: ModeRun): SimPolicyName {
  return run.mode;
}

function predict(
  trace: readonly TraceInvocation[],
  run: ModeRun,
  cores: number,
): ReportMode["predicted"] {
  const policy = simPolicyFor(run);
  try {
    const alps =
      run.mode === "alps" && run.policy !== undefined
        ? { policy: run.policy, strategy: run.strategy }
        : undefined;
    const result = simulate(trace, { policy, cores, ...(alps === undefined ? {} : { alps }) });
    // The simulator's outcomes are in trace order; re-derive turnarounds for the CDF.
    return {
      policy,
      summary: result.summary,
      samples: result.outcomes.map((o) => ({
        index: o.index,
        fn: o.fn,
        durationMs: o.durationMs,
        turnaroundMs: o.completionMs - o.arrivalMs,
      })),
    };
  } catch (error: unknown) {
    return { policy, error: error instanceof Error ? error.message : String(error) };
  }
}

export async function replay(opts: ReplayOptions): Promise<ReplayResult> {
  const notes: string[] = [];
  const trace = limitTrace(readTraceFile(opts.tracePath), opts.timeLimitS, notes);
  const cores = opts.cores ?? (await import("node:os")).availableParallelism();
  mkdirSync(opts.outDir, { recursive: true });

  const runs: Array<{ key: string; run: ModeRun }> = [];
  for (const mode of opts.modes) {
    opts.signal?.throwIfAborted();
    const bar = modeProgress(mode, trace.length, opts.progress ?? false);
    let run: ModeRun;
    try {
      run = await runMode(trace, {
        mode,
        strategy: opts.strategy,
        cores: opts.cores,
        fallback: opts.fallback,
        signal: opts.signal,
        log: opts.log,
        onProgress: (done, total) => bar.update(done, total),
      });
    } finally {
      bar.stop();
    }
    // A fallback may run a mode already in the list: keep both, under distinct keys.
    const key = runs.some((r) => r.key === run.mode) ? `${run.mode}-for-${mode}` : run.mode;
    runs.push({ key, run });
    writeFileSync(join(opts.outDir, `${key}.csv`), modeCsv(run.invocations));
  }

  const summaries: Record<string, Summary> = {};
  const details: Record<string, unknown> = {};
  const predicted: ReplaySummary["predicted"] = {};
  const reportModes: ReportMode[] = [];
  for (const { key, run } of runs) {
    const summary = summarize(toFinished(run.invocations), {
      cores,
      label: { mode: key },
      contextSwitches: run.contextSwitches,
    });
    summaries[key] = summary;
    const prediction = predict(trace, run, cores);
    predicted[key] = "summary" in prediction ? prediction.summary : { error: prediction.error };
    details[key] = {
      requested: run.requested,
      mode: run.mode,
      strategy: run.strategy ?? null,
      reasons: run.reasons,
      dispatch_lag_ms: lagStats(run),
      cold_starts: run.coldStarts,
      wall_ms: run.wallMs,
      backend: run.backendStatus ?? null,
      policy: run.policy ?? null,
    };
    reportModes.push({
      key,
      run,
      summary,
      samples: fromMeasured(run.invocations),
      predicted: prediction,
    });
  }

  const vsCfs: Record<string, VsCfs> = {};
  const cfsRun = runs.find((r) => r.key === "cfs");
  if (cfsRun === undefined) notes.push("cfs was not among the modes: no comparison with CFS");
  else {
    // cfs against itself too: its ratios are 1 and its shorter-half slowdown is the baseline's.
    for (const { key, run } of runs)
      vsCfs[key] = compareWithCfs(cfsRun.run.invocations, run.invocations, summarize, cores);
  }

  const summary: ReplaySummary = {
    trace: opts.tracePath,
    cores,
    modes: summaries,
    vs_cfs: vsCfs,
    details,
    predicted,
    notes,
  };
  writeFileSync(join(opts.outDir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  const html = await renderReport({
    trace: opts.tracePath,
    cores,
    modes: reportModes,
    vsCfs,
    notes,
  });
  writeFileSync(join(opts.outDir, "report.html"), html);
  return { summary, runs, outDir: opts.outDir };
}
