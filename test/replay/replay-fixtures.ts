/** Shared by the replay tests: a generated short trace and the checks that nothing was left behind. */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readCpuHierarchy } from "../../src/host/cpu-cgroups.js";
import { cgroup2Mount } from "../../src/host/cgroups.js";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { replayCgroupRoot, workerTag } from "../../src/replay/index.js";
import { STALL_PROBE } from "../../src/replay/stall-probe.js";

/** mulberry32: a seeded PRNG, so the trace is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A few long and many short functions, Poisson arrivals at `load` on `cores`
 * for `spanS` seconds: 90 % of invocations are short (5–25 ms), 10 % long (300–700 ms).
 */
export function shortLongTrace(opts: {
  spanS: number;
  load: number;
  cores: number;
  seed: number;
}): TraceInvocation[] {
  const rand = prng(opts.seed);
  const meanMs = 0.9 * 15 + 0.1 * 500;
  const ratePerMs = (opts.load * opts.cores) / meanMs;
  const trace: TraceInvocation[] = [];
  for (let t = 0; ; ) {
    t += -Math.log(1 - rand()) / ratePerMs;
    if (t >= opts.spanS * 1000) break;
    const long = rand() < 0.1;
    const k = Math.floor(rand() * (long ? 2 : 4));
    const durationMs = long ? 300 + rand() * 400 : 5 + rand() * 20;
    trace.push({
      arrivalMs: Math.round(t * 1000) / 1000,
      fn: long ? `long${k}` : `short${k}`,
      durationMs: Math.round(durationMs * 1000) / 1000,
    });
  }
  return trace;
}

export function writeTrace(dir: string, trace: readonly TraceInvocation[]): string {
  const file = join(dir, "trace.csv");
  writeFileSync(
    file,
    `arrival_ms,function,duration_ms\n${trace.map((i) => `${i.arrivalMs},${i.fn},${i.durationMs}`).join("\n")}\n`,
  );
  return file;
}

/** Rows of a `<mode>.csv` as (arrival_ms, function) keys. */
export function csvKeys(file: string): string[] {
  const [header, ...rows] = readFileSync(file, "utf8").trim().split("\n");
  if (!header?.startsWith("arrival_ms,function,duration_ms,turnaround_ms"))
    throw new Error(`${file}: unexpected header ${header}`);
  return rows.map((r) => r.split(",").slice(0, 2).join(","));
}

/** Worker processes of replay process `replayPid` still alive. */
export function leftoverWorkers(replayPid: number): number[] {
  const tag = workerTag(replayPid);
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").includes(tag))
        found.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}

/** The stall probes (src/replay/stall-probe.ts) among the direct children of `parentPid`. */
export function stallProbesOf(parentPid: number): number[] {
  const out: number[] = [];
  let children = "";
  try {
    children = readFileSync(`/proc/${parentPid}/task/${parentPid}/children`, "utf8");
  } catch {
    return out; // the parent is gone
  }
  for (const pid of children.trim().split(/\s+/).filter(Boolean).map(Number))
    if (isStallProbe(pid)) out.push(pid);
  return out;
}

/** `pid` is (still) a stall probe: a live process running STALL_PROBE. */
export function isStallProbe(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] === STALL_PROBE;
  } catch {
    return false; // gone
  }
}

/** The replay's cgroup root still exists, in the v2 hierarchy or the v1 cpu one. */
export function leftoverCgroup(replayPid: number): boolean {
  const v1 = readCpuHierarchy().v1;
  const roots = [cgroup2Mount(), ...(v1 === undefined ? [] : [v1])];
  return roots.some((mount) => existsSync(join(mount, replayCgroupRoot(replayPid))));
}

/** Pids of `alps daemon` processes a replay started (their socket is in a replay's temp dir). */
export function replayDaemons(): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (argv.includes("daemon") && argv.some((a) => a.includes("/alps-replay-daemon-")))
        found.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}

/** Scheduling policy of every thread of this process (field 41 of /proc/<pid>/task/<tid>/stat). */
export function ownThreadPolicies(): number[] {
  return readdirSync("/proc/self/task").map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[38]);
  });
}
