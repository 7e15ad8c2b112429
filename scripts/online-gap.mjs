#!/usr/bin/env node
// Where learning online loses against hindsight (docs/results.md, "Where the
// online gap is (simulator only)"). Simulator only; deterministic. Reads dist/
// (npm run build first).
//
// Each row runs alps with the daemon learning online (its defaults, as `alps
// simulate --policy alps`), except that the policy it applies is altered:
// - "online": not altered;
// - "hindsight": the policy learned from the whole trace, for the whole run;
// - "unknown on hindsight": a function without an entry of its own gets its
//   hindsight entry instead of the default one (until the learner gives it one);
// - "known on hindsight": a function with an entry gets its hindsight entry
//   instead (so its estimate from few samples, its rank and slice are hindsight's);
// - "unknown on hindsight after D ms": as "unknown on hindsight", but only from
//   D ms after the function's first arrival: what a daemon could at best learn
//   from an invocation still running (it never saw one complete).
// - "unknown on its open invocation's age, cap C ms": not an oracle, what a
//   daemon could do without new kernel support: every 100 ms, a function
//   without an entry whose oldest open invocation arrived w ms ago gets the
//   default entry with predicted_ms min(w, C) (when above the default's), so
//   a long unknown one yields instead of running at nice 0. "Open" here is
//   arrived and not done with its CPU work; the age is wall time, not CPU.
// Then, for the "online" row against "hindsight": how much of the difference in
// mean turnaround comes from each function's 1st, 2nd-5th, 6th-10th, 11th+
// invocation, and from invocations whose function had no entry when they arrived.
//
//   node scripts/online-gap.mjs workloads/azure-like.csv [--cores N] [--delays 100,1000] [--age-caps 500,930]
import { compareRuns } from "../dist/commands/simulate-compare.js";
import { cpuDemandMs } from "../dist/contracts/trace.js";
import { functionTable, ownEntry } from "../dist/contracts/function-table.js";
import { PolicySchema } from "../dist/contracts/policy.js";
import { defaultConfig } from "../dist/frontend/config.js";
import { learnerParams, learnPolicy } from "../dist/frontend/learner.js";
import { DaemonFeed } from "../dist/frontend/online.js";
import { simulate } from "../dist/sim/index.js";
import { readTraceFile } from "../dist/trace/native.js";

const args = process.argv.slice(2);
const file = args[0];
if (file === undefined) {
  process.stderr.write(
    "usage: online-gap.mjs TRACE [--cores N] [--delays D1,D2,...] [--age-caps C1,C2,...]\n",
  );
  process.exit(2);
}
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const cores = Number(flag("--cores", "2"));
const delays = flag("--delays", "100,1000").split(",").map(Number);
const ageCaps = flag("--age-caps", "500,930").split(",").map(Number);
const AGE_PERIOD_MS = 100;

const config = defaultConfig();
const trace = readTraceFile(file);
const window = trace.map((inv) => ({
  fn: inv.fn,
  arrivalMs: inv.arrivalMs,
  cpuMs: cpuDemandMs(inv),
  waitMs: 0,
  turnaroundMs: inv.durationMs,
}));
const hindsight = PolicySchema.parse(
  JSON.parse(JSON.stringify(learnPolicy(window, learnerParams(config, cores)))),
);
const firstArrival = new Map();
for (const inv of trace) if (!firstArrival.has(inv.fn)) firstArrival.set(inv.fn, inv.arrivalMs);
const cfs = simulate(trace, { policy: "cfs", cores });

/**
 * Online alps with each applied policy passed through alter(policy, nowMs,
 * open): extra decision instants, `every` ms too when given; `open` maps a
 * function to the arrival times of its invocations not yet done with their CPU.
 */
function online(alter, instants = [], every = Infinity) {
  const daemon = new DaemonFeed(config, cores);
  let learned = daemon.initial;
  let nowMs = 0;
  const timeline = [];
  const open = new Map();
  let arrived = 0;
  const openAt = (t) => {
    for (; arrived < trace.length && trace[arrived].arrivalMs <= t; arrived++) {
      const inv = trace[arrived];
      open.set(inv.fn, [...(open.get(inv.fn) ?? []), inv.arrivalMs]);
    }
    return open;
  };
  const feed = {
    initial: alter(learned, 0, openAt(0)),
    nextDecisionMs: () =>
      Math.min(
        daemon.nextDecisionMs(),
        instants.find((t) => t > nowMs) ?? Infinity,
        (Math.floor(nowMs / every) + 1) * every,
      ),
    cpuDone: (inv) => {
      daemon.cpuDone(inv);
      const list = open.get(inv.fn) ?? [];
      const i = list.indexOf(inv.arrivalMs);
      if (i >= 0) list.splice(i, 1);
    },
    decide: (now, busyMs) => {
      nowMs = now;
      learned = daemon.decide(now, busyMs) ?? learned;
      const policy = alter(learned, now, openAt(now));
      timeline.push({ atMs: now, policy: learned });
      return policy;
    },
  };
  const result = simulate(trace, {
    policy: "alps",
    cores,
    alps: {
      feed,
      strategy: config.strategy,
      idleFrom: config.idleFromNice,
      yieldBound: config.yieldBound,
    },
  });
  return { result, timeline, initial: daemon.initial };
}

const withEntries = (policy, pick) => {
  const functions = functionTable();
  for (const fn of Object.keys(policy.functions)) functions[fn] = policy.functions[fn];
  for (const fn of firstArrival.keys()) {
    const entry = pick(fn, ownEntry(policy.functions, fn));
    if (entry !== undefined) functions[fn] = entry;
  }
  return { ...policy, functions };
};
const hindsightOf = (fn) => ownEntry(hindsight.functions, fn);

const ratio = (result) => {
  const c = compareRuns(file, cores, [
    { policy: "cfs", result: cfs },
    { policy: "alps", result },
  ]).vs_cfs.alps;
  const f = (x) => x.toFixed(3);
  return `${f(c.mean_turnaround_ratio)} / ${c.short_slowdown.toFixed(2)} / ${c.long_p99_ratio.toFixed(2)}`;
};
const row = (label, result) => process.stdout.write(`${file}\t${label}\t${ratio(result)}\n`);

const base = online((p) => p);
row("online", base.result);
const fixed = simulate(trace, { policy: "alps", cores, alps: { policy: hindsight } });
row("hindsight", fixed);
row(
  "unknown on hindsight",
  online((p) => withEntries(p, (fn, own) => (own === undefined ? hindsightOf(fn) : undefined)))
    .result,
);
row(
  "known on hindsight",
  online((p) => withEntries(p, (fn, own) => (own === undefined ? undefined : hindsightOf(fn))))
    .result,
);
for (const d of delays) {
  const instants = [...new Set([...firstArrival.values()].map((t) => t + d))].sort((a, b) => a - b);
  const alter = (p, now) =>
    withEntries(p, (fn, own) =>
      own === undefined && (firstArrival.get(fn) ?? Infinity) + d <= now
        ? hindsightOf(fn)
        : undefined,
    );
  row(`unknown on hindsight after ${d} ms`, online(alter, instants).result);
}

for (const cap of ageCaps) {
  const alter = (p, now, open) =>
    withEntries(p, (fn, own) => {
      const oldest = Math.min(...(open.get(fn) ?? []));
      const predicted = Math.min(now - oldest, cap);
      return own === undefined && predicted > p.default.predicted_ms
        ? { ...p.default, predicted_ms: predicted }
        : undefined;
    });
  row(
    `unknown on its open invocation's age, cap ${cap} ms`,
    online(alter, [], AGE_PERIOD_MS).result,
  );
}

// Where "online" loses against "hindsight", by invocation.
const byIndex = (r) => {
  const out = [];
  for (const o of r.outcomes) out[o.index] = o.completionMs - o.arrivalMs;
  return out;
};
const on = byIndex(base.result);
const hi = byIndex(fixed);
const policyAt = (t) => {
  let p = base.initial;
  for (const e of base.timeline) {
    if (e.atMs > t) break;
    p = e.policy;
  }
  return p;
};
const seen = new Map();
const buckets = new Map();
trace.forEach((inv, i) => {
  const k = (seen.get(inv.fn) ?? 0) + 1;
  seen.set(inv.fn, k);
  const own = ownEntry(policyAt(inv.arrivalMs).functions, inv.fn) !== undefined;
  const index = k === 1 ? "1st" : k <= 5 ? "2nd-5th" : k <= 10 ? "6th-10th" : "11th+";
  for (const key of [`invocation ${index}`, own ? "own entry" : "default entry"]) {
    const b = buckets.get(key) ?? { n: 0, ms: 0 };
    b.n++;
    b.ms += on[i] - hi[i];
    buckets.set(key, b);
  }
});
for (const [key, b] of [...buckets].sort())
  process.stdout.write(
    `${file}\tonline − hindsight, ${key} (${b.n} invocations)\t${(b.ms / trace.length).toFixed(1)} ms of the mean\n`,
  );
