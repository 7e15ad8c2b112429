/**
 * Traces published as counts per time bucket (Azure 2019: invocations per
 * minute; Huawei 2023: requests per minute or second) become invocations
 * here. The rule is the same for every such layout: each bucket's count is
 * kept exactly, its invocations are spread inside the bucket, and time starts
 * at the first bucket that has an invocation (leading idle buckets dropped,
 * idle buckets after it kept).
 */
import type { TraceInvocation } from "../contracts/trace.js";
import { UsageError } from "../errors.js";
import type { Rng } from "./random.js";

export type Spread = "exp" | "uniform" | "even";
export const SPREADS: readonly Spread[] = ["exp", "uniform", "even"];

/** One function's counts: `buckets[i]` (ascending) had `counts[i]` > 0 invocations. */
export interface CountedFunction {
  fn: string;
  app?: string;
  buckets: number[];
  counts: number[];
  /** Duration of one invocation that arrived in `bucket`, ms. */
  duration: (bucket: number, rng: Rng) => number;
}

/** Adds `count` invocations in `bucket` (buckets arrive ascending per function; a repeat adds up). */
export function addCount(f: CountedFunction, bucket: number, count: number): void {
  if (count === 0) return;
  const last = f.buckets.length - 1;
  if (last >= 0 && f.buckets[last] === bucket) {
    f.counts[last] = (f.counts[last] as number) + count;
    return;
  }
  if (last >= 0 && (f.buckets[last] as number) > bucket) {
    // Rows of one function out of order: insert in place (rare; keeps the invariant).
    let i = last;
    while (i >= 0 && (f.buckets[i] as number) > bucket) i--;
    if (i >= 0 && f.buckets[i] === bucket) f.counts[i] = (f.counts[i] as number) + count;
    else {
      f.buckets.splice(i + 1, 0, bucket);
      f.counts.splice(i + 1, 0, count);
    }
    return;
  }
  f.buckets.push(bucket);
  f.counts.push(count);
}

export function totalCount(f: CountedFunction): number {
  let n = 0;
  for (const c of f.counts) n += c;
  return n;
}

/** Keeps only buckets in [start, start + length) (length undefined: to the end). In place. */
export function selectBuckets(
  functions: CountedFunction[],
  start: number,
  length: number | undefined,
): void {
  const end = length === undefined ? Number.POSITIVE_INFINITY : start + length;
  for (const f of functions) {
    const b: number[] = [];
    const c: number[] = [];
    f.buckets.forEach((bucket, i) => {
      if (bucket >= start && bucket < end) {
        b.push(bucket);
        c.push(f.counts[i] as number);
      }
    });
    f.buckets = b;
    f.counts = c;
  }
}

/**
 * The `n` functions with the most invocations (ties by name, so the choice
 * is reproducible), in their original order; functions left with no
 * invocation are dropped either way.
 */
export function keepBusiest(
  functions: CountedFunction[],
  n: number | undefined,
): CountedFunction[] {
  const active = functions.filter((f) => f.counts.length > 0);
  if (n === undefined || n >= active.length) return active;
  if (!(n >= 1) || !Number.isInteger(n))
    throw new UsageError(`--functions must be an integer >= 1, got ${n}`);
  const ranked = active
    .map((f) => ({ f, total: totalCount(f) }))
    .sort((a, b) => b.total - a.total || (a.f.fn < b.f.fn ? -1 : a.f.fn > b.f.fn ? 1 : 0));
  const keep = new Set(ranked.slice(0, n).map((r) => r.f));
  return active.filter((f) => keep.has(f));
}

/**
 * Offsets in [0, bucketMs) of `n` arrivals inside one bucket, ascending.
 * `exp`: n+1 exponential gaps rescaled so they fill the bucket exactly (a
 * Poisson process conditioned on n arrivals in the bucket); `uniform`: n
 * sorted uniform points (the same distribution, drawn directly); `even`: at
 * the centres of n equal slots.
 */
export function spreadInBucket(n: number, bucketMs: number, spread: Spread, rng: Rng): number[] {
  const out = new Array<number>(n);
  if (spread === "even") {
    for (let k = 0; k < n; k++) out[k] = ((k + 0.5) / n) * bucketMs;
    return out;
  }
  if (spread === "uniform") {
    for (let k = 0; k < n; k++) out[k] = Math.min(rng.next() * bucketMs, lastInstant(bucketMs));
    return out.sort((a, b) => a - b);
  }
  let sum = 0;
  for (let k = 0; k < n; k++) {
    sum += rng.exponential(1);
    out[k] = sum;
  }
  const total = sum + rng.exponential(1);
  for (let k = 0; k < n; k++)
    out[k] = Math.min(((out[k] as number) / total) * bucketMs, lastInstant(bucketMs));
  return out;
}

/**
 * The latest offset an arrival may have in a bucket: 1 µs before its end, so
 * rounding the trace to microseconds never moves an arrival into the next
 * bucket (per-bucket counts must survive the round trip exactly).
 */
function lastInstant(bucketMs: number): number {
  return bucketMs - 0.001;
}

/**
 * Every invocation of `functions`, sorted by arrival (stable: equal arrivals
 * keep function order). Arrival 0 is the start of the first bucket that has
 * an invocation.
 */
export function expandCounts(
  functions: readonly CountedFunction[],
  bucketMs: number,
  spread: Spread,
  rng: Rng,
): TraceInvocation[] {
  let first = Number.POSITIVE_INFINITY;
  for (const f of functions)
    if (f.buckets.length > 0) first = Math.min(first, f.buckets[0] as number);
  const out: TraceInvocation[] = [];
  for (const f of functions) {
    f.buckets.forEach((bucket, i) => {
      const base = (bucket - first) * bucketMs;
      for (const offset of spreadInBucket(f.counts[i] as number, bucketMs, spread, rng)) {
        const inv: TraceInvocation = {
          arrivalMs: base + offset,
          fn: f.fn,
          durationMs: f.duration(bucket, rng),
        };
        if (f.app !== undefined) inv.app = f.app;
        out.push(inv);
      }
    });
  }
  return out.sort((a, b) => a.arrivalMs - b.arrivalMs);
}
