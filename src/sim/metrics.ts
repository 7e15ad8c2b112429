/**
 * Summary metrics of DESIGN §3, shared by the simulator and the replay.
 *
 * Percentiles use the nearest-rank method: the p-th percentile of n sorted
 * values is the value at rank ceil(p/100 · n) (1-based), so it is always one
 * of the observed values and p100 is the maximum.
 */
import type { FinishedInvocation, Summary } from "../contracts/summary.js";

/** Nearest-rank percentile of ascending-sorted `sorted`; 0 for an empty list. */
export function percentileNearestRank(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  const rank = Math.min(Math.max(Math.ceil((p / 100) * n), 1), n);
  return sorted[rank - 1] as number;
}

function mean(values: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] as number;
  return values.length === 0 ? 0 : sum / values.length;
}

/**
 * Summary object of a finished run. Turnaround = completion − arrival;
 * slowdown = turnaround ÷ duration; wait = first start − arrival (0 when the
 * source cannot tell when an invocation first ran).
 */
export function summarize(
  finished: readonly FinishedInvocation[],
  opts: { cores: number; label: { policy?: string; mode?: string }; contextSwitches?: number },
): Summary {
  const n = finished.length;
  const turnaround = new Float64Array(n);
  const slowdown = new Float64Array(n);
  const wait = new Float64Array(n);
  let firstArrival = Number.POSITIVE_INFINITY;
  let lastCompletion = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const inv = finished[i] as FinishedInvocation;
    const t = inv.completionMs - inv.arrivalMs;
    turnaround[i] = t;
    slowdown[i] = t / inv.durationMs;
    wait[i] = inv.firstStartMs === undefined ? 0 : inv.firstStartMs - inv.arrivalMs;
    if (inv.arrivalMs < firstArrival) firstArrival = inv.arrivalMs;
    if (inv.completionMs > lastCompletion) lastCompletion = inv.completionMs;
  }
  const tMean = mean(turnaround);
  const sMean = mean(slowdown);
  const wMean = mean(wait);
  turnaround.sort();
  slowdown.sort();
  wait.sort();
  const label: { policy?: string; mode?: string } = {};
  if (opts.label.policy !== undefined) label.policy = opts.label.policy;
  if (opts.label.mode !== undefined) label.mode = opts.label.mode;
  return {
    ...label,
    cores: opts.cores,
    invocations: n,
    turnaround_ms: {
      mean: tMean,
      p50: percentileNearestRank(turnaround, 50),
      p90: percentileNearestRank(turnaround, 90),
      p99: percentileNearestRank(turnaround, 99),
      max: percentileNearestRank(turnaround, 100),
    },
    slowdown: {
      mean: sMean,
      p50: percentileNearestRank(slowdown, 50),
      p99: percentileNearestRank(slowdown, 99),
    },
    wait_ms: { mean: wMean, p99: percentileNearestRank(wait, 99) },
    context_switches: opts.contextSwitches ?? 0,
    makespan_ms: n === 0 ? 0 : lastCompletion - firstArrival,
  };
}
