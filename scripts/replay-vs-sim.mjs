#!/usr/bin/env node
// Each invocation of a replay beside the simulator's run of the same trace:
// the host without alps (none.csv) and with it (alps.csv) against the
// simulator's cfs and its alps learning online (the daemon's defaults, or
// ALPS_* variables), then the mean by duration decile and each decile's share
// of the mean. docs/results.md ("Where the host departs from the simulator").
//
//   node scripts/replay-vs-sim.mjs REPLAY_DIR [TRACE] [--csv OUT.csv] [--match-load]
//
// --match-load: also compress the trace's arrivals (× 1.00 to 1.30, step
// 0.01) to the load at which the simulator's cfs mean is closest to the
// host's none, and print the simulator's alps ÷ cfs there.
//
// TRACE defaults to the one summary.json names (relative to this repository).
// Needs `npm run build` (it reads dist/).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readReplayCsv } from "./replay-csv.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { simulate } = await import(join(root, "dist/sim/index.js"));
const { readTraceFile } = await import(join(root, "dist/trace/native.js"));
const { loadConfig } = await import(join(root, "dist/frontend/config.js"));
const { simulateOnline } = await import(join(root, "dist/frontend/online.js"));

const args = process.argv.slice(2);
const csvAt = args.indexOf("--csv");
const csvOut = csvAt >= 0 ? args.splice(csvAt, 2)[1] : undefined;
const matchAt = args.indexOf("--match-load");
const matchLoad = matchAt >= 0 && args.splice(matchAt, 1).length === 1;
const [dir, traceArg] = args;
if (dir === undefined) {
  console.error("usage: node scripts/replay-vs-sim.mjs REPLAY_DIR [TRACE] [--csv OUT.csv] [--match-load]");
  process.exit(2);
}
const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8"));
const tracePath = traceArg ?? (isAbsolute(summary.trace) ? summary.trace : join(root, summary.trace));
const cores = summary.cores;

const trace = readTraceFile(tracePath);
const none = readReplayCsv(join(dir, "none.csv"));
const alps = readReplayCsv(join(dir, "alps.csv"));
for (const [name, rows] of [["none.csv", none], ["alps.csv", alps]])
  if (rows.length !== trace.length)
    throw new Error(`${join(dir, name)}: ${rows.length} rows, the trace has ${trace.length} (a --time-limit-s replay? pass its trace)`);

const turnarounds = (result) => {
  const t = new Float64Array(trace.length);
  for (const o of result.outcomes) t[o.index] = o.completionMs - o.arrivalMs;
  return t;
};
const simCfs = turnarounds(simulate(trace, { policy: "cfs", cores }));
const online = simulateOnline(trace, loadConfig({ env: process.env }), { cores });
const simAlps = turnarounds(online.result);
const known = turnarounds(
  simulate(trace, { policy: "alps", cores, alps: { policy: online.policy } }),
);

const rows = trace.map((inv, i) => ({
  i,
  fn: inv.fn,
  arrival_ms: inv.arrivalMs,
  duration_ms: inv.durationMs,
  host_none_ms: Number(none[i].turnaround_ms),
  host_alps_ms: Number(alps[i].turnaround_ms),
  sim_cfs_ms: simCfs[i],
  sim_alps_ms: simAlps[i],
  sim_alps_hindsight_ms: known[i],
  host_alps_start_ms: Number(alps[i].start_ms),
}));
for (const r of rows)
  if (r.sim_alps_ms < r.duration_ms * (1 - 1e-9))
    throw new Error(`simulator: invocation ${r.i} finished sooner than its CPU time`);
if (csvOut !== undefined) {
  const keys = Object.keys(rows[0]);
  writeFileSync(csvOut, [keys.join(","), ...rows.map((r) => keys.map((k) => r[k]).join(","))].join("\n") + "\n");
}

const mean = (xs, k) => xs.reduce((a, r) => a + r[k], 0) / xs.length;
const ratio = (a, b) => (mean(rows, a) / mean(rows, b)).toFixed(2);
console.log(`${dir} (${tracePath}, ${cores} cores, ${rows.length} invocations)`);
console.log(
  `mean ms: host none ${mean(rows, "host_none_ms").toFixed(0)}, host alps ${mean(rows, "host_alps_ms").toFixed(0)} (${ratio("host_alps_ms", "host_none_ms")}); ` +
    `sim cfs ${mean(rows, "sim_cfs_ms").toFixed(0)}, sim alps online ${mean(rows, "sim_alps_ms").toFixed(0)} (${ratio("sim_alps_ms", "sim_cfs_ms")}), ` +
    `hindsight ${mean(rows, "sim_alps_hindsight_ms").toFixed(0)} (${ratio("sim_alps_hindsight_ms", "sim_cfs_ms")})`,
);
console.log("decile | duration ms | host none | host alps | alps/none | sim cfs | sim alps | alps/cfs | host none/sim cfs | host alps/sim alps | share of host alps mean");
const sorted = [...rows].sort((a, b) => a.duration_ms - b.duration_ms);
const total = mean(rows, "host_alps_ms") * rows.length;
for (let d = 0; d < 10; d++) {
  const part = sorted.slice(Math.floor((d * rows.length) / 10), Math.floor(((d + 1) * rows.length) / 10));
  const m = (k) => mean(part, k);
  console.log(
    [
      `d${d + 1}`,
      `${part[0].duration_ms.toFixed(1)}-${part[part.length - 1].duration_ms.toFixed(1)}`,
      m("host_none_ms").toFixed(0),
      m("host_alps_ms").toFixed(0),
      (m("host_alps_ms") / m("host_none_ms")).toFixed(2),
      m("sim_cfs_ms").toFixed(0),
      m("sim_alps_ms").toFixed(0),
      (m("sim_alps_ms") / m("sim_cfs_ms")).toFixed(2),
      (m("host_none_ms") / m("sim_cfs_ms")).toFixed(2),
      (m("host_alps_ms") / m("sim_alps_ms")).toFixed(2),
      ((m("host_alps_ms") * part.length) / total).toFixed(2),
    ].join(" | "),
  );
}

if (matchLoad) {
  const hostNone = mean(rows, "host_none_ms");
  let best;
  for (let step = 0; step <= 30; step++) {
    const f = 1 + step / 100;
    const compressed = trace.map((inv) => ({ ...inv, arrivalMs: inv.arrivalMs / f }));
    const cfs = simulate(compressed, { policy: "cfs", cores }).summary.turnaround_ms.mean;
    if (best !== undefined && Math.abs(cfs - hostNone) >= Math.abs(best.cfs - hostNone)) continue;
    const alpsMean = simulateOnline(compressed, loadConfig({ env: process.env }), { cores }).result
      .summary.turnaround_ms.mean;
    best = { f, cfs, ratio: alpsMean / cfs };
  }
  console.log(
    `at the host's congestion: arrivals × ${best.f.toFixed(2)} gives sim cfs ${best.cfs.toFixed(0)} ms ` +
      `(host none ${hostNone.toFixed(0)}), sim alps ÷ cfs ${best.ratio.toFixed(2)}`,
  );
}
