/**
 * The learner (docs/architecture.md, "The policy"): replays the window in the simulator under SRPT and
 * derives each function's predicted run, priority and slice. Pure: the
 * caller supplies the window, the previous result and the utilization, so the
 * same code runs on the daemon's clock and on simulated time in tests.
 *
 * Deliberate differences from the published ALPS artifact (issue 6): the
 * computed rank is the `priority` in the output; the smoothed slice is the
 * one kept (nothing later overwrites it); the overload factor is
 * (100 + θ − util)/(100·γ), not a multiplication by β; every estimator
 * handles 0/1 samples and constant input.
 */
import { functionTable, ownEntry } from "../contracts/function-table.js";
import type { Policy, PolicyBand, PolicyEntry } from "../contracts/policy.js";
import type { TraceInvocation } from "../contracts/trace.js";
import { simulate } from "../sim/index.js";
import type { ConfigKey, DaemonConfig } from "./config.js";
import { type EstimatorName, estimate, mean, stddev } from "./estimators.js";
import type { InvocationRecord } from "./window.js";

/**
 * The config keys the learner reads: its parameters are these options, with
 * their names and defaults (src/frontend/config.ts, docs/config.md), plus the
 * cores it simulates.
 */
export const LEARNER_KEYS = [
  "estimator",
  "ewmaWeight",
  "alpha",
  "beta",
  "gamma",
  "theta",
  "capMs",
  "sliceFloorMs",
  "smoothing",
  "quantumMs",
  "maxFunctions",
  "minSamples",
  "sliceClamp",
  "bandRatio",
  "bandLoMaxMs",
  "defaultPredictedMs",
  "defaultSliceMs",
] as const satisfies readonly ConfigKey[];

/**
 * What each one means: the option's help (config.ts). In short: the slice is
 * max(min(α·run estimate, cap) − β·stddev, floor), smoothed with the previous
 * one, clamped to the more urgent function's when `sliceClamp` is on, then
 * shortened by the overload factor (100 + θ − util)/(100·γ) above θ % CPU;
 * `quantumMs` is the SRPT quantum of the replay the runs come from.
 */
export type LearnerParams = Pick<DaemonConfig, (typeof LEARNER_KEYS)[number]> & {
  /** Cores the replay simulates (the host's). */
  cores: number;
};

/** The learner's parameters from a (validated) configuration. */
export function learnerParams(config: DaemonConfig, cores: number): LearnerParams {
  const params: Record<string, unknown> = { cores };
  for (const key of LEARNER_KEYS) params[key] = config[key];
  return params as LearnerParams;
}

/** How one function's entry came about: `alps policy` prints it. */
export interface Explanation {
  invocations: number;
  /** Bursts (invocations with CPU) the prediction is estimated from. */
  samples: number;
  estimator: EstimatorName;
  /** The predicted run: the estimator over the bursts' CPU. */
  estimate_ms: number;
  /** Uninterrupted runs SRPT gave the function in the replay. */
  runs: number;
  /** The estimator over those runs: what the slice starts from. */
  run_estimate_ms: number;
  /** Stddev of those runs. */
  stddev_ms: number;
  mean_wait_ms: number;
  /** min(α·estimate, cap). */
  widened_ms: number;
  /** β·stddev, subtracted. */
  stddev_penalty_ms: number;
  /** max(widened − penalty, floor), at most the cap. */
  raw_slice_ms: number;
  /** Previous slice (before overload) that smoothing blended in, if any. */
  previous_slice_ms: number | null;
  smoothed_slice_ms: number;
  /** Clamped to the slice of a more urgent function, when that was shorter. */
  clamped_to_ms: number | null;
  /** Slice before the overload factor: what the next period smooths against. */
  slice_before_overload_ms: number;
  overload_factor: number;
  arithmetic: string;
}

export interface LearnedEntry extends PolicyEntry {
  explain: Explanation;
}

export interface LearnerInfo {
  cores: number;
  window_invocations: number;
  functions_seen: number;
  /** Functions with fewer than `minSamples` bursts: on the default entry for now. */
  pending: string[];
  /** Functions beyond `maxFunctions`: on the default entry, counted. */
  overflow: string[];
  utilization_pct: number | null;
  overload_factor: number;
  /** Invocations with no CPU time (nothing to replay). */
  zero_cpu_invocations: number;
}

export interface LearnedPolicy extends Policy {
  functions: Record<string, LearnedEntry>;
  default: PolicyEntry;
  learner: LearnerInfo;
}

/** The band's lo never goes below this, ms, however short the longest predicted run. */
export const BAND_LO_MIN_MS = 1;

/**
 * The band strategy `dynamic` spreads its levels over (src/contracts/levels.ts),
 * fitted to the predicted runs of a policy's entries: it ends at the longest
 * and starts `ratio` times lower, but not above `loMaxMs`. Undefined (the
 * fixed band) when `ratio` is 0 or nothing predicts a positive run.
 *
 * Why: the 40 levels give a fixed weight ratio end to end, so the narrower
 * the band in remaining time, the faster weight falls with it (weight goes as
 * remaining^-k, k = 39·ln 1.25 / ln(hi/lo): about 1.5 over the fixed
 * 5..2000 ms, 2.6 over a ratio of 30) and the closer the shares come to
 * SRPT's one-after-the-other. A fixed band either wastes levels above the
 * longest run (which then starts well below the top and barely yields) or
 * saturates below it. The cap on lo keeps short functions apart when one
 * very long function stretches the band. It is off by default because the
 * host did not gain from it; the simulator and host measurements are in
 * docs/learning.md, item 6.
 */
export function fitBand(
  predictedMs: Iterable<number>,
  ratio: number,
  loMaxMs: number,
): PolicyBand | undefined {
  if (!(ratio > 0)) return undefined;
  let longest = 0;
  for (const p of predictedMs) if (p > longest) longest = p;
  if (!(longest > 0)) return undefined;
  const lo = Math.min(Math.max(longest / ratio, BAND_LO_MIN_MS), Math.max(loMaxMs, BAND_LO_MIN_MS));
  return { lo_ms: lo, hi_ms: Math.max(longest, lo) };
}

/** (100 + θ − util)/(100·γ) when util > θ, else 1; never above 1 nor below 0. */
export function overloadFactor(
  utilizationPct: number | undefined,
  theta: number,
  gamma: number,
): number {
  if (utilizationPct === undefined || utilizationPct <= theta) return 1;
  return Math.min(1, Math.max(0, (100 + theta - utilizationPct) / (100 * gamma)));
}

/**
 * A slice under the overload factor: shortened, but never below the floor
 * (nor raised above what it was). The floor is one SRPT quantum, the
 * shortest run the replay can say a function gets. A slice the overload
 * factor shortened below it took the boost from short functions early in
 * their run, and their invocations then waited behind long ones at nice 0
 * (docs/learning.md, item 5, has the measurements).
 */
export function overloadedSlice(sliceMs: number, factor: number, floorMs: number): number {
  return Math.max(sliceMs * factor, Math.min(floorMs, sliceMs));
}

interface FunctionStats {
  invocations: number;
  /** CPU of each invocation's burst, in arrival order: what predicted_ms estimates. */
  bursts: number[];
  /** Uninterrupted runs SRPT gave f's invocations: what the slice starts from. */
  runs: number[];
  waits: number[];
}

/** Replay the window under SRPT and collect each function's runs and waits. */
function replayWindow(
  records: readonly InvocationRecord[],
  params: LearnerParams,
): { stats: Map<string, FunctionStats>; zeroCpu: number } {
  const stats = new Map<string, FunctionStats>();
  const statsOf = (fn: string): FunctionStats => {
    let s = stats.get(fn);
    if (s === undefined) {
      s = { invocations: 0, bursts: [], runs: [], waits: [] };
      stats.set(fn, s);
    }
    return s;
  };
  // The window hands records over sorted; only sort (a copy) when a caller did not.
  let inOrder = true;
  for (let i = 1; i < records.length && inOrder; i++)
    inOrder =
      (records[i] as InvocationRecord).arrivalMs >= (records[i - 1] as InvocationRecord).arrivalMs;
  const sorted = inOrder ? records : [...records].sort((a, b) => a.arrivalMs - b.arrivalMs);
  const t0 = sorted[0]?.arrivalMs ?? 0;
  const trace: TraceInvocation[] = [];
  let zeroCpu = 0;
  for (const r of sorted) {
    statsOf(r.fn).invocations++;
    // Only CPU competes in the replay: blocking time does not delay others.
    if (r.cpuMs > 0) trace.push({ arrivalMs: r.arrivalMs - t0, fn: r.fn, durationMs: r.cpuMs });
    else zeroCpu++;
  }
  if (trace.length === 0) return { stats, zeroCpu };
  const result = simulate(trace, {
    policy: "srpt",
    cores: params.cores,
    quantumMs: params.quantumMs,
    recordRuns: true,
  });
  for (const outcome of result.outcomes) {
    const s = statsOf(outcome.fn);
    if (outcome.runs === undefined)
      throw new Error("simulator did not record runs (recordRuns: true was asked)");
    for (const run of outcome.runs) s.runs.push(run);
    s.bursts.push(outcome.cpuMs);
    s.waits.push(Math.max(0, outcome.completionMs - outcome.arrivalMs - outcome.cpuMs));
  }
  return { stats, zeroCpu };
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

export function learnPolicy(
  records: readonly InvocationRecord[],
  params: LearnerParams,
  previous?: LearnedPolicy,
  utilizationPct?: number,
): LearnedPolicy {
  const { stats, zeroCpu } = replayWindow(records, params);

  // Who gets an entry: enough samples, and within the map size (most samples first, then name).
  const pending: string[] = [];
  const eligible: string[] = [];
  for (const [fn, s] of stats)
    (s.bursts.length >= params.minSamples && s.bursts.length > 0 ? eligible : pending).push(fn);
  eligible.sort(
    (a, b) =>
      (stats.get(b)?.bursts.length ?? 0) - (stats.get(a)?.bursts.length ?? 0) ||
      (a < b ? -1 : a > b ? 1 : 0),
  );
  const kept = eligible.slice(0, params.maxFunctions);
  const overflow = eligible.slice(params.maxFunctions);

  // The predicted run is a whole burst: the kernel counts a task's CPU from
  // the start of its burst, so predicted remaining = predicted − used only
  // means something if `predicted` is the burst's CPU, not the piece SRPT
  // ran before a preemption (those pieces decide the slice).
  const estimates = new Map<string, number>();
  for (const fn of kept)
    estimates.set(fn, estimate(params.estimator, stats.get(fn)?.bursts ?? [], params.ewmaWeight));
  // Rank shortest predicted run first; ties by name so the order is stable.
  kept.sort(
    (a, b) => (estimates.get(a) ?? 0) - (estimates.get(b) ?? 0) || (a < b ? -1 : a > b ? 1 : 0),
  );

  const factor = overloadFactor(utilizationPct, params.theta, params.gamma);
  // Keyed by whatever the platforms name their functions ("__proto__" too).
  const functions = functionTable<LearnedEntry>();
  let moreUrgentSlice = Number.POSITIVE_INFINITY;
  kept.forEach((fn, i) => {
    const s = stats.get(fn) as FunctionStats;
    const est = estimates.get(fn) ?? 0;
    const runEst = estimate(params.estimator, s.runs, params.ewmaWeight);
    const sd = stddev(s.runs);
    const widened = Math.min(params.alpha * runEst, params.capMs);
    const penalty = params.beta * sd;
    const raw = Math.min(Math.max(widened - penalty, params.sliceFloorMs, 0), params.capMs);
    const prev =
      previous === undefined
        ? undefined
        : ownEntry(previous.functions, fn)?.explain.slice_before_overload_ms;
    const smoothed =
      prev === undefined ? raw : params.smoothing * prev + (1 - params.smoothing) * raw;
    const clamped = Math.min(
      smoothed,
      params.sliceClamp ? moreUrgentSlice : Number.POSITIVE_INFINITY,
      params.capMs,
    );
    moreUrgentSlice = clamped;
    const slice = overloadedSlice(clamped, factor, params.sliceFloorMs);
    const arithmetic = [
      `predicted ${round3(est)} ms (${params.estimator} of ${s.bursts.length} bursts)`,
      `slice max(min(${params.alpha}×${round3(runEst)}, ${params.capMs}) − ${params.beta}×${round3(sd)}, floor ${params.sliceFloorMs}) = ${round3(raw)} (${params.estimator} and stddev of ${s.runs.length} SRPT runs)`,
      prev === undefined
        ? ""
        : `smoothed ${params.smoothing}×${round3(prev)} + ${round3(1 - params.smoothing)}×${round3(raw)} = ${round3(smoothed)}`,
      clamped < smoothed ? `clamped to ${round3(clamped)} (more urgent slice or cap)` : "",
      factor < 1
        ? `× overload ${round3(factor)} = ${round3(clamped * factor)}${slice > clamped * factor ? `, floor ${round3(slice)}` : ""}`
        : "",
    ]
      .filter((part) => part !== "")
      .join("; ");
    functions[fn] = {
      priority: i + 1,
      predicted_ms: est,
      slice_ms: slice,
      explain: {
        invocations: s.invocations,
        samples: s.bursts.length,
        estimator: params.estimator,
        estimate_ms: est,
        runs: s.runs.length,
        run_estimate_ms: runEst,
        stddev_ms: sd,
        mean_wait_ms: mean(s.waits),
        widened_ms: widened,
        stddev_penalty_ms: penalty,
        raw_slice_ms: raw,
        previous_slice_ms: prev ?? null,
        smoothed_slice_ms: smoothed,
        clamped_to_ms: clamped < smoothed ? clamped : null,
        slice_before_overload_ms: clamped,
        overload_factor: factor,
        arithmetic,
      },
    };
  });

  const fallback: PolicyEntry = {
    priority: kept.length + 1,
    predicted_ms: params.defaultPredictedMs,
    slice_ms: overloadedSlice(
      Math.min(params.defaultSliceMs, params.capMs),
      factor,
      params.sliceFloorMs,
    ),
  };
  const band = fitBand(
    [fallback.predicted_ms, ...Object.values(functions).map((e) => e.predicted_ms)],
    params.bandRatio,
    params.bandLoMaxMs,
  );
  return {
    functions,
    default: fallback,
    ...(band === undefined ? {} : { band }),
    learner: {
      cores: params.cores,
      window_invocations: records.length,
      functions_seen: stats.size,
      pending,
      overflow,
      utilization_pct: utilizationPct ?? null,
      overload_factor: factor,
      zero_cpu_invocations: zeroCpu,
    },
  };
}
