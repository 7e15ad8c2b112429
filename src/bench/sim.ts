/**
 * Simulator speed (issue 2 "Speed"):
 * - invocations per second of each policy on a 1M-invocation, 16-core trace
 *   (target ≥ 1M/s for srpt), summary only (as `alps simulate` runs) and
 *   with per-invocation outcomes;
 * - wall time of a whole `alps simulate --policy srpt --quantum-ms 8 --cores 1`
 *   process on a 100k-invocation trace, start-up included (target ≤ 0.25 s),
 *   beside the bare `alps --version` start-up it contains.
 * Prints figures only; the machine is shared, so read them as such.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Policy } from "../contracts/policy.js";
import type { TraceInvocation } from "../contracts/trace.js";
import { SIM_POLICIES, type SimOptions, type SimResult, simulate } from "../sim/index.js";
import { writeTraceFile } from "../trace/native-writer.js";

/** mulberry32: seeded, so every run benchmarks the same trace. */
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

const FUNCTIONS = 50;

/**
 * Poisson arrivals at load `load` on `cores`; each of 50 functions has a
 * mean service time spread log-uniformly over 1 ms..1 s and popularity ∝
 * 1/rank; an invocation's service is exponential around its function's
 * mean. Times are rounded to µs (as a CSV would hold them).
 */
export function benchTrace(
  n: number,
  cores: number,
  load: number,
  seed: number,
): TraceInvocation[] {
  const rand = prng(seed);
  const means = Array.from({ length: FUNCTIONS }, (_, i) => 10 ** (3 * (i / (FUNCTIONS - 1))));
  const cumulative: number[] = [];
  let total = 0;
  for (let i = 0; i < FUNCTIONS; i++) {
    total += 1 / (i + 1);
    cumulative.push(total);
  }
  let meanService = 0;
  for (let i = 0; i < FUNCTIONS; i++) meanService += ((1 / (i + 1)) * (means[i] as number)) / total;
  const lambda = (load * cores) / meanService;
  const trace: TraceInvocation[] = new Array(n);
  let t = 0;
  for (let k = 0; k < n; k++) {
    t += -Math.log(1 - rand()) / lambda;
    const u = rand() * total;
    let f = 0;
    while ((cumulative[f] as number) < u) f++;
    const d = -Math.log(1 - rand()) * (means[f] as number);
    trace[k] = {
      arrivalMs: Math.round(t * 1000) / 1000,
      fn: `fn${f}`,
      durationMs: Math.max(Math.round(d * 1000) / 1000, 0.001),
    };
  }
  return trace;
}

/** A policy as the learner would give: rank by mean, slice = 1.5 × mean. */
function benchPolicy(): Policy {
  const functions: Policy["functions"] = {};
  for (let i = 0; i < FUNCTIONS; i++) {
    const mean = 10 ** (3 * (i / (FUNCTIONS - 1)));
    functions[`fn${i}`] = {
      priority: i + 1,
      predicted_ms: mean,
      slice_ms: Math.min(1.5 * mean, 200),
    };
  }
  return { functions, default: { priority: FUNCTIONS + 1, predicted_ms: 50, slice_ms: 20 } };
}

/** One run's wall and CPU (this process, all threads) seconds, and its result. */
interface Timed {
  wall: number;
  cpu: number;
  result: SimResult;
}

function timed(trace: readonly TraceInvocation[], opts: SimOptions): Timed {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const result = simulate(trace, opts);
  const wall = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(c0);
  return { wall, cpu: (used.user + used.system) / 1e6, result };
}

/**
 * Invocations per second, by wall time and by this process's CPU time (the
 * host is shared, so the CPU-time figure is what the simulator itself
 * costs): first as `alps simulate` runs it (summary only), then with the
 * per-invocation outcomes that library callers get by default.
 */
function rate(trace: readonly TraceInvocation[], opts: SimOptions): string {
  const bare = timed(trace, { ...opts, keepOutcomes: false });
  const full = timed(trace, opts);
  const m = (s: number): string => (trace.length / s / 1e6).toFixed(2);
  const f = (r: Timed): string =>
    `${m(r.wall)} M/s wall (${r.wall.toFixed(2)} s), ${m(r.cpu)} M/s CPU (${r.cpu.toFixed(2)} s)`;
  return `${f(bare)}; with outcomes ${f(full)}; mean turnaround ${full.result.summary.turnaround_ms.mean.toFixed(1)} ms`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Wall and CPU (user + sys) seconds of whole `alps …` processes, measured by bash's `time`. */
function processTimes(args: string[], runs: number): { wall: number[]; cpu: number[] } {
  const wall: number[] = [];
  const cpu: number[] = [];
  const quoted = [process.execPath, "dist/cli.js", ...args]
    .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
    .join(" ");
  for (let i = 0; i < runs; i++) {
    const r = spawnSync("bash", ["-c", `TIMEFORMAT='%R %U %S'; time ${quoted} >/dev/null`], {
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`alps ${args.join(" ")} failed: ${r.stderr}`);
    const [real, user, sys] = (r.stderr.trim().split("\n").pop() ?? "").split(" ").map(Number);
    wall.push(real ?? Number.NaN);
    cpu.push((user ?? Number.NaN) + (sys ?? Number.NaN));
  }
  return { wall, cpu };
}

const fmt = (xs: number[]): string =>
  `median ${median(xs).toFixed(3)} s, best ${Math.min(...xs).toFixed(3)} s`;

export async function benchSim(): Promise<void> {
  const n = 1_000_000;
  const cores = 16;
  const trace = benchTrace(n, cores, 0.8, 1);
  console.log(`policies on ${n} invocations, ${cores} cores, load 0.8 (target srpt >= 1 M/s):`);
  const policy = benchPolicy();
  const configs: [string, SimOptions][] = SIM_POLICIES.flatMap((p): [string, SimOptions][] => {
    if (p === "alps") {
      return (["dynamic", "static", "rt"] as const).map((strategy): [string, SimOptions] => [
        `alps ${strategy}`,
        { policy: p, cores, alps: { policy, strategy } },
      ]);
    }
    if (p === "srpt") {
      return [
        ["srpt", { policy: p, cores }],
        ["srpt q=8", { policy: p, cores, quantumMs: 8 }],
      ];
    }
    return [[p, { policy: p, cores, alps: { policy } }]];
  });
  for (const [label, opts] of configs) console.log(`  ${label.padEnd(12)} ${rate(trace, opts)}`);

  const dir = mkdtempSync(join(tmpdir(), "alps-bench-sim-"));
  try {
    const file = join(dir, "100k.csv");
    writeTraceFile(file, benchTrace(100_000, 1, 0.8, 2));
    const args = [
      "simulate",
      "--trace",
      file,
      "--policy",
      "srpt",
      "--quantum-ms",
      "8",
      "--cores",
      "1",
      "--json",
    ];
    processTimes(args, 1); // warm the file cache
    const whole = processTimes(args, 7);
    const bare = processTimes(["--version"], 7);
    console.log(
      "whole process `alps simulate --policy srpt --quantum-ms 8 --cores 1` on 100k invocations (target <= 0.25 s):",
    );
    console.log(`  wall ${fmt(whole.wall)}; CPU ${fmt(whole.cpu)}`);
    console.log(
      `  of which bare 'alps --version' start-up: wall ${fmt(bare.wall)}; CPU ${fmt(bare.cpu)}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
