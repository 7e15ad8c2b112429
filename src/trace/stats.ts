/**
 * `alps trace stats`: the figures that say what a trace asks of a host.
 * Percentiles use the nearest-rank definition (an actual duration of the
 * trace, never an interpolation).
 */
import { cpuDemandMs, type TraceInvocation } from "../contracts/trace.js";
import { arrivalSpanMs, offeredLoad, totalCpuMs } from "./load.js";

export interface TraceStats {
  invocations: number;
  functions: number;
  span_ms: number;
  total_cpu_ms: number;
  duration_ms: { mean: number; p50: number; p90: number; p99: number; max: number; min: number };
  /** Median over functions of each function's mean duration (the Azure 2019 fit is about this). */
  function_mean_ms: { p50: number };
  /** Share of invocations carried by the busiest 10% of functions. */
  top10pct_functions_share: number;
  cores: number;
  /** Offered load on `cores` cores; null when every arrival is at the same instant. */
  offered_load: number | null;
  /** Coefficient of variation of inter-arrival gaps (1 for Poisson arrivals; above 1 is bursty). */
  interarrival_cv: number | null;
}

/** Nearest-rank percentile of an ascending array. */
export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Median: the mean of the two middle values for even counts. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1
    ? (s[mid] as number)
    : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function traceStats(invocations: readonly TraceInvocation[], cores: number): TraceStats {
  const durations = invocations.map(cpuDemandMs).sort((a, b) => a - b);
  const perFn = new Map<string, { n: number; sum: number }>();
  for (const inv of invocations) {
    const e = perFn.get(inv.fn) ?? { n: 0, sum: 0 };
    e.n++;
    e.sum += cpuDemandMs(inv);
    perFn.set(inv.fn, e);
  }
  const counts = [...perFn.values()].map((e) => e.n).sort((a, b) => b - a);
  const top = counts
    .slice(0, Math.max(1, Math.ceil(counts.length / 10)))
    .reduce((a, b) => a + b, 0);
  const total = totalCpuMs(invocations);
  return {
    invocations: invocations.length,
    functions: perFn.size,
    span_ms: arrivalSpanMs(invocations),
    total_cpu_ms: total,
    duration_ms: {
      mean: invocations.length > 0 ? total / invocations.length : Number.NaN,
      p50: percentileSorted(durations, 50),
      p90: percentileSorted(durations, 90),
      p99: percentileSorted(durations, 99),
      max: durations[durations.length - 1] ?? Number.NaN,
      min: durations[0] ?? Number.NaN,
    },
    function_mean_ms: { p50: median([...perFn.values()].map((e) => e.sum / e.n)) },
    top10pct_functions_share: invocations.length > 0 ? top / invocations.length : Number.NaN,
    cores,
    offered_load: offeredLoad(invocations, cores) ?? null,
    interarrival_cv: interarrivalCv(invocations),
  };
}

function interarrivalCv(invocations: readonly TraceInvocation[]): number | null {
  const n = invocations.length - 1;
  if (n < 2) return null;
  let sum = 0;
  let sq = 0;
  for (let i = 1; i <= n; i++) {
    const gap =
      (invocations[i] as TraceInvocation).arrivalMs -
      (invocations[i - 1] as TraceInvocation).arrivalMs;
    sum += gap;
    sq += gap * gap;
  }
  const mean = sum / n;
  if (mean <= 0) return null;
  const variance = Math.max(sq / n - mean * mean, 0);
  return Math.sqrt(variance) / mean;
}

/** A readable multi-line rendering of the stats, for the terminal. */
export function formatStats(file: string, s: TraceStats): string {
  const f = (v: number | null, digits = 1): string =>
    v === null || Number.isNaN(v) ? "—" : v.toFixed(digits);
  return [
    `trace          ${file}`,
    `invocations    ${s.invocations}`,
    `functions      ${s.functions}  (busiest 10% carry ${f(s.top10pct_functions_share * 100)}% of invocations)`,
    `span           ${f(s.span_ms / 1000, 2)} s`,
    `duration ms    mean ${f(s.duration_ms.mean)}  p50 ${f(s.duration_ms.p50)}  p90 ${f(s.duration_ms.p90)}  p99 ${f(s.duration_ms.p99)}  max ${f(s.duration_ms.max)}`,
    `fn mean ms     median over functions ${f(s.function_mean_ms.p50)}`,
    `offered load   ${f(s.offered_load, 3)} on ${s.cores} core(s)`,
    `inter-arrival  CV ${f(s.interarrival_cv, 2)}`,
  ].join("\n");
}
