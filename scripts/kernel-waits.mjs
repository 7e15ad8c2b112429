#!/usr/bin/env node
// Where a process's threads wait in the kernel: every 10 ms, each thread of
// PID in uninterruptible sleep (state D) is counted with the top frame of its
// kernel stack (/proc/PID/task/TID/stack; root). Runs until PID exits, then
// prints the counts, the main thread (TID = PID) apart from the others.
// docs/results.md ("A dispatcher held up by cgroup moves").
//
//   sudo node scripts/kernel-waits.mjs PID
import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

const pid = Number(process.argv[2]);
if (!Number.isInteger(pid) || pid <= 0) {
  console.error("usage: kernel-waits.mjs PID");
  process.exit(2);
}
const counts = new Map();
let samples = 0;
for (;;) {
  let tids;
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    break; // exited
  }
  samples++;
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      if (stat[stat.lastIndexOf(")") + 2] !== "D") continue;
      const top = readFileSync(`/proc/${pid}/task/${tid}/stack`, "utf8").split("\n")[0] ?? "";
      const frame = top.replace(/^\[<[^>]*>\]\s*/, "").replace(/\+0x.*$/, "") || "(no stack)";
      const key = `${Number(tid) === pid ? "main thread" : "other threads"}\t${frame}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  await sleep(10);
}
console.log(`${samples} samples of pid ${pid}, 10 ms apart; threads in state D, by top kernel frame:`);
for (const [key, n] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`${String(n).padStart(6)}  ${key}`);
