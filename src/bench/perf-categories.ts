/**
 * Where a daemon's CPU went, from a `perf record -g` of it (what
 * `npm run bench -- daemon-cost` records with --perf): every sample's stack
 * is put in the first category one of its frames matches, in the order
 * below (so a level applied from a ring-buffer event counts as the event,
 * and a /proc read inside the pid rule as the pid rule).
 *
 *   perf script -i DIR/this.perf.data -F tid,ip,sym > /tmp/stacks.txt
 *   node dist/bench/perf-categories.js /tmp/stacks.txt [µs per invocation]
 *
 * With the phase's µs per invocation it also splits that figure.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const CATEGORIES: ReadonlyArray<readonly [string, RegExp]> = [
  [
    "V8 garbage collection",
    /Scaveng|MarkCompact|ConcurrentMarking|Sweeper|Heap::|MinorGC|GCTracer|IncrementalMarking/,
  ],
  ["V8 optimizing compiler", /OptimizingCompile|compiler::|Maglev|BaselineBatchCompil/],
  ["ring-buffer events (levels applied, bursts)", /OnReadable|#onEvents|#applyEvent|#sample/],
  [
    "actuator: nice, cgroup weights, touched record",
    /actuator\.js|weight-targets\.js|touched\.js|touched-memory\.js/,
  ],
  ["pid rule (checkPid: /proc cgroup, stat)", /JS:.checkPid/],
  ["bpf backend (task-map syscalls, helper threads)", /bpf-backend\.js/],
  ["daemon bookkeeping (/proc schedstat, window)", /frontend\/daemon\.js/],
  ["API: body read, JSON, zod", /JS:.#readJson|JS:.#readBody/],
  ["API: response", /JS:.#send/],
  ["API: rest of the handler", /JS:.#handle/],
  ["learner and timers", /learnNow|learnPolicy|uv__run_timers|processTimers/],
  [
    "node:http (parser, request and response objects)",
    /llhttp|Parser::|parserOn|_http_|resOnFinish|socketOnData|OnStreamRead|LibuvStreamWrap/,
  ],
  ["event loop, epoll, wake-up", /epoll_pwait|uv__io_poll|uv_run|finish_task_switch/],
];
const OTHER = "other (libuv, V8 runtime, kernel entry)";

/** Share of samples per category, largest first. */
export function categorize(perfScript: string): Array<{ category: string; share: number }> {
  const counts = new Map<string, number>();
  let total = 0;
  for (const block of perfScript.split("\n\n")) {
    const lines = block
      .trim()
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "");
    if (lines.length === 0) continue;
    total++;
    // First line: "comm tid"; then one frame per line: "address symbol".
    const frames = lines.slice(1).map((l) => l.slice(l.indexOf(" ") + 1));
    const hit = CATEGORIES.find(([, rx]) => frames.some((f) => rx.test(f)));
    const category = hit?.[0] ?? OTHER;
    counts.set(category, (counts.get(category) ?? 0) + 1);
  }
  return [...counts]
    .map(([category, n]) => ({ category, share: total === 0 ? 0 : n / total }))
    .sort((a, b) => b.share - a.share);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file, perInvocation] = process.argv.slice(2);
  if (file === undefined) {
    console.error("usage: perf-categories <perf script output> [µs per invocation]");
    process.exit(2);
  }
  const us = perInvocation === undefined ? undefined : Number(perInvocation);
  for (const { category, share } of categorize(readFileSync(file, "utf8"))) {
    const split = us === undefined ? "" : ` ${((share * us) | 0).toString().padStart(5)} µs`;
    console.log(`${(share * 100).toFixed(1).padStart(5)} %${split}  ${category}`);
  }
}
