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
 *
 * `--set line` sorts a daemon measured over the line protocol (the default
 * set is the HTTP API's): samples of threads other than the main one (the
 * lowest tid: V8's compiler and GC helpers; the addon has no thread of its
 * own) are one category, the request's own steps come before the protocol
 * frames that wrap them. `--from S --to S` keeps the samples between S and
 * S seconds after the first one (one phase of a recording that holds
 * several; needs `-F comm,tid,time,ip,sym`).
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

const HELPER_THREADS = "V8 helper threads (optimizing compiler, GC)";

/** The line protocol's daemon: its request's steps first, the protocol frames that wrap them last. */
export const LINE_CATEGORIES: ReadonlyArray<readonly [string, RegExp]> = [
  ["GC on the main thread", /Scaveng|MarkCompact|Heap::|MinorGC|IncrementalMarking/],
  ["end: task-map walk (tasksOfRoot)", /bpf_map_do_batch|lookup_batch/],
  [
    "touched record (mark at start, release at end)",
    /pwrite64|touched\.js|touched-memory\.js|arming\.js/,
  ],
  ["levels: sched_setattr (start, ring-buffer level, end)", /sched_setattr|JS:.setAttr/],
  ["ring-buffer batch (consume, event objects, #onEvents)", /OnReadable/],
  ["pid rule (checkPid: /proc cgroup, stat)", /checkPid/],
  [
    "schedstat at start and end, helper-thread listing",
    /readSchedstat|threadsOf|RunMicrotasks|getdents/,
  ],
  ["task-map register, unregister, counters (bpf syscalls)", /__sys_bpf/],
  ["metrics (prom-client)", /prom-client|metrics\.js/],
  ["line protocol: zod", /zod|validated/],
  [
    "line protocol: write the answer (socket send, wakes the client)",
    /unix_stream_sendmsg|writeGeneric|Socket\._write/,
  ],
  [
    "timers: shared tick (heartbeat, RT cap, learner), drop check, budget timer",
    /uv__run_timers|processTimers|JS:.Timeout |JS:.insert /,
  ],
  [
    "rest of start/end (daemon, backend, actuator bookkeeping)",
    /startInvocation|endInvocation|JS:.#end |actuator/,
  ],
  [
    "line protocol: split, parse, route checks",
    /#answer|line-server|line-protocol|routes\.js|LineSplitter/,
  ],
  ["socket read, stream machinery", /uv__read|onStreamRead|Readable/],
  ["event loop, epoll, context switch", /epoll|schedule|uv__io_poll|uv_run/],
];

export interface CategorizeOptions {
  /** Which categories: the HTTP API's (default) or the line protocol's (with the thread split). */
  set?: "http" | "line";
  /** Only samples this many seconds after the first one, or more (needs the time field). */
  fromS?: number;
  /** Only samples before this many seconds after the first one. */
  toS?: number;
}

interface Sample {
  tid: number;
  /** Seconds (perf's clock), when the script has the time field. */
  time: number | undefined;
  frames: string[];
}

/** One stack: a header "comm tid [time:]", then one frame per line: "address symbol". */
function parseSample(block: string): Sample | undefined {
  const lines = block
    .trim()
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const header = lines[0]?.split(/\s+/);
  if (header === undefined) return undefined;
  const last = header[header.length - 1] ?? "";
  const timed = last.endsWith(":");
  const tid = Number(header[header.length - (timed ? 2 : 1)]);
  return {
    tid,
    time: timed ? Number(last.slice(0, -1)) : undefined,
    frames: lines.slice(1).map((l) => l.slice(l.indexOf(" ") + 1)),
  };
}

/** Share of samples per category, largest first. */
export function categorize(
  perfScript: string,
  opts: CategorizeOptions = {},
): Array<{ category: string; share: number }> {
  const samples = perfScript
    .split("\n\n")
    .map(parseSample)
    .filter((s): s is Sample => s !== undefined);
  const line = opts.set === "line";
  const categories = line ? LINE_CATEGORIES : CATEGORIES;
  const mainTid = samples.reduce((min, s) => Math.min(min, s.tid), Number.POSITIVE_INFINITY);
  const first = samples.find((s) => s.time !== undefined)?.time;
  const counts = new Map<string, number>();
  let total = 0;
  for (const { tid, time, frames } of samples) {
    if (opts.fromS !== undefined || opts.toS !== undefined) {
      if (time === undefined || first === undefined)
        throw new Error("--from/--to need perf script's time field (-F comm,tid,time,ip,sym)");
      const at = time - first;
      if (at < (opts.fromS ?? 0) || at >= (opts.toS ?? Number.POSITIVE_INFINITY)) continue;
    }
    total++;
    const hit =
      line && tid !== mainTid
        ? [HELPER_THREADS]
        : categories.find(([, rx]) => frames.some((f) => rx.test(f)));
    const category = hit?.[0] ?? OTHER;
    counts.set(category, (counts.get(category) ?? 0) + 1);
  }
  return [...counts]
    .map(([category, n]) => ({ category, share: total === 0 ? 0 : n / total }))
    .sort((a, b) => b.share - a.share);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const option = (flag: string): string | undefined => {
    const at = args.indexOf(flag);
    if (at < 0) return undefined;
    const value = args[at + 1];
    args.splice(at, 2);
    return value;
  };
  const set = option("--set");
  const from = option("--from");
  const to = option("--to");
  const [file, perInvocation] = args;
  if (file === undefined || (set !== undefined && set !== "http" && set !== "line")) {
    console.error(
      "usage: perf-categories <perf script output> [µs per invocation] [--set http|line] [--from S] [--to S]",
    );
    process.exit(2);
  }
  const us = perInvocation === undefined ? undefined : Number(perInvocation);
  const opts: CategorizeOptions = {
    ...(set === undefined ? {} : { set }),
    ...(from === undefined ? {} : { fromS: Number(from) }),
    ...(to === undefined ? {} : { toS: Number(to) }),
  };
  for (const { category, share } of categorize(readFileSync(file, "utf8"), opts)) {
    const split = us === undefined ? "" : ` ${((share * us) | 0).toString().padStart(5)} µs`;
    console.log(`${(share * 100).toFixed(1).padStart(5)} %${split}  ${category}`);
  }
}
