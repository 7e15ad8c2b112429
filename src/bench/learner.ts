/**
 * Learner recompute time (issue 6): one `learnPolicy` over a window of 10k
 * invocations of 50 functions, replayed under SRPT on 2 and 16 cores.
 * Target: <= 20 ms on this machine. Seeded, so runs are comparable.
 */
import { defaultConfig } from "../frontend/config.js";
import { learnerParams, type LearnedPolicy, learnPolicy } from "../frontend/learner.js";
import type { InvocationRecord } from "../frontend/window.js";

/** mulberry32: a tiny seeded PRNG. */
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

/** `n` invocations at load ~0.8 of `cores`: per-function mean CPU log-spread over 1..1000 ms, exponential around it. */
export function syntheticWindow(
  n: number,
  cores: number,
  functions = 50,
  seed = 7,
): InvocationRecord[] {
  const rand = prng(seed);
  const means = Array.from({ length: functions }, (_, i) => 10 ** ((3 * i) / (functions - 1)));
  const picks = Array.from({ length: n }, () => Math.floor(rand() * functions));
  const meanCpu = picks.reduce((s, f) => s + (means[f] as number), 0) / n;
  const gap = meanCpu / (0.8 * cores);
  const out: InvocationRecord[] = [];
  let t = 0;
  for (const f of picks) {
    t += -Math.log(1 - rand()) * gap;
    const cpu = Math.max(0.1, -Math.log(1 - rand()) * (means[f] as number));
    out.push({ fn: `fn${f}`, arrivalMs: t, cpuMs: cpu, waitMs: 0, turnaroundMs: cpu });
  }
  return out;
}

export async function benchLearner(): Promise<void> {
  for (const cores of [2, 16]) {
    const window = syntheticWindow(10_000, cores);
    const params = learnerParams(defaultConfig(), cores);
    let previous: LearnedPolicy | undefined;
    for (let i = 0; i < 3; i++) previous = learnPolicy(window, params, previous, 60); // warm-up (JIT)
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      const t0 = performance.now();
      previous = learnPolicy(window, params, previous, 60);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const p50 = times[Math.floor(times.length / 2)] as number;
    const max = times.at(-1) as number;
    console.log(
      `learner, 10k-invocation window, 50 functions, ${cores} cores: p50 ${p50.toFixed(2)} ms, max ${max.toFixed(2)} ms (target <= 20 ms: ${p50 <= 20 ? "met" : "MISSED"})`,
    );
  }
}
