#!/usr/bin/env node
// Prints the markdown tables of docs/results.md "The real path" from a
// directory written by scripts/replay-campaign.sh (one summary.json per
// replay): every run, then per workload and workers the mean over runs with
// the targets checked, the mean slowdown per duration decile, and what burst
// inference (driver sandbox) got right and cost against driver api.
//
//   node scripts/replay-campaign-table.mjs OUT
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const out = process.argv[2];
if (out === undefined) {
  console.error("usage: node scripts/replay-campaign-table.mjs OUT");
  process.exit(2);
}
const TARGET = { mean: 0.7, short: 2, longP99: 1.3 };
const fmt = (x, d = 2) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(d) : "–");
const avg = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
// A run's host stalls (details.<run>.host_stalls): how many, and the longest in ms.
const stalls = (h) =>
  h === null || h === undefined ? "–" : h.probed ? `${h.count}, ${fmt(h.longest_ms, 0)}` : "not probed";

const rows = [];
for (const name of readdirSync(out).sort()) {
  const m = /^(.+)-(warm|fork)-r(\d+)$/.exec(name);
  const file = join(out, name, "summary.json");
  if (m === null || !existsSync(file)) continue;
  const s = JSON.parse(readFileSync(file, "utf8"));
  const load = existsSync(join(out, name, "loadavg-after"))
    ? readFileSync(join(out, name, "loadavg-after"), "utf8").split(" ")[0]
    : "–";
  for (const [key, vs] of Object.entries(s.vs_baseline)) {
    if (key === "none") continue;
    rows.push({
      workload: m[1],
      workers: m[2],
      run: Number(m[3]),
      run_key: key,
      driver: s.details[key]?.driver ?? key,
      none_mean: s.modes.none.turnaround_ms.mean,
      alps_mean: s.modes[key].turnaround_ms.mean,
      ratio: vs.mean_turnaround_ratio,
      short_none: s.vs_baseline.none.short_slowdown,
      short_alps: vs.short_slowdown,
      long_p99: vs.long_p99_ratio,
      p99: vs.p99_ratio,
      invocations: s.modes.none.invocations,
      load,
      deciles_none: s.deciles.none,
      deciles_alps: s.deciles[key],
      inference: s.details[key]?.inference ?? null,
      alps_p99: s.modes[key].turnaround_ms.p99,
      stalls_none: stalls(s.details.none?.host_stalls),
      stalls_alps: stalls(s.details[key]?.host_stalls),
      replay: name,
    });
  }
}
if (rows.length === 0) {
  console.error(`no replay directories (<workload>-<warm|fork>-r<N>/summary.json) in ${out}`);
  process.exit(1);
}

console.log("### Every run\n");
console.log(
  "| workload | workers | run | driver | invocations | none mean ms | alps mean ms | mean vs none | shorter half slowdown none → alps | longest 10 % p99 vs none | p99 vs none | load after | host stalls none; alps (count, longest ms) |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows)
  console.log(
    `| ${r.workload} | ${r.workers} | ${r.run} | ${r.driver} | ${r.invocations} | ${fmt(r.none_mean, 0)} | ${fmt(r.alps_mean, 0)} | ${fmt(r.ratio)} | ${fmt(r.short_none, 1)} → ${fmt(r.short_alps, 1)} | ${fmt(r.long_p99)} | ${fmt(r.p99)} | ${r.load} | ${r.stalls_none}; ${r.stalls_alps} |`,
  );

const groups = new Map();
for (const r of rows) {
  const k = `${r.workload}|${r.workers}|${r.driver}`;
  groups.set(k, [...(groups.get(k) ?? []), r]);
}
console.log(
  "\n### Mean over runs, against the targets (driver api: mean ≤ 0.7, shorter half ≤ 2, longest 10 % p99 ≤ 1.3)\n",
);
console.log(
  "| workload | workers | driver | runs | mean vs none | shorter half slowdown | longest 10 % p99 vs none | targets met |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
for (const [k, rs] of groups) {
  const [workload, workers, driver] = k.split("|");
  const ratio = avg(rs.map((r) => r.ratio));
  const short = avg(rs.map((r) => r.short_alps));
  const longP99 = avg(rs.map((r) => r.long_p99));
  const met =
    driver === "api"
      ? ratio <= TARGET.mean && short <= TARGET.short && longP99 <= TARGET.longP99
        ? "yes"
        : "no"
      : "no target";
  console.log(
    `| ${workload} | ${workers} | ${driver} | ${rs.length} | ${fmt(ratio)} | ${fmt(short, 1)} | ${fmt(longP99)} | ${met} |`,
  );
}

console.log("\n### Mean slowdown per duration decile (shortest first), mean over runs\n");
console.log(
  "| workload | workers | run | " +
    Array.from({ length: 10 }, (_, i) => `d${i + 1}`).join(" | ") +
    " |",
);
console.log("| --- | --- | --- | " + Array.from({ length: 10 }, () => "---").join(" | ") + " |");
for (const [k, rs] of groups) {
  const [workload, workers, driver] = k.split("|");
  const mean = (pick) =>
    Array.from({ length: 10 }, (_, i) => fmt(avg(rs.map((r) => pick(r)[i] ?? Number.NaN)), 1));
  if (driver === "api")
    console.log(`| ${workload} | ${workers} | none | ${mean((r) => r.deciles_none).join(" | ")} |`);
  console.log(
    `| ${workload} | ${workers} | alps ${driver} | ${mean((r) => r.deciles_alps).join(" | ")} |`,
  );
}

const inferred = rows.filter((r) => r.inference !== null);
if (inferred.length > 0) {
  console.log(
    "\n### Burst inference (driver sandbox) against the real invocations, and its cost against driver api in the same replay, mean over runs\n",
  );
  console.log(
    "| workload | workers | runs | invocations | matched | split | missed | spurious bursts (CPU ms) | start offset p50 / p95 ms | end offset p50 / p95 ms | CPU attributed | mean turnaround, sandbox ÷ api | p99, sandbox ÷ api |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  const byGroup = new Map();
  for (const r of inferred) {
    const k = `${r.workload}|${r.workers}`;
    byGroup.set(k, [...(byGroup.get(k) ?? []), r]);
  }
  for (const [k, rs] of byGroup) {
    const [workload, workers] = k.split("|");
    const api = (r) => rows.find((x) => x.replay === r.replay && x.driver === "api");
    const m = (f) => avg(rs.map((r) => f(r.inference)));
    const cost = (f) => avg(rs.map((r) => f(r) / f(api(r) ?? { alps_mean: NaN, alps_p99: NaN })));
    console.log(
      `| ${workload} | ${workers} | ${rs.length} | ${fmt(
        m((i) => i.invocations),
        0,
      )} | ${fmt(
        m((i) => i.matched),
        0,
      )} | ${fmt(
        m((i) => i.split),
        0,
      )} | ${fmt(
        m((i) => i.missed),
        0,
      )} | ${fmt(
        m((i) => i.spurious),
        0,
      )} (${fmt(
        m((i) => i.spurious_cpu_ms),
        0,
      )}) | ${fmt(
        m((i) => i.start_offset_ms.p50),
        1,
      )} / ${fmt(
        m((i) => i.start_offset_ms.p95),
        0,
      )} | ${fmt(
        m((i) => i.end_offset_ms.p50),
        1,
      )} / ${fmt(
        m((i) => i.end_offset_ms.p95),
        0,
      )} | ${fmt(m((i) => i.cpu_attributed))} | ${fmt(cost((r) => r.alps_mean))} | ${fmt(cost((r) => r.alps_p99))} |`,
    );
  }
}
