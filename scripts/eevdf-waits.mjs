#!/usr/bin/env node
// How long boosted function processes waited after their wake-up, and what
// EEVDF picked instead, from scripts/eevdf-probe.sh's output.
// docs/results.md, "Long slices for what alps does not boost".
//
//   node scripts/eevdf-waits.mjs PROBE_OUT [--min-ms 2] [--show 5]
//
// A wait is from a boosted wake-up (W) to the next switch to that pid (S),
// within 200 ms. For each level of the woken task's hierarchy (0 the task,
// 1 its sandbox group, 2 the replay's group) it says whether the entity was
// eligible, as the kernel decides it: its vruntime at or before the run
// queue's weighted average V (the running entity included). For the
// processes switched in while it waited, it gives their sandbox group's
// lag V - v (virtual time owed: EEVDF picks an eligible entity with the
// earliest deadline v + slice/weight, so a group owed more than its virtual
// slice goes ahead of a newcomer placed at V) and virtual slice.
import { firstAtOrAfter, levelsOf, readProbe } from "./eevdf-probe-read.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args.splice(at, 2)[1]) : fallback;
};
const minMs = option("--min-ms", 2);
const show = option("--show", 5);
const [path] = args;
if (path === undefined || !(minMs >= 0) || !(show >= 0)) {
  console.error("usage: eevdf-waits.mjs PROBE_OUT [--min-ms 2] [--show 5]");
  process.exit(2);
}

const { wakes, switches, switchesOf: byPid } = await readProbe(path);

const waits = [];
for (const w of wakes) {
  const list = byPid.get(w.pid) ?? [];
  const on = list[firstAtOrAfter(list, w.ms)];
  if (on !== undefined && on.ms - w.ms < 200) waits.push({ wake: w, ms: on.ms - w.ms });
}
if (waits.length === 0) {
  console.log("no boosted wake-up followed by its switch-in");
  process.exit(0);
}
const sorted = waits.map((w) => w.ms).sort((a, b) => a - b);
const q = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
console.log(
  `boosted wake-ups ${waits.length}: wait to the CPU p50 ${q(0.5).toFixed(2)} ms, p75 ${q(0.75).toFixed(2)}, p90 ${q(0.9).toFixed(2)}, mean ${mean.toFixed(2)}`,
);

const long = waits.filter((w) => w.ms >= minMs);
const ineligibleAt = [0, 1, 2].map(
  (i) =>
    long.filter((w) => levelsOf(w.wake)[i] !== undefined && !levelsOf(w.wake)[i].eligible).length,
);
// What ran meanwhile: processes switched in during the wait, at their sandbox level.
let owed = 0;
let maxLag = 0;
for (const w of long) {
  const from = firstAtOrAfter(switches, w.wake.ms);
  const ran = [];
  for (let i = from; i < switches.length && switches[i].ms < w.wake.ms + w.ms; i++) {
    const s = switches[i];
    if (s.pid !== w.wake.pid && levelsOf(s)[1] !== undefined) ran.push(s);
  }
  w.ran = ran;
  if (ran.some((s) => s.levels[1].lagUs > s.levels[1].vsliceUs)) owed++;
  for (const s of ran) maxLag = Math.max(maxLag, s.levels[1].lagUs);
}
console.log(
  `waits >= ${minMs} ms: ${long.length}; the woken entity not eligible at the task / sandbox / replay-group level: ${ineligibleAt.join(" / ")}`,
);
console.log(
  `  in ${owed} of them a sandbox switched in meanwhile was owed more than its virtual slice (lag > slice/weight); largest lag seen ${(maxLag / 1000).toFixed(1)} ms of virtual time`,
);
for (const w of long.sort((a, b) => b.ms - a.ms).slice(0, show)) {
  const [, sandbox, top] = levelsOf(w.wake);
  console.log(
    `wait ${w.ms.toFixed(2)} ms, pid ${w.wake.pid} prio ${w.wake.prio}: sandbox weight ${sandbox?.weight}, slice ${sandbox?.sliceUs.toFixed(0)} us;` +
      ` replay group ${top === undefined ? "-" : top.eligible ? "eligible" : `not eligible (lag ${top.lagUs.toFixed(0)} us)`}`,
  );
  const seen = new Set();
  for (const s of w.ran) {
    if (seen.has(s.pid)) continue;
    seen.add(s.pid);
    const l = s.levels[1];
    console.log(
      `    +${(s.ms - w.wake.ms).toFixed(2)} ms cpu${s.cpu} pid ${s.pid}: sandbox weight ${l.weight}, lag ${l.lagUs.toFixed(0)} us, virtual slice ${l.vsliceUs.toFixed(0)} us (slice ${l.sliceUs.toFixed(0)} us)`,
    );
  }
}
