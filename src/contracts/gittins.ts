/**
 * Distribution-aware levels: the Gittins index of a function's run lengths,
 * given the CPU an invocation has already used, turned into a table of
 * attained-time breakpoints where its level changes. Pure: the simulator
 * uses it today (`alps simulate --remaining gittins`), the learner would
 * emit the same table per function, and a BPF program could look a level up
 * in it in place of "predicted − attained".
 *
 * For a job with attained service a and run length X (the learned samples,
 * each equally likely), the Gittins index is
 *   G(a) = sup over Δ > 0 of P(X − a ≤ Δ | X > a) / E[min(X − a, Δ) | X > a],
 * and 1/G(a) is its "effective remaining time". Why it is used in place of
 * max(predicted − used, 0): the mean hides the shape. A function that is
 * usually short but sometimes long gets a boost while its short runs may
 * still end, and a yield once it has outlived them; for a run that is always
 * the same length 1/G(a) is exactly the remaining time, so strategy
 * `dynamic`'s rule is the special case of a one-point distribution.
 *
 * For an empirical distribution the sup is reached at a Δ that ends on a
 * sample (the numerator only grows there, the denominator grows in between),
 * so with the samples sorted, x_0 ≤ … ≤ x_{n−1}, the survivors of a being
 * x_s.. (the first sample > a, n_s = n − s of them) and k the last index of a
 * group of equal samples (c_k = k − s + 1 of the survivors are ≤ x_k):
 *   1/G(a) = min over k of (A_k − a·n_s) / c_k,
 *   A_k = x_s + … + x_k + (n − k − 1)·x_k.
 * Between two samples the survivors do not change: each term falls linearly
 * in a with slope −n_s/c_k ≤ −1, so 1/G falls (to 0 just before the next
 * sample, where a run may end) and jumps back up once that sample is passed.
 * The attained time at which it first reaches a remaining time T is then
 *   min over k of (A_k − T·c_k) / n_s,
 * which is how the table's breakpoints are found exactly.
 */
import { curveLevel, type LevelCurve, levelThresholdsMs } from "./levels.js";

/** A function's learned run lengths, sorted, with what the index needs precomputed. */
export class RunDistribution {
  /** The samples, ascending, ms. */
  readonly runs: Float64Array;
  /** prefix[i] = runs[0] + … + runs[i − 1]. */
  readonly #prefix: Float64Array;

  constructor(samples: readonly number[]) {
    if (samples.length === 0) throw new RangeError("a run distribution needs at least one sample");
    for (const s of samples)
      if (!(Number.isFinite(s) && s >= 0))
        throw new RangeError(`a run length must be finite and >= 0, got ${s}`);
    this.runs = Float64Array.from(samples).sort();
    this.#prefix = new Float64Array(this.runs.length + 1);
    for (let i = 0; i < this.runs.length; i++)
      this.#prefix[i + 1] = (this.#prefix[i] as number) + (this.runs[i] as number);
  }

  get size(): number {
    return this.runs.length;
  }

  /** Index of the first sample above `attainedMs` (size when none is). */
  firstSurvivor(attainedMs: number): number {
    let lo = 0;
    let hi = this.runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.runs[mid] as number) > attainedMs) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /**
   * Calls `term(A_k, c_k)` for each candidate end k among the survivors from
   * index `s` (the last of each group of equal samples).
   */
  #forEachEnd(s: number, term: (a: number, c: number) => void): void {
    const runs = this.runs;
    const n = runs.length;
    const base = this.#prefix[s] as number;
    for (let k = s; k < n; k++) {
      const x = runs[k] as number;
      if (k + 1 < n && (runs[k + 1] as number) === x) continue;
      term((this.#prefix[k + 1] as number) - base + (n - k - 1) * x, k - s + 1);
    }
  }

  /**
   * 1/G(a), ms: the effective remaining time of an invocation that has used
   * `attainedMs`. 0 once it has outlived every sample (the distribution says
   * nothing more; `dynamic` says 0 past the predicted run too).
   */
  remainingMs(attainedMs: number): number {
    return this.remainingAmong(this.firstSurvivor(attainedMs), attainedMs);
  }

  /** 1/G(a) with the survivors from index `s` (those above `attainedMs`). */
  remainingAmong(s: number, attainedMs: number): number {
    const ns = this.runs.length - s;
    if (ns <= 0) return 0;
    let best = Number.POSITIVE_INFINITY;
    this.#forEachEnd(s, (a, c) => {
      const r = (a - attainedMs * ns) / c;
      if (r < best) best = r;
    });
    return Math.max(best, 0);
  }

  /** The Gittins index G(a), per ms (Infinity once every sample is outlived). */
  index(attainedMs: number): number {
    const r = this.remainingMs(attainedMs);
    return r > 0 ? 1 / r : Number.POSITIVE_INFINITY;
  }

  /**
   * With the survivors from index `s`: the least attained time at which
   * 1/G falls to `remainingMs` or below (it may lie outside the interval
   * where those are the survivors; the caller checks).
   */
  attainedAtMs(s: number, remainingMs: number): number {
    const ns = this.runs.length - s;
    if (ns <= 0) return Number.NEGATIVE_INFINITY;
    let best = Number.POSITIVE_INFINITY;
    this.#forEachEnd(s, (a, c) => {
      const t = (a - remainingMs * c) / ns;
      if (t < best) best = t;
    });
    return best;
  }
}

/**
 * Levels by attained time: level[i] from fromMs[i] (inclusive) to
 * fromMs[i + 1]; fromMs[0] is 0 and fromMs is strictly increasing, and
 * neighbours never share a level (a breakpoint is where the level changes).
 */
export interface LevelTable {
  fromMs: number[];
  level: number[];
}

/** Appends breakpoints, keeping the table's invariants (see LevelTable). */
class TableBuilder {
  readonly fromMs: number[] = [];
  readonly level: number[] = [];

  push(atMs: number, level: number): void {
    const n = this.fromMs.length;
    if (n > 0) {
      const lastAt = this.fromMs[n - 1] as number;
      if (atMs < lastAt) atMs = lastAt;
      if (atMs === lastAt) {
        // A later change at the same instant wins; drop the entry if it
        // now repeats the level before it.
        this.fromMs.pop();
        this.level.pop();
        this.push(atMs, level);
        return;
      }
      if (this.level[n - 1] === level) return;
    }
    this.fromMs.push(atMs);
    this.level.push(level);
  }

  table(): LevelTable {
    return { fromMs: this.fromMs, level: this.level };
  }
}

/**
 * How the table is made: `exact` puts a breakpoint wherever curveLevel(1/G)
 * changes; `grid` only at attained times 0, firstMs, firstMs·ratio, … (each
 * cell takes the level at its start), which bounds the table's length by
 * log(longest run / firstMs) / log(ratio) + 2 whatever the samples.
 */
export type TableResolution = { kind: "exact" } | { kind: "grid"; firstMs: number; ratio: number };

export const EXACT: TableResolution = { kind: "exact" };

/**
 * The level table of `dist` on `curve`: the level strategy `dynamic` would
 * give an invocation whose predicted remaining time is 1/G(attained). Slice
 * and yield bound are not in it: they are applied on top, as to `dynamic`.
 */
export function gittinsLevelTable(
  dist: RunDistribution,
  curve: LevelCurve,
  resolution: TableResolution = EXACT,
  thresholds: readonly number[] = levelThresholdsMs(curve),
): LevelTable {
  const out = new TableBuilder();
  const runs = dist.runs;
  const n = runs.length;
  const longest = runs[n - 1] as number;
  if (resolution.kind === "grid") {
    const { firstMs, ratio } = resolution;
    if (!(firstMs > 0 && ratio > 1))
      throw new RangeError(`a grid needs firstMs > 0 and ratio > 1, got ${firstMs}, ${ratio}`);
    out.push(0, curveLevel(dist.remainingMs(0), curve, thresholds));
    for (let a = firstMs; a < longest; a *= ratio)
      out.push(a, curveLevel(dist.remainingMs(a), curve, thresholds));
    out.push(longest, curveLevel(0, curve, thresholds));
    return out.table();
  }
  let lo = 0;
  let s = dist.firstSurvivor(0);
  while (s < n) {
    // Survivors s.. for attained in [lo, hi).
    const hi = runs[s] as number;
    let band = curveLevel(dist.remainingAmong(s, lo), curve, thresholds) - curve.niceMin;
    out.push(lo, curve.niceMin + band);
    while (band > 0) {
      const at = dist.attainedAtMs(s, thresholds[band - 1] as number);
      if (!(at < hi)) break;
      band--;
      // A level the curve's step leaves unused repeats its neighbour's threshold: skip to the one chosen.
      while (band > 0 && thresholds[band - 1] === thresholds[band]) band--;
      out.push(Math.max(at, lo), curve.niceMin + band);
    }
    lo = hi;
    s = dist.firstSurvivor(hi);
  }
  out.push(lo, curveLevel(0, curve, thresholds));
  return out.table();
}

/** Index of the entry of `table` that holds at `usedMs` (the last breakpoint at or before it). */
export function tableEntryAt(table: LevelTable, usedMs: number): number {
  const from = table.fromMs;
  let lo = 0;
  let hi = from.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((from[mid] as number) <= usedMs) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The table's level at `usedMs`. */
export function tableLevel(table: LevelTable, usedMs: number): number {
  return table.level[tableEntryAt(table, usedMs)] as number;
}
