/**
 * The side-by-side table `alps replay` prints at the end, and `alps
 * simulate --compare` for simulated runs: one row per mode (or policy), with
 * its ratios to CFS. Its own module: the simulator's CLI prints it without
 * loading the replay (or the report's chart libraries).
 */
import type { Summary } from "../contracts/summary.js";
import type { VsCfs } from "./compare.js";

/** What the table reads of a summary.json. */
export interface ComparisonInput {
  modes: Record<string, Summary>;
  vs_cfs: Record<string, VsCfs>;
  /** Per mode; `dispatch_lag_ms` when the mode ran real processes. */
  details: Record<string, unknown>;
}

/** The comparison table printed at the end. */
export function comparisonTable(summary: ComparisonInput): string {
  const f = (n: number | undefined): string =>
    n === undefined || !Number.isFinite(n) ? "–" : n.toFixed(2);
  const header = [
    "mode",
    "invocations",
    "mean ms",
    "p99 ms",
    "mean vs cfs",
    "p99 vs cfs",
    "short-half slowdown",
    "long-10% p99 vs cfs",
    "dispatch lag mean/max ms",
  ];
  const rows = Object.entries(summary.modes).map(([key, s]) => {
    const v = summary.vs_cfs[key];
    const lag = (
      summary.details[key] as { dispatch_lag_ms?: { mean: number; max: number } } | undefined
    )?.dispatch_lag_ms;
    return [
      key,
      String(s.invocations),
      f(s.turnaround_ms.mean),
      f(s.turnaround_ms.p99),
      f(v?.mean_turnaround_ratio),
      f(v?.p99_ratio),
      f(v?.short_slowdown),
      f(v?.long_p99_ratio),
      lag === undefined ? "–" : `${f(lag.mean)}/${f(lag.max)}`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => c.padStart(widths[i] ?? 0)).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}
