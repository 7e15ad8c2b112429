#!/usr/bin/env node
// Distribution-aware levels with hindsight (docs/results.md, "Distribution-aware
// levels, judged in the simulator"): one learner run over the whole trace, that
// policy for the whole run, and each function's Gittins table from all its
// runs in the trace, against the same policy's `dynamic` levels. Simulator
// only; deterministic. Reads dist/ (npm run build first). Also prints the
// length of each function's level table (all its runs in the trace) at each
// resolution, and what the longest tenth of invocations is made of.
//
//   node scripts/gittins-hindsight.mjs workloads/azure-like.csv [--yield-bound B] [--cores N]
import { compareRuns } from "../dist/commands/simulate-compare.js";
import { cpuDemandMs } from "../dist/contracts/trace.js";
import { gittinsLevelTable, RunDistribution } from "../dist/contracts/gittins.js";
import { DEFAULT_CURVE } from "../dist/contracts/levels.js";
import { PolicySchema } from "../dist/contracts/policy.js";
import { defaultConfig } from "../dist/frontend/config.js";
import { learnerParams, learnPolicy } from "../dist/frontend/learner.js";
import { simulate } from "../dist/sim/index.js";
import { readTraceFile } from "../dist/trace/native.js";

const args = process.argv.slice(2);
const file = args[0];
if (file === undefined) {
  process.stderr.write("usage: gittins-hindsight.mjs TRACE [--yield-bound B] [--cores N]\n");
  process.exit(2);
}
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const bound = flag("--yield-bound", 6);
const cores = flag("--cores", 2);

const trace = readTraceFile(file);
const window = trace.map((inv) => ({
  fn: inv.fn,
  arrivalMs: inv.arrivalMs,
  cpuMs: cpuDemandMs(inv),
  waitMs: 0,
  turnaroundMs: inv.durationMs,
}));
const policy = PolicySchema.parse(
  JSON.parse(JSON.stringify(learnPolicy(window, learnerParams(defaultConfig(), cores)))),
);
const runs = new Map();
for (const r of window) if (r.cpuMs > 0) runs.set(r.fn, [...(runs.get(r.fn) ?? []), r.cpuMs]);
const feed = {
  initial: policy,
  nextDecisionMs: () => Number.POSITIVE_INFINITY,
  decide: () => undefined,
  cpuDone: () => {},
  runSamples: (fn) => runs.get(fn),
};
const cfs = simulate(trace, { policy: "cfs", cores });
const row = (label, gittins) => {
  const alps = simulate(trace, {
    policy: "alps",
    cores,
    alps: { feed, yieldBound: bound, ...(gittins === undefined ? {} : { gittins }) },
  });
  const c = compareRuns(file, cores, [
    { policy: "cfs", result: cfs },
    { policy: "alps", result: alps },
  ]).vs_cfs.alps;
  const f = (x) => x.toFixed(2);
  process.stdout.write(
    `${file}\tbound ${bound}\t${label}\t${f(c.mean_turnaround_ratio)} / ${f(c.short_slowdown)} / ${f(c.long_p99_ratio)}\n`,
  );
};
row("hindsight, mean", undefined);
row("hindsight, gittins", {});
row("hindsight, gittins grid 1.25", { resolution: { kind: "grid", firstMs: 1, ratio: 1.25 } });

// Table lengths: entries per function, whole-trace runs (what a BPF map would hold).
const lengths = (resolution, one) =>
  [...runs.values()]
    .map(
      (xs) =>
        gittinsLevelTable(
          new RunDistribution(one ? [xs.reduce((a, b) => a + b, 0) / xs.length] : xs),
          DEFAULT_CURVE,
          resolution,
        ).fromMs.length,
    )
    .sort((a, b) => a - b);
const spread = (xs) =>
  `median ${xs[Math.floor(xs.length / 2)]}, p90 ${xs[Math.min(xs.length - 1, Math.floor(0.9 * xs.length))]}, max ${xs[xs.length - 1]}`;
process.stdout.write(
  `${file}\ttable entries per function (${runs.size}): exact ${spread(lengths({ kind: "exact" }))}; ` +
    `grid 1.25 ${spread(lengths({ kind: "grid", firstMs: 1, ratio: 1.25 }))}; ` +
    `grid 2 ${spread(lengths({ kind: "grid", firstMs: 1, ratio: 2 }))}; ` +
    `one point (dynamic) ${spread(lengths({ kind: "exact" }, true))}\n`,
);

// The longest tenth by duration: how much of its CPU is from functions whose runs barely vary.
const cv = new Map();
for (const [fn, xs] of runs) {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / xs.length);
  cv.set(fn, xs.length > 1 && m > 0 ? sd / m : 0);
}
const byDuration = [...trace].sort((a, b) => a.durationMs - b.durationMs);
const longest = byDuration.slice(Math.floor(byDuration.length * 0.9));
const longestDuration = byDuration[byDuration.length - 1].durationMs;
const cpuOf = (xs) => xs.reduce((a, inv) => a + cpuDemandMs(inv), 0);
const narrow = cpuOf(longest.filter((inv) => (cv.get(inv.fn) ?? 0) < 0.25));
process.stdout.write(
  `${file}\tlongest tenth: ${longest.length} invocations, ${((100 * narrow) / cpuOf(longest)).toFixed(0)} % of its CPU from functions with CV < 0.25, ` +
    `${longest.filter((inv) => inv.durationMs >= longestDuration).length} at the longest duration (${longestDuration} ms)\n`,
);
