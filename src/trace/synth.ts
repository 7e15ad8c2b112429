/**
 * `alps trace synth`: a workload drawn from the published statistics of a
 * production trace, for users without one at hand.
 *
 * - Functions' mean execution times follow the profile's log-normal fit. They
 *   are drawn by stratified sampling (function i gets a random quantile inside
 *   the i-th of F equal slices), so even a few dozen functions reproduce the
 *   fit's median and spread instead of wandering around them.
 * - Popularity is Zipf-like: a few functions carry most invocations. Popular
 *   functions tend to be short: functions are ranked by log(mean) plus noise,
 *   and rank 1 is the most popular. Every function appears at least once.
 * - Each invocation's duration varies around its function's mean
 *   (log-normal, per-function CV), normalized so the function's invocations
 *   average exactly its mean.
 * - Inter-arrival gaps are bursty: a two-phase hyper-exponential with the
 *   profile's CV whose phase is sticky (short gaps come in runs).
 * - Arrivals are finally scaled so the offered load on `cores` is `load`
 *   (load = total CPU ÷ (cores × span)); `maxDurationMs` caps
 *   durations before that, so the capped trace still has the asked load.
 */
import type { TraceInvocation } from "../contracts/trace.js";
import { UsageError } from "../errors.js";
import { capDurations, rescaleToLoad, roundToMicros } from "./load.js";
import { normalQuantile, Rng, type Seed } from "./random.js";

export type SynthProfileName = "azure" | "huawei";
export const SYNTH_PROFILES: readonly SynthProfileName[] = ["azure", "huawei"];

export interface SynthProfile {
  /** Prefix of generated function names. */
  prefix: string;
  /** Log-normal fit of per-function mean execution time, seconds: log-mean and σ. */
  logMeanS: number;
  logSigma: number;
  /** Zipf exponent of popularity by rank. */
  zipf: number;
  /** σ of the noise added to log(mean) before ranking popularity (smaller: popular ones shorter). */
  popularityNoise: number;
  /** Per-function coefficient of variation of one invocation's duration, drawn uniformly in this range. */
  invocationCv: [number, number];
  /** Coefficient of variation of inter-arrival gaps (> 1 is bursty). */
  interarrivalCv: number;
  /** Probability per arrival of re-drawing the gap phase (1 = independent gaps, smaller = longer bursts). */
  phaseSwitch: number;
}

export const PROFILES: Record<SynthProfileName, SynthProfile> = {
  // Azure Functions 2019 (Shahrad et al., ATC'20): per-function average
  // execution time is log-normal with log-mean −0.38 and σ 2.36 (seconds),
  // median e^−0.38 ≈ 0.68 s.
  azure: {
    prefix: "az",
    logMeanS: -0.38,
    logSigma: 2.36,
    zipf: 1.1,
    popularityNoise: 1.2,
    invocationCv: [0.1, 1.0],
    interarrivalCv: 2.0,
    phaseSwitch: 0.3,
  },
  // Huawei Cloud 2025 release: median execution times from 4 ms to 100 ms
  // depending on region, with long tails. Those are medians over
  // invocations; with popular functions short, a per-function median of
  // 200 ms and σ 2.0 puts the invocation median in that range (about
  // 10–40 ms) and the p99 of function means near 20 s (the tail).
  huawei: {
    prefix: "hw",
    logMeanS: Math.log(0.2),
    logSigma: 2.0,
    zipf: 1.3,
    popularityNoise: 2.0,
    invocationCv: [0.2, 1.5],
    interarrivalCv: 2.5,
    phaseSwitch: 0.2,
  },
};

export interface SynthOptions {
  profile: SynthProfileName;
  invocations: number;
  cores: number;
  load: number;
  seed: Seed;
  /** Number of functions; default about 2·√invocations. */
  functions?: number;
  maxDurationMs?: number;
}

export interface SynthFunction {
  fn: string;
  meanMs: number;
  invocations: number;
}

export interface SynthResult {
  invocations: TraceInvocation[];
  /** The drawn functions (before any cap), most popular first. */
  functions: SynthFunction[];
  /** Invocations whose duration the cap shortened. */
  capped: number;
}

export function defaultFunctionCount(invocations: number): number {
  return Math.max(1, Math.min(invocations, Math.round(2 * Math.sqrt(invocations))));
}

export function synthesize(o: SynthOptions): SynthResult {
  const p = PROFILES[o.profile];
  if (p === undefined)
    throw new UsageError(`unknown profile '${o.profile}' (known: ${SYNTH_PROFILES.join(", ")})`);
  if (!(Number.isInteger(o.invocations) && o.invocations >= 2)) {
    throw new UsageError(`--invocations must be an integer >= 2, got ${o.invocations}`);
  }
  const nFns = o.functions ?? defaultFunctionCount(o.invocations);
  if (!(Number.isInteger(nFns) && nFns >= 1 && nFns <= o.invocations)) {
    throw new UsageError(
      `--functions must be an integer in 1..invocations (${o.invocations}), got ${nFns}`,
    );
  }
  const rng = new Rng(o.seed);

  // Stratified means: one quantile per equal slice of (0, 1).
  const means = Array.from({ length: nFns }, (_, i) => {
    const u = (i + rng.nextOpen()) / nFns;
    return (
      Math.exp(p.logMeanS + p.logSigma * normalQuantile(Math.min(Math.max(u, 1e-12), 1 - 1e-12))) *
      1000
    );
  });
  // Popularity rank: shorter functions tend to rank first.
  const ranked = means
    .map((meanMs) => ({ meanMs, key: Math.log(meanMs) + p.popularityNoise * rng.normal() }))
    .sort((a, b) => a.key - b.key);
  const width = String(nFns).length;
  const fns = ranked.map((r, i) => ({
    fn: `${p.prefix}-${String(i + 1).padStart(width, "0")}`,
    meanMs: r.meanMs,
    cv: rng.uniform(p.invocationCv[0], p.invocationCv[1]),
    invocations: 1,
  }));
  // Everyone appears once; the rest is shared out by Zipf weight.
  const weights = fns.map((_, i) => 1 / (i + 1) ** p.zipf);
  const cumulative: number[] = [];
  let acc = 0;
  for (const w of weights) {
    acc += w;
    cumulative.push(acc);
  }
  for (let k = nFns; k < o.invocations; k++) {
    const target = rng.next() * acc;
    let lo = 0;
    let hi = nFns - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] as number) > target) hi = mid;
      else lo = mid + 1;
    }
    (fns[lo] as { invocations: number }).invocations++;
  }

  // Durations per function, normalized to average exactly the function's mean.
  const pool: { fn: string; durationMs: number }[] = [];
  for (const f of fns) {
    const sigma = Math.sqrt(Math.log(1 + f.cv * f.cv));
    const draws = Array.from({ length: f.invocations }, () =>
      rng.logNormal(-(sigma * sigma) / 2, sigma),
    );
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    for (const d of draws) pool.push({ fn: f.fn, durationMs: (d / mean) * f.meanMs });
  }
  rng.shuffle(pool);

  // Bursty arrivals: sticky two-phase hyper-exponential gaps with mean 1.
  const gaps = burstyGaps(o.invocations, p.interarrivalCv, p.phaseSwitch, rng);
  let t = 0;
  const invocations: TraceInvocation[] = pool.map((x, i) => {
    if (i > 0) t += gaps[i - 1] as number;
    return { arrivalMs: t, fn: x.fn, durationMs: x.durationMs };
  });
  const capped = o.maxDurationMs === undefined ? 0 : capDurations(invocations, o.maxDurationMs);
  rescaleToLoad(invocations, o.cores, o.load);
  roundToMicros(invocations);
  return {
    invocations,
    functions: fns.map(({ fn, meanMs, invocations: n }) => ({ fn, meanMs, invocations: n })),
    capped,
  };
}

/**
 * `n` gaps of mean 1 whose CV is `cv`: a balanced-means two-phase
 * hyper-exponential whose phase is re-drawn (with its stationary
 * probabilities) only with probability `switchP` per gap, so runs of short
 * gaps form bursts. Gaps of zero are avoided (strictly increasing arrivals).
 */
export function burstyGaps(n: number, cv: number, switchP: number, rng: Rng): number[] {
  const c2 = Math.max(cv * cv, 1);
  const p1 = (1 + Math.sqrt((c2 - 1) / (c2 + 1))) / 2;
  const mean1 = 1 / (2 * p1);
  const mean2 = 1 / (2 * (1 - p1));
  let phase1 = rng.next() < p1;
  return Array.from({ length: n }, () => {
    if (rng.next() < switchP) phase1 = rng.next() < p1;
    return rng.exponential(phase1 ? mean1 : mean2);
  });
}
