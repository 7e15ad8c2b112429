/**
 * How alps turns a policy into fair-class weights (docs/architecture.md). Defined once
 * here; the simulator's `alps` policy uses these functions and the BPF
 * program receives the same thresholds (computed here) through its config,
 * so the kernel and the simulator pick the same nice level for the same state.
 */
import type { Policy } from "./policy.js";

/** Strategy by which a task's level is chosen. */
export type Strategy = "dynamic" | "static" | "rt";
export const STRATEGIES: readonly Strategy[] = ["dynamic", "static", "rt"];

/**
 * Which EEVDF slice (sched_runtime) a boost also asks for: none, the
 * function's own slice, or the kernel's shortest (the Actuator says why).
 */
export const SLICE_REQUESTS = ["off", "function", "shortest"] as const;
export type SliceRequest = (typeof SLICE_REQUESTS)[number];

/**
 * The EEVDF slice an open invocation alps does not boost asks for (a yield
 * outside SCHED_IDLE, or one back at its base level past its boost), ms; 0
 * asks for none. The kernel takes 0.1 to 100 ms. The Actuator says why, and
 * docs/results.md ("Long slices for what alps does not boost") how this
 * default was chosen.
 */
export const DEFAULT_UNBOOSTED_SLICE_MS = 20;
/** The kernel's bounds on a fair-class slice request (sched_runtime), ms. */
export const SLICE_BOUNDS_MS = { min: 0.1, max: 100 } as const;

/** A slice in ms as sched_runtime takes it, ns. */
export function sliceNs(ms: number): bigint {
  return BigInt(Math.round(ms * 1e6));
}

/**
 * The band of nice levels strategy `dynamic` maps predicted remaining time
 * onto (log scale), and the levels of the other strategies.
 *
 * The band may reach past BASE_NICE: levels above it are not a boost but a
 * yield. Why: weights only share a core, they never stop a task, so a band
 * of boosts alone (-20..-1, a weight ratio of 70 end to end, 1.25 between
 * neighbours) leaves invocations with seconds of work left sharing the cores
 * almost evenly, the way CFS does; SRPT runs them one after the other. Using
 * the whole table (-20..19, a ratio of about 5900) lets the invocation nearest
 * completion take nearly all of a core (docs/learning.md has the figures).
 */
export interface LevelCurve {
  /** Most boosted level (shortest predicted remaining time). */
  niceMin: number;
  /**
   * Level for the longest predicted remaining time (above `hiMs`). At most
   * 19; may be above BASE_NICE (a yield, see above). Static and rt levels
   * never go past BASE_NICE - 1.
   */
  niceMax: number;
  /** Remaining time at or below which a task gets `niceMin`, ms. */
  loMs: number;
  /** Remaining time above which a task gets `niceMax`, ms. */
  hiMs: number;
  /** Static strategy: nice levels between adjacent priority ranks. */
  staticStep: number;
  /**
   * Strategy dynamic: nice levels between the levels used (1, or absent:
   * every level of the band). See steppedThresholdsMs.
   */
  levelStep?: number;
}

/** The unchanged level: a task that is no function's, or past its slice and no longer yielding. */
export const BASE_NICE = 0;

/**
 * Strategy `dynamic`'s yields at or above this level run under SCHED_IDLE
 * rather than SCHED_OTHER at that nice (20 = never). SCHED_IDLE is still the
 * fair class, with a weight of 3 against 36..15 for nice 15..19: it carries
 * the band past the end of the nice table, so the invocations furthest from
 * done yield 5-12 × harder and the ones nearest done run more nearly one
 * after the other, as under SRPT. (The kernel also lets any waking task
 * preempt a SCHED_IDLE one at once; the simulator models the weight only.)
 * Why 15: from 10 the medium invocations yield that hard too and the mean
 * gains less; from 17 the longest are starved and the tail breaks. At 15 it
 * covers predicted remaining times above about 0.93 s on the fixed band.
 * The measurements, simulator and host, are in docs/results.md (session 6).
 */
export const DEFAULT_IDLE_FROM = 15;

/**
 * How long after it starts an invocation of a function predicted to run
 * `predictedMs` may still yield, ms, under a yield bound of `bound` (its
 * multiple of the predicted run; 0 = no bound, Infinity). Past it the
 * invocation's level is never above BASE_NICE: it shares the cores as under
 * CFS, or better.
 *
 * Why a bound: SRPT holds a job back only by the work ahead of it, but a
 * yield has no such limit. An invocation predicted long yields (down to
 * SCHED_IDLE) to every shorter one for as long as shorter ones keep
 * arriving, and under sustained load that is without end: the longest
 * invocations are the tail. Counting from the start, with the function's own
 * prediction as the unit, bounds each invocation's hold-back by its own
 * expected size, as a slowdown.
 */
export function yieldLiftMs(bound: number, predictedMs: number): number {
  if (!(bound >= 0)) throw new RangeError(`yield bound must be >= 0, got ${bound}`);
  return bound > 0 ? bound * predictedMs : Number.POSITIVE_INFINITY;
}

/**
 * The yield bound alps uses unless told otherwise: six predicted runs. Chosen
 * in the simulator on the bundled azure-like and huawei-like workloads (2
 * cores, learning online) among 2, 4, 6, 8, 12 and 16: from 8 up the longest
 * tenth's p99 creeps back toward no bound's, at 4 and below the short half
 * loses its lead on azure-like (docs/results.md has the table).
 */
export const DEFAULT_YIELD_BOUND = 6;

/** The weight of a SCHED_IDLE task (the kernel's WEIGHT_IDLEPRIO), whatever its nice. */
export const IDLE_WEIGHT = 3;

/** Whether a task at `level` runs under SCHED_IDLE (a yield at or above `idleFrom`). */
export function runsIdle(level: number, idleFrom: number = DEFAULT_IDLE_FROM): boolean {
  return level > BASE_NICE && level >= idleFrom;
}

/**
 * Strategy dynamic uses every level of the band unless told otherwise
 * (`--level-step`). A step of 3 halves the level changes the daemon is
 * woken for (5.9 → 2.0 per invocation on azure-like, 4.1 → 1.4 on
 * huawei-like, fork workers), but on the host it was not worth making the
 * default: over six rounds each the means moved within their run-to-run
 * spread (azure-like +0.008, as the simulator's +0.010; huawei-like
 * −0.008), the daemon's CPU over a 30 s replay did not fall (1.87 s against
 * 1.86, three runs each), and registrations answered 0.14-0.26 ms later at
 * the median (plausibly: a daemon woken less often runs each request
 * colder).
 * docs/results.md, "Fewer level changes".
 */
export const DEFAULT_LEVEL_STEP = 1;

/**
 * The levels and static step alps uses. Its loMs..hiMs are the band of a
 * policy that brings none; the learner's policies bring one fitted to their
 * predicted runs (curveForPolicy).
 */
export const DEFAULT_CURVE: LevelCurve = {
  niceMin: -20,
  niceMax: 19,
  loMs: 5,
  hiMs: 2000,
  staticStep: 3,
  levelStep: DEFAULT_LEVEL_STEP,
};

/** DEFAULT_CURVE with another level step (`--level-step`). */
export function curveWithStep(levelStep: number | undefined): LevelCurve {
  return levelStep === undefined ? DEFAULT_CURVE : { ...DEFAULT_CURVE, levelStep };
}

/**
 * The curve strategy `dynamic` uses under `policy`: `base` over the policy's
 * band when it has one (the learner fits it to the predicted runs, see
 * fitBand in src/frontend/learner.ts). The BPF backend, the proc backend and
 * the simulator all call this on the same policy, so they keep picking the
 * same level for the same state.
 */
export function curveForPolicy(policy: Policy, base: LevelCurve = DEFAULT_CURVE): LevelCurve {
  const band = policy.band;
  return band === undefined ? base : { ...base, loMs: band.lo_ms, hiMs: band.hi_ms };
}

/**
 * Upper bounds of predicted remaining time for each level of the band, ms:
 * `thresholds[i]` is the largest remaining time that still earns level
 * `niceMin + i`. Geometric between loMs and hiMs, so each level covers the
 * same ratio of remaining time. With a `levelStep` above 1 only every
 * step-th level is used (steppedThresholdsMs).
 */
export function levelThresholdsMs(curve: LevelCurve = DEFAULT_CURVE): number[] {
  const n = curve.niceMax - curve.niceMin + 1;
  if (n < 1)
    throw new RangeError(
      `level band is empty: niceMin ${curve.niceMin} > niceMax ${curve.niceMax}`,
    );
  if (!(curve.loMs > 0 && curve.hiMs >= curve.loMs)) {
    throw new RangeError(`level curve needs 0 < loMs <= hiMs, got ${curve.loMs}..${curve.hiMs}`);
  }
  if (n === 1) return [curve.hiMs];
  const ratio = curve.hiMs / curve.loMs;
  const fine = Array.from({ length: n }, (_, i) => curve.loMs * ratio ** (i / (n - 1)));
  return steppedThresholdsMs(fine, curve.niceMin, curve.levelStep ?? 1);
}

/**
 * Coarser levels through the same table: with `step` > 1, the levels are
 * taken in groups of `step` neighbours centred on BASE_NICE's multiples of
 * `step` (for step 3: -1..1 is 0, 2..4 is 3, -4..-2 is -3; for an even
 * step a level halfway between two centres goes to the yielding one), and
 * each group uses one level, its centre (the lowest group, which has none
 * below it: its most urgent level), for all the remaining times its members
 * covered. Above the band a task still gets niceMax.
 *
 * Why: every level change of a running task is one wake-up of the daemon,
 * which runs at real-time priority and so takes its CPU from the functions
 * at once; a running invocation crosses a level each time its remaining
 * time falls by the band's ratio per level (15 % on the fixed band).
 * Neighbouring levels differ by 25 % in weight, which orders little; levels
 * `step` apart differ by 1.25^step. docs/results.md has the
 * measurements.
 *
 * The table keeps one threshold per level, so everything that reads it (the
 * BPF program, curveLevel, the simulator) needs no other rule: a level not
 * used gets its predecessor's threshold, and the first level whose
 * threshold covers a remaining time is the one chosen, so a duplicate is
 * never chosen. `fine` must be ascending.
 */
export function steppedThresholdsMs(
  fine: readonly number[],
  niceMin: number,
  step: number,
): number[] {
  if (!(Number.isInteger(step) && step >= 1))
    throw new RangeError(`level step must be an integer >= 1, got ${step}`);
  if (step === 1) return [...fine];
  const n = fine.length;
  const niceMax = niceMin + n - 1;
  const centre = (level: number): number =>
    Math.min(Math.max(BASE_NICE + step * Math.round((level - BASE_NICE) / step), niceMin), niceMax);
  const out: number[] = [];
  let i = 0;
  while (i < n) {
    // One group: the indices whose levels share a centre.
    const c = centre(niceMin + i);
    let top = i;
    while (top + 1 < n && centre(niceMin + top + 1) === c) top++;
    // The lowest group has no threshold below it to give its members before
    // the centre: its first member is the level it uses.
    const chosen = i === 0 ? 0 : c - niceMin;
    for (let j = i; j <= top; j++) {
      if (j === chosen) out.push(fine[top] as number);
      else out.push(j === 0 ? (fine[top] as number) : (out[j - 1] as number));
    }
    i = top + 1;
  }
  return out;
}

/**
 * The band level of a predicted remaining time: niceMin for at most
 * thresholds[0], then one level per threshold, niceMax above the last.
 */
export function curveLevel(
  remainingMs: number,
  curve: LevelCurve = DEFAULT_CURVE,
  thresholds: readonly number[] = levelThresholdsMs(curve),
): number {
  for (let i = 0; i < thresholds.length; i++) {
    if (remainingMs <= (thresholds[i] as number)) return curve.niceMin + i;
  }
  return curve.niceMax;
}

/**
 * Strategy `dynamic`: the level for a task whose function predicts
 * `predictedMs` of CPU per burst and which has used `usedMs` of it, with boost
 * allowed for `sliceMs`. Past the slice the boost is gone: the level is never
 * below BASE_NICE, but a task still far from its predicted end keeps yielding
 * (a level above BASE_NICE) until it gets close. Expiry never raises a task.
 */
export function dynamicLevel(
  predictedMs: number,
  usedMs: number,
  sliceMs: number,
  curve: LevelCurve = DEFAULT_CURVE,
  thresholds: readonly number[] = levelThresholdsMs(curve),
): number {
  const level = curveLevel(Math.max(predictedMs - usedMs, 0), curve, thresholds);
  return usedMs >= sliceMs ? Math.max(level, BASE_NICE) : level;
}

/** Strategy `static`: a fixed level by the function's rank, inside its slice. */
export function staticLevel(
  priority: number,
  usedMs: number,
  sliceMs: number,
  curve: LevelCurve = DEFAULT_CURVE,
): number {
  if (usedMs >= sliceMs) return BASE_NICE;
  return Math.min(curve.niceMin + (priority - 1) * curve.staticStep, curve.niceMax, BASE_NICE - 1);
}

/**
 * Linux's nice-to-weight table (kernel/sched/core.c, sched_prio_to_weight):
 * nice 0 = 1024, each level about ×1.25. Index = nice + 20.
 */
export const NICE_TO_WEIGHT: readonly number[] = [
  88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100, 4904,
  3906, 3121, 2501, 1991, 1586, 1277, 1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87,
  70, 56, 45, 36, 29, 23, 18, 15,
];

export function niceWeight(nice: number): number {
  const w = NICE_TO_WEIGHT[Math.round(nice) + 20];
  if (w === undefined) throw new RangeError(`nice level out of range: ${nice}`);
  return w;
}
