/**
 * `alps` strategies `dynamic` and `static`: what the alps backend does on a
 * real host (docs/architecture.md), modelled as weighted processor sharing. Each
 * runnable invocation gets CPU in proportion to the weight of its nice level
 * (Linux's table, src/contracts/levels.ts), capped at one core: the most
 * heavily weighted invocations whose share would exceed a core get exactly
 * one, the others share what is left in proportion to weight.
 *
 * Levels come from src/contracts/levels.ts:
 * - `dynamic`: the level of dynamicLevel(predicted, used, slice): it rises as
 *   predicted remaining time (predicted − used) crosses each threshold of the
 *   curve; once the invocation has used its slice it loses any boost (never
 *   below nice 0) but keeps yielding while the curve puts it above nice 0.
 *   With a Gittins plan the curve is read at 1/Gittins index of the
 *   function's learned runs instead of predicted − used: each invocation
 *   carries its function's table of attained-time breakpoints
 *   (src/contracts/gittins.ts), and the slice and yield bound apply on top.
 * - `static`: staticLevel(priority, used, slice): one level until the slice
 *   is used, then nice 0.
 * - Simulator only, `dynamic` with an overrun rule (overrun.ts): the
 *   remaining time may rise again once a burst runs past its prediction, so
 *   the band moves both ways; the kernel implements rule `none` only.
 * Levels only change at known amounts of CPU used, so those are events.
 * Dynamic levels from `idleFrom` up weigh IDLE_WEIGHT, as the SCHED_IDLE the
 * actuator applies there. What SCHED_IDLE also changes on a host (a waking
 * task preempts it at once and treats its CPU as idle) has no counterpart
 * here: this engine shares all cores at every instant.
 *
 * Each event recomputes rates over the runnable set (O(k)), so this engine
 * is slower than srpt's; the learner does not use it. Sharing has no
 * discrete dispatches: 0 context switches, one run per invocation.
 */
import { type LevelTable, tableEntryAt } from "../contracts/gittins.js";
import {
  BASE_NICE,
  curveLevel,
  IDLE_WEIGHT,
  type LevelCurve,
  levelThresholdsMs,
  niceWeight,
  runsIdle,
  staticLevel,
  yieldLiftMs,
} from "../contracts/levels.js";
import type { Policy } from "../contracts/policy.js";
import type { PolicyEntries } from "./entries.js";
import { type OverrunOptions, overrunLine, overrunRemainingMs, regrownMs } from "./overrun.js";
import { GroupRates } from "./groups.js";
import type { JobTable } from "./jobs.js";
import type { EngineResult, PolicyFeed } from "./types.js";

export interface LevelPlan {
  strategy: "dynamic" | "static";
  curve: LevelCurve;
  /** Dynamic: levels from here up weigh IDLE_WEIGHT (SCHED_IDLE, as the actuator applies them). */
  idleFrom: number;
  /**
   * Lowest level any invocation gets, as the daemon holds the invocations of
   * a caller that is not root (0: no boost, only yields); absent: none.
   */
  floor?: number;
  /**
   * Dynamic: an invocation stops yielding once this many times its
   * predicted run has passed since it arrived (yieldLiftMs in levels.ts);
   * absent or 0: never.
   */
  yieldBound?: number;
  /**
   * Dynamic, simulator only: the remaining time of a burst past its
   * prediction (overrun.ts); absent: the kernel's rule (none).
   */
  overrun?: OverrunOptions;
  /** Per invocation: 1 when its function has no entry of its own (it runs on the default entry). */
  unseen?: Uint8Array;
  /** Per invocation: its function's predicted_ms, slice_ms and priority. */
  predicted: Float64Array;
  slice: Float64Array;
  priority: Float64Array;
  /**
   * Per invocation: its sandbox (a scheduling group; see groups.ts). Absent:
   * every invocation is its own entity, as when each has a sandbox of its own.
   */
  sandbox?: { of: Int32Array; count: number };
  /** A policy that changes during the run; the arrays above are then `online.entries`'. */
  online?: OnlinePlan;
  /**
   * Dynamic: levels from each invocation's Gittins table (attained time →
   * level, src/contracts/gittins.ts) in place of the curve over predicted −
   * used; the yield bound still counts in predicted runs.
   */
  gittins?: GittinsPlan;
}

export interface GittinsPlan {
  /** Invocation j's table under the policy its entry came from, on `curve`. */
  tableOf(j: number, curve: LevelCurve): LevelTable;
  /** Whether past its slice an invocation is never below BASE_NICE (as `dynamic`). */
  slice: boolean;
}

export interface OnlinePlan {
  feed: PolicyFeed;
  /** Fills each invocation's entry as it arrives, from the policy in force. */
  entries: PolicyEntries;
  /** The level curve under a policy (a fixed one, or the policy's band). */
  curveOf(policy: Policy): LevelCurve;
}

const INF = Number.POSITIVE_INFINITY;
const LEVELS = 40;

/** Decides levels and the CPU use at which each changes next. */
class LevelTracker {
  private curve: LevelCurve;
  private thresholds: number[];
  /** Dynamic: band index (curve level − niceMin) of predicted remaining time. */
  private readonly band: Int32Array;
  /** Dynamic: 1 once j's yields are lifted (its bound passed). */
  private readonly lifted: Uint8Array;
  /** Gittins: j's level table and the entry it is at. */
  private readonly tables: (LevelTable | undefined)[];
  private readonly entry: Int32Array;
  /** Dynamic: the direction of j's next band change (-1 down, +1 up, 0 none: its slice). */
  private readonly dir: Int8Array;
  /** Dynamic, rule regrow: j's prediction as last regrown. */
  private readonly guess: Float64Array;

  constructor(
    private readonly plan: LevelPlan,
    n: number,
  ) {
    this.curve = plan.curve;
    this.thresholds = levelThresholdsMs(plan.curve);
    this.band = new Int32Array(n);
    this.lifted = new Uint8Array(n);
    this.tables = plan.gittins === undefined ? [] : new Array<LevelTable | undefined>(n);
    this.entry = new Int32Array(plan.gittins === undefined ? 0 : n);
    this.dir = new Int8Array(n);
    this.guess = new Float64Array(n);
  }

  /** j's overrun line (overrun.ts): slope 0 when remaining time only falls. */
  private line(j: number): { slope: number; fromMs: number } {
    const p = this.plan;
    const rule = p.overrun?.rule;
    if (rule === undefined || rule.kind === "none") return { slope: 0, fromMs: 0 };
    return overrunLine(rule, p.predicted[j] as number, p.unseen?.[j] === 1);
  }

  /** j's yield bound passed: from now on it never yields; its new level. */
  lift(j: number, used: number): number {
    this.lifted[j] = 1;
    return this.floored(this.dynamicOf(j, used));
  }

  /** A new policy's curve: levels computed from now on (initial) use it. */
  setCurve(curve: LevelCurve): void {
    this.curve = curve;
    this.thresholds = levelThresholdsMs(curve);
  }

  /** Level of j at `used`, per the contract functions, never below the plan's floor. */
  initial(j: number, used: number): number {
    const p = this.plan;
    if (p.strategy === "static") {
      // staticLevel is the contract; it already returns BASE_NICE past the slice.
      return this.floored(staticLevelOf(p, j, used, this.curve));
    }
    if (p.gittins !== undefined) {
      const table = p.gittins.tableOf(j, this.curve);
      this.tables[j] = table;
      this.entry[j] = tableEntryAt(table, used);
      return this.floored(this.dynamicOf(j, used));
    }
    this.guess[j] = this.predictedAt(j, used);
    this.band[j] =
      curveLevel(this.remaining(j, used), this.curve, this.thresholds) - this.curve.niceMin;
    return this.floored(this.dynamicOf(j, used));
  }

  /** j's predicted remaining time at `used` (dynamicLevel's, or the plan's overrun rule). */
  remaining(j: number, used: number): number {
    const p = this.plan;
    const predicted = p.predicted[j] as number;
    const rule = p.overrun?.rule;
    return rule === undefined
      ? Math.max(predicted - used, 0)
      : overrunRemainingMs(rule, predicted, used, p.unseen?.[j] === 1);
  }

  /** Whether the plan's overrun rule makes j's remaining time rise past its prediction. */
  overruns(j: number): boolean {
    return this.line(j).slope > 0 || this.regrows(j);
  }

  /** Whether j's prediction grows each time it is reached (overrun.ts regrow). */
  private regrows(j: number): boolean {
    const p = this.plan;
    const rule = p.overrun?.rule;
    return (
      rule?.kind === "regrow" &&
      (!rule.unseenOnly || p.unseen?.[j] === 1) &&
      (p.predicted[j] as number) > 0
    );
  }

  /** j's prediction at `used`: its entry's, or as regrown (overrun.ts). */
  /**
   * The band index one level change from `b` in direction `d`. With a level
   * step (steppedThresholdsMs) a level not used repeats its neighbour's
   * threshold, and the first index of such a run is the level chosen: the
   * step skips the rest of the run.
   */
  private stepFrom(b: number, d: number): number {
    const t = this.thresholds;
    const last = t.length - 1;
    let next = Math.min(Math.max(b + d, 0), last);
    if (d < 0) while (next > 0 && t[next - 1] === t[next]) next--;
    else while (next < last && t[next] === t[next - 1]) next++;
    return next;
  }

  private predictedAt(j: number, used: number): number {
    const p = this.plan;
    const predicted = p.predicted[j] as number;
    const rule = p.overrun?.rule;
    return rule === undefined ? predicted : regrownMs(rule, predicted, used, p.unseen?.[j] === 1);
  }

  private floored(level: number): number {
    const floor = this.plan.floor;
    return floor === undefined || level >= floor ? level : floor;
  }

  /** Dynamic level from the band index: past the slice never below BASE_NICE (as dynamicLevel). */
  private dynamicOf(j: number, used: number): number {
    const g = this.plan.gittins;
    const table = g === undefined ? undefined : this.tables[j];
    const l =
      table === undefined
        ? this.curve.niceMin + (this.band[j] as number)
        : (table.level[this.entry[j] as number] as number);
    const sliced = g === undefined || g.slice;
    const level = sliced && used >= (this.plan.slice[j] as number) ? Math.max(l, BASE_NICE) : l;
    return this.lifted[j] === 1 ? Math.min(level, BASE_NICE) : level;
  }

  /** CPU use at which j's level changes next (Infinity when it never will). */
  nextChange(j: number, level: number, used: number): number {
    const p = this.plan;
    const slice = p.slice[j] as number;
    const inSlice = used < slice;
    if (p.strategy === "static") return inSlice ? slice : INF;
    const table = this.tables[j];
    if (p.gittins !== undefined && table !== undefined) {
      const sliced = p.gittins.slice;
      // Lifted and past its slice (under the slice rule) it stays at BASE_NICE.
      if (this.lifted[j] === 1 && sliced && !inSlice) return INF;
      const e = this.entry[j] as number;
      const next = e + 1 < table.fromMs.length ? (table.fromMs[e + 1] as number) : INF;
      return Math.min(next, sliced && inSlice ? slice : INF);
    }
    const b = this.band[j] as number;
    const predicted = this.predictedAt(j, used);
    const { slope, fromMs } = this.line(j);
    if (this.regrows(j)) {
      // Falls along prediction − used, then jumps when the prediction regrows.
      if (this.lifted[j] === 1 && !inSlice) return INF;
      const down = b > 0 ? predicted - (this.thresholds[b - 1] as number) : INF;
      const crossing = Math.min(down, predicted);
      this.dir[j] = crossing === down ? -1 : 0;
      if (inSlice && slice <= crossing) {
        this.dir[j] = 0;
        return slice;
      }
      return crossing;
    }
    if (slope === 0) {
      // The next threshold crossing changes the level unless the task is past
      // its slice and already at BASE_NICE (where it stays).
      // Lifted and past its slice, it stays at BASE_NICE whatever the band says.
      const crossing =
        b > 0 && (inSlice || (level > BASE_NICE && this.lifted[j] !== 1))
          ? predicted - (this.thresholds[b - 1] as number)
          : INF;
      this.dir[j] = crossing < (inSlice ? slice : INF) ? -1 : 0;
      return Math.min(crossing, inSlice ? slice : INF);
    }
    // Lifted and past its slice it stays at BASE_NICE whatever the band says.
    if (this.lifted[j] === 1 && !inSlice) return INF;
    // Remaining time falls along predicted − used until the two lines meet
    // (at turn), then rises along slope × (used − from).
    const turn = (predicted + slope * fromMs) / (1 + slope);
    const down = b > 0 ? predicted - (this.thresholds[b - 1] as number) : INF;
    const up =
      b < this.thresholds.length - 1 ? fromMs + (this.thresholds[b] as number) / slope : INF;
    const crossing = used < turn && down < turn ? down : up;
    this.dir[j] = crossing === INF ? 0 : crossing === down ? -1 : 1;
    if (inSlice && slice <= crossing) {
      this.dir[j] = 0;
      return slice;
    }
    return crossing;
  }

  /**
   * Level after j reached the change point `used` exactly. Moves the band one
   * step at a time (not a fresh lookup) so a point computed in floating point
   * can never leave the state unchanged and stall the clock.
   */
  advance(j: number, used: number): number {
    const p = this.plan;
    if (p.strategy === "static") return this.floored(staticLevelOf(p, j, used, this.curve));
    const table = this.tables[j];
    if (p.gittins !== undefined && table !== undefined) {
      let e = this.entry[j] as number;
      while (e + 1 < table.fromMs.length && used >= (table.fromMs[e + 1] as number)) e++;
      this.entry[j] = e;
      return this.floored(this.dynamicOf(j, used));
    }
    if (this.regrows(j) && used >= (this.guess[j] as number)) {
      // The prediction regrew: the band from the new one, afresh.
      this.guess[j] = this.predictedAt(j, used);
      this.band[j] =
        curveLevel(this.remaining(j, used), this.curve, this.thresholds) - this.curve.niceMin;
      return this.floored(this.dynamicOf(j, used));
    }
    let b = this.band[j] as number;
    const before = b;
    const predicted = this.predictedAt(j, used);
    const { slope, fromMs } = this.line(j);
    const turn = slope === 0 ? INF : (predicted + slope * fromMs) / (1 + slope);
    if (used < turn) {
      while (b > 0 && used >= predicted - (this.thresholds[b - 1] as number)) b--;
    } else {
      const last = this.thresholds.length - 1;
      while (b < last && used >= fromMs + (this.thresholds[b] as number) / slope) b++;
    }
    // A crossing computed in floating point may land a hair short of the
    // line; the step it was computed for is taken all the same.
    const d = this.dir[j] as number;
    if (b === before && d !== 0) b = this.stepFrom(b, d);
    this.band[j] = b;
    return this.floored(this.dynamicOf(j, used));
  }
}

function staticLevelOf(p: LevelPlan, j: number, used: number, curve: LevelCurve): number {
  return staticLevel(p.priority[j] as number, used, p.slice[j] as number, curve);
}

export function runWeighted(jobs: JobTable, cores: number, plan: LevelPlan): EngineResult {
  const { n, arrival, demand } = jobs;
  const levels = new LevelTracker(plan, n);
  const used = new Float64Array(n);
  const level = new Int32Array(n);
  const changeAt = new Float64Array(n);
  // When each invocation's yields are lifted (Infinity: never); every
  // invocation has a lift event, yielding or not (see the lift below).
  const bound = plan.strategy === "dynamic" ? (plan.yieldBound ?? 0) : 0;
  const liftAt = new Float64Array(n).fill(INF);
  /** When each invocation started (its yield bound counts from there). */
  const startAt = new Float64Array(n);
  const active = new Int32Array(n);
  let k = 0;
  const weightOfLevel = new Float64Array(LEVELS);
  for (let l = 0; l < LEVELS; l++)
    weightOfLevel[l] =
      plan.strategy === "dynamic" && runsIdle(l - 20, plan.idleFrom)
        ? IDLE_WEIGHT
        : niceWeight(l - 20);
  const countOfLevel = new Int32Array(LEVELS);
  const rateOfLevel = new Float64Array(LEVELS);
  const countLevel = (index: number, delta: number): void => {
    countOfLevel[index] = (countOfLevel[index] as number) + delta;
  };

  /** Water-filling: heaviest levels capped at one core, the rest share the remainder by weight. */
  const computeLevelRates = (): void => {
    if (k <= cores) {
      rateOfLevel.fill(1);
      return;
    }
    let weight = 0;
    for (let l = 0; l < LEVELS; l++)
      weight += (countOfLevel[l] as number) * (weightOfLevel[l] as number);
    let free = cores;
    let l = 0;
    for (; l < LEVELS; l++) {
      const m = countOfLevel[l] as number;
      if (m === 0) continue;
      const w = weightOfLevel[l] as number;
      if (free * w < weight) break;
      rateOfLevel[l] = 1;
      free -= m;
      weight -= m * w;
    }
    for (; l < LEVELS; l++) rateOfLevel[l] = (free * (weightOfLevel[l] as number)) / weight;
  };
  // With sandboxes shared by several invocations, rates are per job (groups.ts).
  const grouped =
    plan.sandbox === undefined ? undefined : new GroupRates(plan.sandbox.of, plan.sandbox.count, n);
  const jobRate = new Float64Array(grouped === undefined ? 0 : n);
  const weightOfJob = (j: number): number => weightOfLevel[(level[j] as number) + 20] as number;
  const computeRates = (): void => {
    if (grouped === undefined) computeLevelRates();
    else grouped.compute(active, k, cores, weightOfJob, jobRate);
  };
  const rateOf = (j: number): number =>
    grouped === undefined
      ? (rateOfLevel[(level[j] as number) + 20] as number)
      : (jobRate[j] as number);

  const online = plan.online;
  /** CPU given to invocations since time 0, all cores (a feed derives utilization from it). */
  let busy = 0;
  /** Invocation j's CPU work is done: the feed records it (with when it completes). */
  const cpuDone = (j: number): void => online?.feed.cpuDone(jobs.completed(j));
  /** A new policy: later arrivals take its entries, running invocations move to them now. */
  const replan = (o: OnlinePlan, policy: Policy): void => {
    o.entries.use(policy);
    levels.setCurve(o.curveOf(policy));
    for (let a = 0; a < k; a++) {
      const j = active[a] as number;
      const u = used[j] as number;
      const expired = u >= (plan.slice[j] as number);
      o.entries.assign(j);
      // A burst past its slice stays expired until it ends, as the kernel's flag does.
      if (expired) plan.slice[j] = Math.min(plan.slice[j] as number, u);
      countLevel((level[j] as number) + 20, -1);
      const l = levels.initial(j, u);
      level[j] = l;
      changeAt[j] = levels.nextChange(j, l, u);
      countLevel(l + 20, 1);
    }
  };

  let now = 0;
  let next = 0;
  while (next < n || k > 0) {
    const tArrive = next < n ? (arrival[next] as number) : INF;
    let tEvent = INF;
    let who = -1;
    let tLift = INF;
    if (k > 0) {
      computeRates();
      for (let a = 0; a < k; a++) {
        const j = active[a] as number;
        if ((liftAt[j] as number) < tLift) tLift = liftAt[j] as number;
        const r = rateOf(j);
        const u = used[j] as number;
        const d = demand[j] as number;
        const c = changeAt[j] as number;
        const target = Math.min(c, d);
        const t = now + (target - u) / r;
        if (t < tEvent) {
          tEvent = t;
          who = a;
        }
      }
    }
    const tDecide = online === undefined ? INF : online.feed.nextDecisionMs();
    const t = Math.min(tArrive, tEvent, tDecide, tLift);
    // Every event is computed forward from now; one in the past is a bug in
    // this engine, and running on would finish invocations before they arrive.
    if (t < now - 1e-9 * Math.max(now, 1))
      throw new Error(`weighted engine: next event at ${t} ms is before now (${now} ms)`);
    const dt = t - now;
    if (dt > 0) {
      for (let a = 0; a < k; a++) {
        const j = active[a] as number;
        const ran = dt * rateOf(j);
        used[j] = (used[j] as number) + ran;
        busy += ran;
      }
    }
    now = t;
    // A decision first: a policy decided at t already applies to what arrives at t.
    if (online !== undefined && tDecide <= Math.min(tArrive, tEvent, tLift)) {
      const policy = online.feed.decide(now, busy);
      if (!(online.feed.nextDecisionMs() > now))
        throw new RangeError(`policy feed: the decision after ${now} ms is not later`);
      if (policy !== undefined) replan(online, policy);
      continue;
    }
    // Yield bounds passed: those invocations move to their lifted level. An
    // invocation that is not yielding when its bound passes is lifted too (as
    // the backend marks it): a later policy may predict it long, and it must
    // not start yielding then. Skipping it once left its bound in the past,
    // and the next event would have moved the clock back to it.
    if (tLift <= tArrive && tLift <= tEvent) {
      for (let a = 0; a < k; a++) {
        const j = active[a] as number;
        if ((liftAt[j] as number) > now) continue;
        // Simulator only (overrun.ts): a bound measured in the size the
        // overrun implies, re-checked when it passes.
        const fromSize = plan.overrun?.liftFromSize;
        if (fromSize !== undefined && levels.overruns(j)) {
          const u = used[j] as number;
          if (fromSize === 0) {
            liftAt[j] = INF;
            continue;
          }
          // Re-checked at most every millisecond (as the daemon's timer
          // would be): the implied size grows as it runs, and re-checking at
          // the exact instant could approach a limit point without reaching it.
          const at = (startAt[j] as number) + fromSize * (u + levels.remaining(j, u));
          if (at > now) {
            liftAt[j] = Math.max(at, now + 1);
            continue;
          }
        }
        liftAt[j] = INF;
        countLevel((level[j] as number) + 20, -1);
        const l = levels.lift(j, used[j] as number);
        level[j] = l;
        changeAt[j] = levels.nextChange(j, l, used[j] as number);
        countLevel(l + 20, 1);
      }
      continue;
    }
    if (tArrive <= tEvent) {
      const j = next++;
      online?.entries.assign(j);
      if ((demand[j] as number) === 0) {
        jobs.finishEmpty(j);
        cpuDone(j);
        continue;
      }
      jobs.started(j, now);
      startAt[j] = now;
      if (bound > 0) liftAt[j] = now + yieldLiftMs(bound, plan.predicted[j] as number);
      const l = levels.initial(j, 0);
      level[j] = l;
      changeAt[j] = levels.nextChange(j, l, 0);
      countLevel(l + 20, 1);
      active[k++] = j;
      continue;
    }
    // Snap the invocation whose event this is onto its target exactly, then
    // settle every invocation that reached its own target within rounding.
    const jw = active[who] as number;
    used[jw] = Math.min(changeAt[jw] as number, demand[jw] as number);
    for (let a = 0; a < k; ) {
      const j = active[a] as number;
      const d = demand[j] as number;
      const u = used[j] as number;
      const eps = 1e-9 * Math.max(d, 1);
      if (u >= d - eps) {
        used[j] = d;
        countLevel((level[j] as number) + 20, -1);
        jobs.finished(j, now);
        jobs.ran(j, d);
        cpuDone(j);
        active[a] = active[--k] as number;
        continue;
      }
      const c = changeAt[j] as number;
      if (u >= c - eps) {
        used[j] = Math.max(c, u);
        countLevel((level[j] as number) + 20, -1);
        const l = levels.advance(j, used[j] as number);
        level[j] = l;
        changeAt[j] = levels.nextChange(j, l, used[j] as number);
        countLevel(l + 20, 1);
      }
      a++;
    }
  }
  return { contextSwitches: 0 };
}
