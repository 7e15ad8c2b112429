#!/usr/bin/env node
// What ran while the shorter half's invocations waited *during* their run:
// one replay's alps.csv (its pid column) beside a scheduler trace taken
// during it. For each invocation of the shorter half (by duration), every
// stretch it spent switched out between its first run on a CPU and its
// end (the CSV's end_mono_ms, where its turnaround ends; its process exits
// after that), and who ran on that CPU meanwhile, summed by kind: invocations of
// the longer half (of a function with an invocation ended 300 ms before,
// which the daemon has learned by then, or not yet), other invocations of
// the shorter half, the alps daemon
// (its pid, every thread), the replay's fork zygote and its parking
// children ("burn-fork" tasks that are no invocation), the replay's
// dispatcher (any other "node"), the rest by name. docs/results.md ("The
// provisional cap"); scripts/replay-waits.mjs does the same for the wait
// before the first instruction.
//
//   node scripts/run-waits.mjs ALPS_CSV TIMEHIST DAEMON_PID
//
// TIMEHIST: `perf sched timehist -i perf.data` of a `perf sched record`
// taken around the replay (fork workers: one process per invocation). The
// daemon's pid is in summary.json's notes ("alps daemon pid N").
//
// --probe PROBE_OUT (scripts/eevdf-probe.sh run around the same replay, its
// clock the same CLOCK_MONOTONIC: take the trace with `perf sched record -k
// CLOCK_MONOTONIC`) splits the longer half's share by what the scheduler
// saw when it switched that invocation in: its sandbox group's weight
// against the waiting one's (at the waiting one's last switch-in), and
// whether its group was owed more than its own virtual slice (EEVDF then
// picks it ahead of entities placed at the queue's average); --weights
// also names the two weights and task priorities.
import { readFileSync } from "node:fs";
import { readReplayCsv } from "./replay-csv.mjs";
import { firstAtOrAfter, levelsOf, readProbe } from "./eevdf-probe-read.mjs";

const argv = process.argv.slice(2);
const probeAt = argv.indexOf("--probe");
const probePath = probeAt >= 0 ? argv.splice(probeAt, 2)[1] : undefined;
const detailAt = argv.indexOf("--weights");
const detail = detailAt >= 0 && argv.splice(detailAt, 1).length === 1;
const [csvPath, timehistPath, daemonArg] = argv;
const daemonPid = Number(daemonArg);
const usage = csvPath === undefined || timehistPath === undefined || !(daemonPid > 0);
if (usage || (probeAt >= 0 && probePath === undefined) || (detail && probePath === undefined)) {
  console.error("usage: run-waits.mjs ALPS_CSV TIMEHIST DAEMON_PID [--probe PROBE_OUT [--weights]]");
  process.exit(2);
}
const probe = probePath === undefined ? undefined : await readProbe(probePath);

const rows = readReplayCsv(csvPath).sort((a, b) => Number(a.duration_ms) - Number(b.duration_ms));
const shorter = new Set(rows.slice(0, rows.length >> 1).map((r) => Number(r.pid)));
const functionOf = new Map(rows.map((r) => [Number(r.pid), r.function]));
/** Each invocation's end, CLOCK_MONOTONIC ms (perf's clock here, to about a ms), by pid. */
const endOf = new Map(
  rows.filter((r) => Number.isFinite(Number(r.end_mono_ms))).map((r) => [Number(r.pid), Number(r.end_mono_ms)]),
);
/** Each function's invocations' ends, CLOCK_MONOTONIC ms. */
const endsOf = new Map();
for (const r of rows) {
  const end = Number(r.end_mono_ms);
  if (!Number.isFinite(end)) continue;
  let list = endsOf.get(r.function);
  if (list === undefined) endsOf.set(r.function, (list = []));
  list.push(end);
}
/** Whether an invocation of `fn` had ended `SEEN_MS` before `at`: the daemon has learned it by then. */
const SEEN_MS = 300;
const seenComplete = (fn, at) => (endsOf.get(fn) ?? []).some((end) => end < at - SEEN_MS);

// "time [cpu] name[tid/pid] wait sch-delay run": one line per switch-out of a task.
const LINE = /^\s*([\d.]+)\s+\[(\d+)\]\s+(.+?)\[(\d+)(?:\/(\d+))?\]\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)/;
const switches = [];
readFileSync(timehistPath, "utf8")
  .split("\n")
  .forEach((line, i) => {
    const m = LINE.exec(line);
    if (m === null) return;
    const [, t, cpu, name, tid, pid, wait, , run] = m;
    const end = Number(t) * 1000;
    const e = {
      cpu: Number(cpu),
      name: name.trim(),
      tid: Number(tid),
      pid: Number(pid ?? tid),
      end,
      start: end - Number(run),
      wait: Number(wait),
      line: i + 1,
    };
    if (!Number.isFinite(e.end) || !Number.isFinite(e.start))
      throw new Error(`${timehistPath}:${i + 1}: cannot read the times`);
    switches.push(e);
  });

const byCpu = new Map();
for (const e of switches) {
  let list = byCpu.get(e.cpu);
  if (list === undefined) byCpu.set(e.cpu, (list = []));
  list.push(e);
}
for (const list of byCpu.values()) list.sort((a, b) => a.end - b.end);

function kind(e, at) {
  if (e.pid === daemonPid || e.tid === daemonPid) return "alps daemon";
  const fn = functionOf.get(e.tid);
  if (fn !== undefined) {
    if (shorter.has(e.tid)) return "invocations, shorter half";
    return seenComplete(fn, at)
      ? "invocations, longer half, function seen complete"
      : "invocations, longer half, function not seen complete yet";
  }
  if (e.name === "burn-fork") return "replay: zygote and parking children";
  if (e.name === "node") return "replay: dispatcher";
  if (e.name === "<idle>") return "idle";
  return `other: ${e.name.replace(/[/:].*/, "")}`;
}

/** First index in `list` (sorted by end) whose end is after `t`. */
function firstEndingAfter(list, t) {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].end <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** `pid`'s probe event nearest `ms` (within `slackMs`), or the last before it when `before`. */
function probeEvent(pid, ms, { slackMs = 0.5, before = false } = {}) {
  const list = probe.switchesOf.get(pid) ?? [];
  const i = firstAtOrAfter(list, ms);
  if (before) return list[i - 1];
  const near = [list[i - 1], list[i]].filter((x) => x !== undefined && Math.abs(x.ms - ms) <= slackMs);
  return near.sort((a, b) => Math.abs(a.ms - ms) - Math.abs(b.ms - ms))[0];
}

/**
 * What the scheduler saw when it switched `runner` in while `waiterPid`
 * waited (since `from`): whether the waiting one was still boosted (a nice
 * below 0, prio < 120) or back at its base past its slice, and the
 * runner's sandbox group against the waiting one's.
 */
function asSeen(runner, waiterPid, from) {
  const ran = probeEvent(runner.tid, runner.start);
  const waiter = probeEvent(waiterPid, from, { before: true });
  if (ran === undefined || waiter === undefined) return "no probe event";
  const [, group] = levelsOf(ran);
  const [, waiterGroup] = levelsOf(waiter);
  if (group === undefined || waiterGroup === undefined) return "no sandbox level";
  const state = waiter.prio < 120 ? "waiting one boosted" : "waiting one unboosted";
  const rel =
    group.weight > waiterGroup.weight ? "heavier" : group.weight === waiterGroup.weight ? "as heavy" : "lighter";
  const owed = group.lagUs > group.vsliceUs ? ", owed more than its virtual slice" : "";
  const weights = detail ? ` [${group.weight} vs ${waiterGroup.weight}, prio ${ran.prio} vs ${waiter.prio}]` : "";
  return `${state}, its group ${rel}${owed}${weights}`;
}

const mine = new Map();
for (const e of switches) {
  if (!shorter.has(e.tid)) continue;
  let list = mine.get(e.tid);
  if (list === undefined) mine.set(e.tid, (list = []));
  list.push(e);
}
const byKind = new Map();
let waited = 0;
let ran = 0;
let seen = 0;
for (const list of mine.values()) {
  list.sort((a, b) => a.end - b.end);
  // Its run starts with the switch-in that ends its parking (a stop of 50 ms or more).
  let first = -1;
  list.forEach((e, i) => {
    if (e.wait >= 50) first = i;
  });
  if (first < 0) continue;
  seen++;
  // Up to the invocation's end as the replay saw it (its turnaround ends
  // there): the process's exit after that is no part of it.
  const endMs = endOf.get(list[0].tid) ?? Number.POSITIVE_INFINITY;
  for (const e of list.slice(first + 1)) {
    const from = e.start - e.wait;
    if (from >= endMs) break;
    const waitEnd = Math.min(e.start, endMs);
    ran += Math.max(0, Math.min(e.end, endMs) - e.start);
    waited += waitEnd - from;
    const cpuList = byCpu.get(e.cpu) ?? [];
    for (let i = firstEndingAfter(cpuList, from); i < cpuList.length; i++) {
      const o = cpuList[i];
      if (o.start >= waitEnd) break;
      const overlap = Math.min(o.end, waitEnd) - Math.max(o.start, from);
      if (overlap <= 0) continue;
      let k = kind(o, Math.max(o.start, from));
      if (probe !== undefined && k.startsWith("invocations, longer half")) k += `: ${asSeen(o, e.tid, from)}`;
      byKind.set(k, (byKind.get(k) ?? 0) + overlap);
    }
  }
}
console.log(
  `shorter half: ${seen} of ${shorter.size} invocations found in the trace; after their first run on a CPU they waited ${waited.toFixed(0)} ms and ran ${ran.toFixed(0)} ms`,
);
const total = [...byKind.values()].reduce((s, v) => s + v, 0);
console.log(`${"who ran meanwhile".padEnd(56)}       ms      %`);
for (const [k, v] of [...byKind].sort((a, b) => b[1] - a[1]))
  console.log(`${k.padEnd(56)} ${v.toFixed(1).padStart(8)} ${((100 * v) / total).toFixed(1).padStart(6)}`);
