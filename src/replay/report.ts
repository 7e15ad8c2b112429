/**
 * report.html: one self-contained page (charts inlined as static SVG, no
 * script, no network) that reads offline. Charts are vega-lite specs rendered
 * to SVG in Node by vega's headless View.
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { Summary } from "../contracts/summary.js";
import type { VsBaseline } from "./compare.js";
import type { Baseline, ReplaySummary } from "./replay.js";
import { cdfRows, decileRows, functionRows, type TurnaroundSample } from "./report-data.js";
import type { ModeRun } from "./types.js";

export interface ReportMode {
  /** Key in summary.json (the mode that ran). */
  key: string;
  run: ModeRun;
  summary: Summary;
  samples: TurnaroundSample[];
  /** The simulator's prediction for the same trace under this mode's policy, or why there is none. */
  predicted:
    | { policy: string; summary: Summary; samples: TurnaroundSample[] }
    | { policy: string; error: string };
}

export interface ReportInput {
  trace: string;
  cores: number;
  modes: ReportMode[];
  vsBaseline: Record<string, VsBaseline>;
  baseline: Baseline | null;
  setup: ReplaySummary["setup"];
  notes: string[];
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const WIDTH = 560;

function cdfSpec(input: ReportInput): TopLevelSpec {
  const values = input.modes.flatMap((m) => {
    const rows = cdfRows(m.key, "measured", m.samples);
    if ("summary" in m.predicted) rows.push(...cdfRows(m.key, "simulated", m.predicted.samples));
    return rows;
  });
  return {
    title: "Turnaround CDF (solid: measured, dashed: simulator's prediction)",
    width: WIDTH,
    height: 300,
    data: { values },
    mark: { type: "line", interpolate: "step-after" },
    encoding: {
      x: {
        field: "turnaround_ms",
        type: "quantitative",
        scale: { type: "log" },
        title: "turnaround (ms, log)",
      },
      y: { field: "fraction", type: "quantitative", title: "fraction of invocations" },
      color: { field: "series", type: "nominal", title: "mode" },
      strokeDash: { field: "source", type: "nominal", title: "source" },
      detail: { field: "source" },
    },
  };
}

function decileSpec(input: ReportInput): TopLevelSpec {
  const values = input.modes.flatMap((m) => decileRows(m.key, m.samples));
  return {
    title: "Mean slowdown by duration decile (1 = shortest tenth)",
    width: WIDTH,
    height: 260,
    data: { values },
    mark: "bar",
    encoding: {
      x: { field: "decile", type: "ordinal", title: "duration decile" },
      xOffset: { field: "series" },
      // Bars need a zero baseline, so a linear scale (a log scale has none and draws nothing).
      y: { field: "mean_slowdown", type: "quantitative", title: "mean slowdown" },
      color: { field: "series", type: "nominal", title: "mode" },
    },
  };
}

function functionSpec(input: ReportInput): TopLevelSpec {
  const values = input.modes.flatMap((m) => functionRows(m.key, m.samples));
  return {
    title: "Mean turnaround per function (most invoked first)",
    width: WIDTH,
    data: { values },
    mark: "bar",
    encoding: {
      y: {
        field: "function",
        type: "nominal",
        sort: { field: "invocations", order: "descending" },
        title: null,
      },
      yOffset: { field: "series" },
      x: { field: "mean_turnaround_ms", type: "quantitative", title: "mean turnaround (ms)" },
      color: { field: "series", type: "nominal", title: "mode" },
    },
  };
}

function predictionSpec(input: ReportInput): TopLevelSpec {
  const values = input.modes.flatMap((m) => {
    const rows = [
      { mode: m.key, source: "measured", stat: "mean", ms: m.summary.turnaround_ms.mean },
      { mode: m.key, source: "measured", stat: "p99", ms: m.summary.turnaround_ms.p99 },
    ];
    if ("summary" in m.predicted) {
      rows.push(
        {
          mode: m.key,
          source: "simulated",
          stat: "mean",
          ms: m.predicted.summary.turnaround_ms.mean,
        },
        {
          mode: m.key,
          source: "simulated",
          stat: "p99",
          ms: m.predicted.summary.turnaround_ms.p99,
        },
      );
    }
    return rows;
  });
  return {
    title: "Measured vs the simulator's prediction",
    data: { values },
    mark: "bar",
    encoding: {
      column: { field: "stat", type: "nominal", title: null },
      x: { field: "mode", type: "nominal", title: null },
      xOffset: { field: "source" },
      y: { field: "ms", type: "quantitative", title: "turnaround (ms)" },
      color: { field: "source", type: "nominal" },
    },
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function fmt(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "–";
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function table(input: ReportInput): string {
  const vs = input.baseline === null ? "baseline" : escapeHtml(input.baseline.key);
  const rows = input.modes.map((m) => {
    const s = m.summary;
    const v = input.vsBaseline[m.key];
    const p = "summary" in m.predicted ? m.predicted.summary.turnaround_ms.mean : undefined;
    const setup = m.run.setup;
    return `<tr><td>${escapeHtml(m.key)}</td><td>${escapeHtml(m.run.mode)}</td><td>${escapeHtml(setup.driver ?? "–")}</td><td>${escapeHtml(setup.workers)}</td><td>${escapeHtml(setup.sandboxCgroups)}</td><td>${s.invocations}</td><td>${fmt(s.turnaround_ms.mean)}</td><td>${fmt(s.turnaround_ms.p99)}</td><td>${fmt(s.slowdown.mean)}</td><td>${fmt(v?.mean_turnaround_ratio)}</td><td>${fmt(v?.short_slowdown)}</td><td>${fmt(v?.long_p99_ratio)}</td><td>${fmt(p)}</td></tr>`;
  });
  return `<table><thead><tr><th>run</th><th>mode</th><th>driver</th><th>workers</th><th>sandbox cgroups</th><th>invocations</th><th>mean turnaround ms</th><th>p99 ms</th><th>mean slowdown</th><th>mean vs ${vs}</th><th>shorter half: mean slowdown</th><th>longest 10 %: p99 vs ${vs}</th><th>simulated mean ms</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function inferenceSection(input: ReportInput): string {
  const rows = input.modes.flatMap((m) => {
    const r = m.run.inference;
    if (r === undefined) return [];
    return [
      `<tr><td>${escapeHtml(m.key)}</td><td>${r.invocations}</td><td>${r.bursts}</td><td>${r.matched}</td><td>${r.split}</td><td>${r.missed}</td><td>${r.spurious} (${fmt(r.spurious_cpu_ms)} ms CPU; ${r.spurious_early} before their process's first invocation)</td><td>${fmt(r.start_offset_ms.mean)} / ${fmt(r.start_offset_ms.p50)} / ${fmt(r.start_offset_ms.p95)}</td><td>${fmt(r.end_offset_ms.mean)} / ${fmt(r.end_offset_ms.p50)} / ${fmt(r.end_offset_ms.p95)}</td><td>${fmt(r.cpu_ratio.p50)}</td><td>${fmt(r.cpu_attributed)}</td><td>${r.lost + r.unstamped}</td></tr>`,
    ];
  });
  if (rows.length === 0) return "";
  return `<h2>Inferred invocations (driver sandbox)</h2>
<p>The daemon was told only the sandboxes and inferred invocations from CPU bursts. Offsets are inferred − real, ms (mean / median / p95); the inferred start is a burst's end minus its CPU, as the daemon records it.</p>
<table><thead><tr><th>run</th><th>real invocations</th><th>bursts</th><th>matched</th><th>split (&gt; 1 burst)</th><th>missed</th><th>spurious</th><th>start offset ms</th><th>end offset ms</th><th>CPU ratio (median)</th><th>CPU attributed</th><th>lost / unstamped</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

export async function renderReport(input: ReportInput): Promise<string> {
  const charts: Array<[string, TopLevelSpec]> = [
    ["cdf", cdfSpec(input)],
    ["deciles", decileSpec(input)],
    ["functions", functionSpec(input)],
    ["prediction", predictionSpec(input)],
  ];
  const svgs: string[] = [];
  for (const [id, spec] of charts)
    svgs.push(`<figure id="chart-${id}" class="chart">${await renderSvg(spec)}</figure>`);
  const reasons = input.modes
    .map(
      (m) =>
        `<li><b>${escapeHtml(m.key)}</b>: ${m.run.reasons.map(escapeHtml).join("; ") || "no notes"}${"error" in m.predicted ? ` — no simulation: ${escapeHtml(m.predicted.error)}` : ""}</li>`,
    )
    .join("");
  const notes = input.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>alps replay: ${escapeHtml(input.trace)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}figure{margin:1.5em 0}</style>
</head><body>
<h1>alps replay</h1>
<p>Trace <code>${escapeHtml(input.trace)}</code>, functions on ${input.cores} core(s). Turnaround = completion − scheduled arrival, real processes on this host.</p>
<p id="setup">Workers <b>${escapeHtml(input.setup.workers)}</b> · sandbox cgroups <b>${escapeHtml(input.setup.sandbox_cgroups)}</b> · driver <b>${escapeHtml(input.setup.drivers.join(", "))}</b>${input.setup.registration === undefined ? "" : ` (registration <b>${escapeHtml(input.setup.registration)}</b>)`} (mode none has no driver) · baseline: <b>${input.baseline === null ? "none ran" : `${escapeHtml(input.baseline.key)}</b> = ${escapeHtml(input.baseline.label)}<b>`}</b></p>
${table(input)}
${inferenceSection(input)}
<h2>Modes</h2><ul>${reasons}</ul>
${notes === "" ? "" : `<h2>Notes</h2><ul>${notes}</ul>`}
<h2>Charts</h2>
${svgs.join("\n")}
</body></html>
`;
}
