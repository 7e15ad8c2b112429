/**
 * The rows the report's charts plot, computed from measured (and simulated)
 * invocations. Pure, so the numbers behind each chart are testable without a
 * browser.
 */
import type { MeasuredInvocation } from "./types.js";

/** One invocation's turnaround, for the CDF. `source` is measured or simulated. */
export interface CdfRow {
  series: string;
  source: "measured" | "simulated";
  turnaround_ms: number;
  fraction: number;
}

export interface TurnaroundSample {
  index: number;
  durationMs: number;
  turnaroundMs: number;
  fn: string;
}

export function fromMeasured(measured: readonly MeasuredInvocation[]): TurnaroundSample[] {
  return measured.map((m) => ({
    index: m.index,
    durationMs: m.durationMs,
    turnaroundMs: m.turnaroundMs,
    fn: m.fn,
  }));
}

/** Empirical CDF, thinned to at most `maxPoints` points so the SVG stays small. */
export function cdfRows(
  series: string,
  source: CdfRow["source"],
  samples: readonly TurnaroundSample[],
  maxPoints = 300,
): CdfRow[] {
  const sorted = samples.map((s) => s.turnaroundMs).sort((a, b) => a - b);
  const n = sorted.length;
  const step = Math.max(1, Math.ceil(n / maxPoints));
  const rows: CdfRow[] = [];
  for (let i = 0; i < n; i += step)
    rows.push({
      series,
      source,
      turnaround_ms: Math.max(sorted[i] as number, 0.01),
      fraction: (i + 1) / n,
    });
  if (n > 0 && (n - 1) % step !== 0)
    rows.push({
      series,
      source,
      turnaround_ms: Math.max(sorted[n - 1] as number, 0.01),
      fraction: 1,
    });
  return rows;
}

export interface DecileRow {
  series: string;
  decile: number;
  mean_slowdown: number;
}

/** Mean slowdown per duration decile (1 = shortest tenth). Deciles come from the trace, the same for every series. */
export function decileRows(series: string, samples: readonly TurnaroundSample[]): DecileRow[] {
  const order = [...samples].sort((a, b) => a.durationMs - b.durationMs || a.index - b.index);
  const n = order.length;
  const rows: DecileRow[] = [];
  for (let d = 0; d < 10; d++) {
    const part = order.slice(Math.floor((d * n) / 10), Math.floor(((d + 1) * n) / 10));
    if (part.length === 0) continue;
    const mean =
      part.reduce((s, x) => s + x.turnaroundMs / Math.max(x.durationMs, 1e-6), 0) / part.length;
    rows.push({ series, decile: d + 1, mean_slowdown: mean });
  }
  return rows;
}

export interface FunctionRow {
  series: string;
  function: string;
  mean_turnaround_ms: number;
  invocations: number;
}

/** Mean turnaround per function, for the `limit` functions with the most invocations. */
export function functionRows(
  series: string,
  samples: readonly TurnaroundSample[],
  limit = 25,
): FunctionRow[] {
  const byFn = new Map<string, number[]>();
  for (const s of samples) {
    const list = byFn.get(s.fn) ?? [];
    list.push(s.turnaroundMs);
    byFn.set(s.fn, list);
  }
  return [...byFn]
    .sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))
    .slice(0, limit)
    .map(([fn, list]) => ({
      series,
      function: fn,
      mean_turnaround_ms: list.reduce((a, b) => a + b, 0) / list.length,
      invocations: list.length,
    }));
}
