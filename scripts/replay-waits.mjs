#!/usr/bin/env node
// What ran while a registered invocation of the shorter half waited for its
// first instruction: one replay's alps.csv (its pid and CLOCK_MONOTONIC
// columns) beside a scheduler trace taken during it, and optionally the
// daemon's writes of sandbox weights. docs/results.md ("A boosted start
// waits on the run queue").
//
//   node scripts/replay-waits.mjs ALPS_CSV TIMEHIST [WRITES] [--min-ms 2]
//
// TIMEHIST: `perf sched timehist -i perf.data` of a `perf sched record -a -k
// CLOCK_MONOTONIC` taken during the replay. WRITES (optional): `strace -f -p
// <daemon> -e trace=write -y -s 24 -ttt` of the daemon during the same time,
// with the first line "offset <CLOCK_REALTIME - CLOCK_MONOTONIC, s>" added
// (python3 -c 'import time; print("offset", time.time() - time.monotonic())').
// Prints, per invocation that waited at least --min-ms after its registration,
// the four tasks that ran longest meanwhile, with their function, first nice
// and (with WRITES) their sandboxes' cpu.shares at that moment.
import { readFileSync } from "node:fs";
import { readReplayCsv } from "./replay-csv.mjs";

const args = process.argv.slice(2);
const minAt = args.indexOf("--min-ms");
const minMs = minAt >= 0 ? Number(args.splice(minAt, 2)[1]) : 2;
const [csvPath, timehistPath, writesPath] = args;
if (csvPath === undefined || timehistPath === undefined || !(minMs >= 0)) {
  console.error("usage: replay-waits.mjs ALPS_CSV TIMEHIST [WRITES] [--min-ms 2]");
  process.exit(2);
}

const invocations = readReplayCsv(csvPath);
if (!("start_mono_ms" in (invocations[0] ?? {})))
  throw new Error(`${csvPath}: no start_mono_ms column (a replay before it was written)`);
const byPid = new Map(invocations.filter((r) => r.pid !== "").map((r) => [Number(r.pid), r]));

// perf sched timehist: "<time s> [cpu] <comm>[<tid>/<pid>] <wait> <sch delay> <run ms>"
const runs = [];
const row = /^\s*([\d.]+)\s+\[(\d+)\]\s+(\S.*?)\[(\d+)(?:\/\d+)?\]\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)/;
for (const line of readFileSync(timehistPath, "utf8").split("\n")) {
  const m = row.exec(line);
  if (m === null) continue;
  const endMs = Number(m[1]) * 1000;
  runs.push({ endMs, startMs: endMs - Number(m[7]), comm: m[3].trim(), tid: Number(m[4]) });
}
if (runs.length === 0) throw new Error(`${timehistPath}: no perf sched timehist rows`);

// The daemon's weight writes: sandbox directory -> [(mono ms, shares)].
const shares = new Map();
if (writesPath !== undefined) {
  const lines = readFileSync(writesPath, "utf8").split("\n");
  const offset = /^offset\s+([\d.]+)/.exec(lines[0] ?? "");
  if (offset === null) throw new Error(`${writesPath}:1: expected "offset <seconds>"`);
  const write = /^\d+\s+([\d.]+)\s+write\(\d+<[^>]*\/([^/>]+)\/cpu\.shares>, "(\d+)/;
  for (const line of lines.slice(1)) {
    const m = write.exec(line);
    if (m === null) continue;
    const list = shares.get(m[2]) ?? [];
    list.push([(Number(m[1]) - Number(offset[1])) * 1000, Number(m[3])]);
    shares.set(m[2], list);
  }
}
function weightsOf(fn, atMs) {
  const out = [];
  for (const [dir, list] of shares) {
    if (!dir.includes(`-${fn}-`)) continue;
    let value = "?";
    for (const [t, v] of list) if (t <= atMs) value = String(v);
    out.push(`${dir.slice(dir.lastIndexOf("-") + 1)}:${value}`);
  }
  return out.length > 0 ? ` [${out.join(" ")}]` : "";
}

const first = runs[0].startMs;
const last = runs[runs.length - 1].endMs;
const shorter = [...invocations]
  .sort((a, b) => Number(a.duration_ms) - Number(b.duration_ms))
  .slice(0, Math.floor(invocations.length / 2));
let shown = 0;
for (const inv of shorter) {
  if (inv.start_mono_ms === "" || inv.register_ms === "") continue;
  const startedMs = Number(inv.start_mono_ms);
  const waitMs = Number(inv.start_ms) - Number(inv.register_ms);
  const registeredMs = startedMs - waitMs;
  if (waitMs < minMs || registeredMs < first || startedMs > last) continue;
  const ran = new Map();
  for (const r of runs) {
    const overlap = Math.min(r.endMs, startedMs) - Math.max(r.startMs, registeredMs);
    if (overlap <= 0) continue;
    const other = byPid.get(r.tid);
    const name =
      other === undefined
        ? `${r.comm}/${r.tid}`
        : `${other.function}/${r.tid} (${Number(other.duration_ms).toFixed(0)} ms, first nice ${other.first_nice})${weightsOf(other.function, registeredMs + overlap / 2)}`;
    ran.set(name, (ran.get(name) ?? 0) + overlap);
  }
  shown++;
  console.log(
    `${inv.function}/${inv.pid} ${Number(inv.duration_ms).toFixed(1)} ms, first nice ${inv.first_nice}, waited ${waitMs.toFixed(2)} ms after its registration${weightsOf(inv.function, registeredMs + 0.5)}`,
  );
  for (const [name, ms] of [...ran].sort((a, b) => b[1] - a[1]).slice(0, 4))
    console.log(`    ${ms.toFixed(2)} ms  ${name}`);
}
console.log(
  `${shown} invocations of the shorter half waited ${minMs} ms or more within the trace's ${((last - first) / 1000).toFixed(1)} s`,
);
