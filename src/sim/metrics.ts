/**
 * The summary object (docs/formats.md), shared by the simulator and the replay.
 *
 * Percentiles use the nearest-rank method: the p-th percentile of n values
 * is the value at rank ceil(p/100 · n) (1-based) of the ascending order, so
 * it is always one of the observed values and p100 is the maximum. Ranks are
 * found by selection (Floyd–Rivest), not a full sort: the simulator
 * summarizes millions of invocations per run.
 */
import type { FinishedInvocation, Summary } from "../contracts/summary.js";

/** 1-based nearest rank of the p-th percentile among n values (n ≥ 1). */
function nearestRank(n: number, p: number): number {
  return Math.min(Math.max(Math.ceil((p / 100) * n), 1), n);
}

/** Nearest-rank percentile of ascending-sorted `sorted`; 0 for an empty list. */
export function percentileNearestRank(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  return sorted[nearestRank(n, p) - 1] as number;
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i] as number;
  a[i] = a[j] as number;
  a[j] = t;
}

/**
 * Rearranges a[lo, hi] so a[k] is the value a full sort would put there,
 * smaller-or-equal values before it, greater-or-equal after.
 *
 * Floyd and Rivest's SELECT: on a long range it first selects k within a
 * small window of the range around where k's value is expected (a recursive
 * call on that window), so the pivot a[k] it then partitions around lands
 * close to k and one pass leaves little to search. About n + min(k, n - k)
 * comparisons instead of quickselect's ~3n.
 */
function select(a: Float64Array, k: number, lo: number, hi: number): void {
  let left = lo;
  let right = hi;
  while (right > left) {
    if (right - left > 600) {
      // A window around k whose k-th value is, with high probability,
      // within a few places of the range's k-th.
      const n = right - left + 1;
      const m = k - left + 1;
      const z = Math.log(n);
      const s = 0.5 * Math.exp((2 * z) / 3);
      const sd = 0.5 * Math.sqrt((z * s * (n - s)) / n) * (m < n / 2 ? -1 : 1);
      const windowLeft = Math.max(left, Math.floor(k - (m * s) / n + sd));
      const windowRight = Math.min(right, Math.floor(k + ((n - m) * s) / n + sd));
      select(a, k, windowLeft, windowRight);
    }
    const j = partition(a, left, right, k);
    if (j <= k) left = j + 1;
    if (k <= j) right = j - 1;
  }
}

/**
 * Partitions a[left, right] around t = a[k] (smaller-or-equal values before
 * it, greater-or-equal after) and returns where t ends up. A function of its
 * own: the small partitions of the sampling step make V8 optimize it before
 * the long pass over the whole range calls it.
 */
function partition(a: Float64Array, left: number, right: number, k: number): number {
  const t = a[k] as number;
  let i = left;
  let j = right;
  swap(a, left, k);
  if ((a[right] as number) > t) swap(a, left, right);
  while (i < j) {
    swap(a, i, j);
    i++;
    j--;
    while ((a[i] as number) < t) i++;
    while ((a[j] as number) > t) j--;
  }
  // t is at `left` or at `right`: put it at j, its place.
  if (a[left] === t) {
    swap(a, left, j);
  } else {
    j++;
    swap(a, j, right);
  }
  return j;
}

/**
 * Nearest-rank percentiles of `values` (reordered in place), one per entry
 * of `ps`; 0 for an empty array.
 */
export function percentilesNearestRank(values: Float64Array, ps: readonly number[]): number[] {
  const n = values.length;
  if (n === 0) return ps.map(() => 0);
  const order = ps.map((p, i) => ({ i, k: nearestRank(n, p) - 1 })).sort((x, y) => x.k - y.k);
  const out = new Array<number>(ps.length);
  // Smallest rank first; each later (larger) rank lies in the part right of
  // it, so p90, p99 and p100 after p50 search ever smaller tails.
  let lo = 0;
  for (const { i, k } of order) {
    select(values, k, lo, n - 1);
    out[i] = values[k] as number;
    lo = k;
  }
  return out;
}

/** Per-invocation columns a summary is computed from (all the same length). */
export interface FinishedColumns {
  arrival: Float64Array;
  duration: Float64Array;
  completion: Float64Array;
  /** NaN where the source cannot tell when an invocation first ran (its wait counts as 0). */
  firstStart: Float64Array;
}

type SummaryOptions = {
  cores: number;
  label: { policy?: string; mode?: string };
  contextSwitches?: number;
};

/** What one pass over the columns gathers besides the per-invocation values. */
interface Totals {
  turnaround: number;
  slowdown: number;
  wait: number;
  firstArrival: number;
  lastCompletion: number;
}

/**
 * Fills turnaround, slowdown and wait per invocation and sums them (in index
 * order, as a separate pass per column would). A function of its own, small
 * so V8 optimizes its loop early in a short run.
 */
function perInvocation(
  cols: FinishedColumns,
  turnaround: Float64Array,
  slowdown: Float64Array,
  wait: Float64Array,
): Totals {
  const { arrival, duration, completion, firstStart } = cols;
  let firstArrival = Number.POSITIVE_INFINITY;
  let lastCompletion = Number.NEGATIVE_INFINITY;
  let tSum = 0;
  let sSum = 0;
  let wSum = 0;
  for (let i = 0; i < arrival.length; i++) {
    const a = arrival[i] as number;
    const c = completion[i] as number;
    const t = c - a;
    const sd = t / (duration[i] as number);
    const s = firstStart[i] as number;
    const w = Number.isNaN(s) ? 0 : s - a;
    turnaround[i] = t;
    slowdown[i] = sd;
    wait[i] = w;
    tSum += t;
    sSum += sd;
    wSum += w;
    if (a < firstArrival) firstArrival = a;
    if (c > lastCompletion) lastCompletion = c;
  }
  return { turnaround: tSum, slowdown: sSum, wait: wSum, firstArrival, lastCompletion };
}

/** The summary from columns; the simulator calls this directly (no per-invocation objects). */
export function summarizeColumns(cols: FinishedColumns, opts: SummaryOptions): Summary {
  const n = cols.arrival.length;
  const turnaround = new Float64Array(n);
  const slowdown = new Float64Array(n);
  const wait = new Float64Array(n);
  const sums = perInvocation(cols, turnaround, slowdown, wait);
  const tMean = n === 0 ? 0 : sums.turnaround / n;
  const sMean = n === 0 ? 0 : sums.slowdown / n;
  const wMean = n === 0 ? 0 : sums.wait / n;
  const [t50, t90, t99, tMax] = percentilesNearestRank(turnaround, [50, 90, 99, 100]) as [
    number,
    number,
    number,
    number,
  ];
  const [s50, s99] = percentilesNearestRank(slowdown, [50, 99]) as [number, number];
  const [w99] = percentilesNearestRank(wait, [99]) as [number];
  const label: { policy?: string; mode?: string } = {};
  if (opts.label.policy !== undefined) label.policy = opts.label.policy;
  if (opts.label.mode !== undefined) label.mode = opts.label.mode;
  return {
    ...label,
    cores: opts.cores,
    invocations: n,
    turnaround_ms: { mean: tMean, p50: t50, p90: t90, p99: t99, max: tMax },
    slowdown: { mean: sMean, p50: s50, p99: s99 },
    wait_ms: { mean: wMean, p99: w99 },
    context_switches: opts.contextSwitches ?? 0,
    makespan_ms: n === 0 ? 0 : sums.lastCompletion - sums.firstArrival,
  };
}

/**
 * Summary object of a finished run. Turnaround = completion − arrival;
 * slowdown = turnaround ÷ duration; wait = first start − arrival (0 when the
 * source cannot tell when an invocation first ran).
 */
export function summarize(finished: readonly FinishedInvocation[], opts: SummaryOptions): Summary {
  const n = finished.length;
  const cols: FinishedColumns = {
    arrival: new Float64Array(n),
    duration: new Float64Array(n),
    completion: new Float64Array(n),
    firstStart: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const inv = finished[i] as FinishedInvocation;
    cols.arrival[i] = inv.arrivalMs;
    cols.duration[i] = inv.durationMs;
    cols.completion[i] = inv.completionMs;
    cols.firstStart[i] = inv.firstStartMs ?? Number.NaN;
  }
  return summarizeColumns(cols, opts);
}
