/**
 * The side-by-side table `alps replay` prints at the end, and `alps
 * simulate --compare` for simulated runs: one row per run (or policy), with
 * its ratios to the baseline. Its own module: the simulator's CLI prints it
 * without loading the replay (or the report's chart libraries).
 */
import type { Summary } from "../contracts/summary.js";
import type { VsBaseline } from "./compare.js";

/** What the table reads of a summary.json (a replay's, or `alps simulate --compare`'s). */
export interface ComparisonInput {
  modes: Record<string, Summary>;
  /** A replay: each run against its baseline run. */
  vs_baseline?: Record<string, VsBaseline>;
  baseline?: { key: string; label: string } | null;
  /** What every run of a replay shares. */
  setup?: {
    workers: string;
    sandbox_cgroups: string;
    drivers: readonly string[];
    api_protocol?: string;
    registration?: string;
  };
  /** Simulated policies: each against the simulated cfs. */
  vs_cfs?: Record<string, VsBaseline>;
  /** Per run; `dispatch_lag_ms`, `driver` and `register_ms` when it ran real processes. */
  details: Record<string, unknown>;
}

/** What every number of a replay came from, in one line (printed above its table). */
export function setupLine(summary: ComparisonInput): string | undefined {
  if (summary.setup === undefined) return undefined;
  const base =
    summary.baseline === null || summary.baseline === undefined
      ? "no baseline"
      : `baseline ${summary.baseline.key} = ${summary.baseline.label}`;
  return `workers ${summary.setup.workers} · sandbox cgroups ${summary.setup.sandbox_cgroups} · driver ${summary.setup.drivers.join(", ")}${summary.setup.api_protocol === undefined ? "" : ` (api over ${summary.setup.api_protocol}${summary.setup.registration === undefined ? "" : `, registration ${summary.setup.registration}`})`} (mode none has none) · ${base}`;
}

interface RowDetails {
  dispatch_lag_ms?: { mean: number; max: number };
  driver?: string | null;
  register_ms?: { p50: number; p99: number } | null;
}

/** The comparison table printed at the end. */
export function comparisonTable(summary: ComparisonInput): string {
  const f = (n: number | undefined): string =>
    n === undefined || !Number.isFinite(n) ? "–" : n.toFixed(2);
  const replayed = summary.vs_baseline !== undefined;
  const ratios = summary.vs_baseline ?? summary.vs_cfs ?? {};
  const vs = replayed ? (summary.baseline?.key ?? "base") : "cfs";
  const header = [
    replayed ? "run" : "mode",
    ...(replayed ? ["driver"] : []),
    "invocations",
    "mean ms",
    "p99 ms",
    `mean vs ${vs}`,
    `p99 vs ${vs}`,
    "short-half slowdown",
    `long-10% p99 vs ${vs}`,
    "dispatch lag mean/max ms",
    ...(replayed ? ["register p50/p99 ms"] : []),
  ];
  const rows = Object.entries(summary.modes).map(([key, s]) => {
    const v = ratios[key];
    const d = summary.details[key] as RowDetails | undefined;
    const lag = d?.dispatch_lag_ms;
    const reg = d?.register_ms;
    return [
      key,
      ...(replayed ? [d?.driver ?? "–"] : []),
      String(s.invocations),
      f(s.turnaround_ms.mean),
      f(s.turnaround_ms.p99),
      f(v?.mean_turnaround_ratio),
      f(v?.p99_ratio),
      f(v?.short_slowdown),
      f(v?.long_p99_ratio),
      lag === undefined ? "–" : `${f(lag.mean)}/${f(lag.max)}`,
      ...(replayed
        ? [reg === null || reg === undefined ? "–" : `${f(reg.p50)}/${f(reg.p99)}`]
        : []),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => c.padStart(widths[i] ?? 0)).join("  ");
  const setup = setupLine(summary);
  return [...(setup === undefined ? [] : [setup]), line(header), ...rows.map(line)].join("\n");
}
