#!/usr/bin/env node
// The shorter half of a trace with nothing else on the host: what a real
// path costs a short invocation before any scheduling decision matters.
// docs/results.md ("The shorter half alone on the host").
//
//   node scripts/shorter-half-alone.mjs trace TRACE OUT.csv [--gap-ms 100]
//     the shorter half of TRACE by duration (ties in the trace's order), in
//     its order of arrival, one invocation every GAP ms
//   node scripts/shorter-half-alone.mjs stats REPLAY_DIR...
//     per replay of such a trace: the mean slowdown of all its invocations,
//     of those under 2 ms and of the rest, the start (arrival to first
//     instruction) and the registration's round trip
//
// Needs `npm run build` (it reads traces with dist/).
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readReplayCsv } from "./replay-csv.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const [command, ...args] = process.argv.slice(2);

/** Below this duration (ms) an invocation's fixed start costs dominate its slowdown. */
const SHORT_MS = 2;

function shorterHalfTrace(readTraceFile, trace, out, gapMs) {
  const all = readTraceFile(trace);
  // Array.prototype.sort is stable: equal durations keep the trace's order.
  const half = [...all].sort((a, b) => a.durationMs - b.durationMs).slice(0, Math.floor(all.length / 2));
  half.sort((a, b) => a.arrivalMs - b.arrivalMs);
  const lines = [
    `# the shorter half of ${trace} (${half.length} of ${all.length}), one invocation every ${gapMs} ms: scripts/shorter-half-alone.mjs`,
    "arrival_ms,function,duration_ms",
    ...half.map((inv, i) => `${i * gapMs},${inv.fn},${inv.durationMs}`),
  ];
  writeFileSync(out, `${lines.join("\n")}\n`);
  console.log(`${out}: ${half.length} invocations, ${((half.length * gapMs) / 1000).toFixed(1)} s`);
}

const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const slowdown = (rows) => mean(rows.map((r) => Number(r.turnaround_ms) / Number(r.duration_ms)));

function stats(dirs) {
  console.log(
    "| replay | mode | mean slowdown | under 2 ms: n, mean slowdown | 2 ms and longer | start mean / p50 ms | registration p50 ms |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const dir of dirs) {
    for (const mode of ["none", "alps"]) {
      const file = join(dir, `${mode}.csv`);
      if (!existsSync(file)) continue;
      const rows = readReplayCsv(file);
      const short = rows.filter((r) => Number(r.duration_ms) < SHORT_MS);
      const rest = rows.filter((r) => Number(r.duration_ms) >= SHORT_MS);
      const starts = rows.map((r) => Number(r.start_ms));
      const reg = rows.filter((r) => r.register_ms !== "").map((r) => Number(r.register_ms));
      const cell = (xs) => (xs.length > 0 ? slowdown(xs).toFixed(2) : "–");
      console.log(
        `| ${dir} | ${mode} | ${slowdown(rows).toFixed(2)} | ${short.length}, ${cell(short)} | ${cell(rest)} | ` +
          `${mean(starts).toFixed(2)} / ${median(starts).toFixed(2)} | ${reg.length > 0 ? median(reg).toFixed(2) : "–"} |`,
      );
    }
  }
}

if (command === "trace" && args.length >= 2) {
  const gapAt = args.indexOf("--gap-ms");
  const gapMs = gapAt >= 0 ? Number(args[gapAt + 1]) : 100;
  if (!(gapMs > 0)) throw new Error(`--gap-ms must be a positive number of ms, got ${args[gapAt + 1]}`);
  const { readTraceFile } = await import(join(root, "dist/trace/native.js"));
  shorterHalfTrace(readTraceFile, args[0], args[1], gapMs);
} else if (command === "stats" && args.length >= 1) {
  stats(args);
} else {
  console.error("usage: shorter-half-alone.mjs trace TRACE OUT.csv [--gap-ms 100] | stats REPLAY_DIR...");
  process.exit(2);
}
