/**
 * A model of Linux's fair class (CFS) on C cores with one global run queue,
 * optionally beneath a real-time class. Three policies use it:
 *
 * - `cfs`: the runnable invocation with the least virtual runtime runs for a
 *   base slice (or until done); then the least-vruntime one is picked again.
 *   All invocations have nice 0, so vruntime = CPU received since placement.
 *   A new arrival is placed at the minimum vruntime of the queue (the least
 *   of queued and running invocations; an empty system keeps the last
 *   minimum, which never decreases). Arrivals do not preempt a running fair
 *   invocation (Linux places new tasks so they rarely win wakeup preemption).
 *   Each switch of a core to a different invocation costs `switchCostMs`
 *   during which the core does no work.
 * - `sfs` (the SFS FILTER policy): each new invocation first enters a FIFO
 *   real-time class for one FILTER slice, then drops to the fair class. The
 *   slice is mean inter-arrival time × C, recomputed every N arrivals, never
 *   below the floor. An invocation that waited more than `overloadSlices`
 *   slices to enter FILTER goes straight to the fair class.
 * - `alps` strategy `rt`: real-time levels by function priority for the
 *   function's `slice_ms` of CPU, then the fair class. With a policy that
 *   changes during the run (PolicyFeed), an invocation keeps the priority
 *   and budget of the policy in force when it arrived: a queued SCHED_FIFO
 *   task is not re-prioritized here.
 * Real-time invocations preempt fair ones at once; a more urgent real-time
 * invocation preempts a less urgent one (SCHED_FIFO priorities); equal
 * priorities are first come, first served.
 *
 * Context switches: a core counts one each time it starts an invocation
 * other than the one it ran last (its first invocation is not a switch);
 * the switch cost is paid exactly on those.
 */
import type { PolicyEntries } from "./entries.js";
import { IdHeap } from "./heap.js";
import type { JobTable } from "./jobs.js";
import type { EngineResult, PolicyFeed } from "./types.js";

/** How invocations enter the real-time class (none for plain cfs). */
export type RtEntry =
  | { kind: "none" }
  | {
      kind: "sfs";
      initialSliceMs: number;
      floorMs: number;
      recomputeEvery: number;
      overloadSlices: number;
    }
  | {
      kind: "levels";
      /** Real-time priority key of each invocation (smaller = more urgent). */
      priority: Float64Array;
      /** CPU each invocation may use in the real-time class, ms. */
      budget: Float64Array;
      /** A policy that changes during the run; the arrays above are then `entries`'. */
      online?: { feed: PolicyFeed; entries: PolicyEntries };
    };

export interface FairParams {
  baseSliceMs: number;
  switchCostMs: number;
}

const INF = Number.POSITIVE_INFINITY;
const IDLE = 0;
const RT = 1;
const FAIR = 2;

export function runFair(
  jobs: JobTable,
  cores: number,
  fair: FairParams,
  rt: RtEntry,
): EngineResult {
  const { n, arrival, demand } = jobs;
  const used = new Float64Array(n);
  const vruntime = new Float64Array(n);
  const rtKey = new Float64Array(n);
  /** CPU j may still use in the real-time class. */
  const rtLeft = new Float64Array(n);
  const queuedAt = new Float64Array(n);
  const fairQueue = new IdHeap(n, vruntime);
  const rtQueue = new IdHeap(n, rtKey);

  const job = new Int32Array(cores).fill(-1);
  const cls = new Uint8Array(cores);
  /** When the invocation's work starts on the core (after any switch cost). */
  const runStart = new Float64Array(cores);
  const endAt = new Float64Array(cores).fill(INF);
  /** Whether the current run ends with the invocation's CPU work done (decided once, no float drift). */
  const endsDone = new Uint8Array(cores);
  const last = new Int32Array(cores).fill(-1);
  let switches = 0;
  /** CPU of the runs that ended, all cores (with what is running: the feed's busy time). */
  let ranTotal = 0;
  const online = rt.kind === "levels" ? rt.online : undefined;
  let minVruntime = 0;
  let sfsSlice = rt.kind === "sfs" ? rt.initialSliceMs : 0;

  /** Where a newly fair invocation is placed: the least vruntime of the queue. */
  const placement = (): number => {
    let m = INF;
    const top = fairQueue.peek();
    if (top >= 0) m = vruntime[top] as number;
    for (let c = 0; c < cores; c++) {
      if (cls[c] === FAIR && (vruntime[job[c] as number] as number) < m)
        m = vruntime[job[c] as number] as number;
    }
    if (m !== INF && m > minVruntime) minVruntime = m;
    return minVruntime;
  };

  const start = (c: number, j: number, klass: number, now: number): void => {
    let begin = now;
    // Starting on an idle core that never ran anything is not a switch.
    if (last[c] !== j && last[c] !== -1) {
      switches++;
      begin += fair.switchCostMs;
    }
    last[c] = j;
    job[c] = j;
    cls[c] = klass;
    runStart[c] = begin;
    const remaining = (demand[j] as number) - (used[j] as number);
    const limit = klass === RT ? (rtLeft[j] as number) : fair.baseSliceMs;
    endsDone[c] = remaining <= limit ? 1 : 0;
    endAt[c] = begin + Math.min(remaining, limit);
    jobs.started(j, begin);
  };

  /** Takes the invocation off core c at `now`, accounting what it ran; returns it. */
  const stop = (c: number, now: number): number => {
    const j = job[c] as number;
    const ran = now > (runStart[c] as number) ? now - (runStart[c] as number) : 0;
    let u = (used[j] as number) + ran;
    if (u > (demand[j] as number)) u = demand[j] as number;
    used[j] = u;
    if (cls[c] === RT) rtLeft[j] = Math.max((rtLeft[j] as number) - ran, 0);
    else vruntime[j] = (vruntime[j] as number) + ran;
    jobs.ran(j, ran);
    ranTotal += ran;
    job[c] = -1;
    cls[c] = IDLE;
    endAt[c] = INF;
    return j;
  };

  const enqueueFair = (j: number): void => {
    vruntime[j] = placement();
    fairQueue.push(j);
  };

  /** Gives idle core c the most urgent runnable invocation, if any. */
  const dispatch = (c: number, now: number): void => {
    while (rtQueue.size > 0) {
      const j = rtQueue.pop();
      if (rt.kind === "sfs" && now - (queuedAt[j] as number) > rt.overloadSlices * sfsSlice) {
        rtLeft[j] = 0;
        enqueueFair(j);
        continue;
      }
      start(c, j, RT, now);
      return;
    }
    if (fairQueue.size > 0) start(c, fairQueue.pop(), FAIR, now);
  };

  /** A real-time invocation became runnable: queue it and preempt if it should run now. */
  const admitRt = (j: number, now: number): void => {
    queuedAt[j] = now;
    rtQueue.push(j);
    let target = -1;
    let targetVr = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < cores; c++) {
      if (cls[c] === IDLE) {
        target = c;
        break;
      }
      // Preempt the fair invocation furthest ahead in vruntime.
      if (cls[c] === FAIR && (vruntime[job[c] as number] as number) > targetVr) {
        target = c;
        targetVr = vruntime[job[c] as number] as number;
      }
    }
    if (target < 0) {
      // All cores are real-time: preempt the least urgent one if j is more urgent.
      let worstKey = Number.NEGATIVE_INFINITY;
      let worstJob = -1;
      for (let c = 0; c < cores; c++) {
        const r = job[c] as number;
        const k = rtKey[r] as number;
        if (k > worstKey || (k === worstKey && r > worstJob)) {
          worstKey = k;
          worstJob = r;
          target = c;
        }
      }
      const k = rtKey[j] as number;
      if (!(k < worstKey || (k === worstKey && j < worstJob))) return;
      const r = stop(target, now);
      queuedAt[r] = now;
      rtQueue.push(r);
    } else if (cls[target] === FAIR) {
      fairQueue.push(stop(target, now));
    }
    dispatch(target, now);
  };

  /** Invocation j's CPU work is done: the feed records it (with when it completes). */
  const cpuDone = (j: number): void => online?.feed.cpuDone(jobs.completed(j));

  let next = 0;
  let busyOrQueued = 0;
  while (next < n || busyOrQueued > 0) {
    let c = -1;
    let t = INF;
    for (let i = 0; i < cores; i++) {
      if ((endAt[i] as number) < t) {
        t = endAt[i] as number;
        c = i;
      }
    }
    const tArrive = next < n ? (arrival[next] as number) : INF;
    const tDecide = online === undefined ? INF : online.feed.nextDecisionMs();
    // A decision first: a policy decided at t already applies to what arrives at t.
    if (online !== undefined && tDecide <= tArrive && tDecide <= t) {
      let busy = ranTotal;
      for (let i = 0; i < cores; i++)
        if (cls[i] !== IDLE && tDecide > (runStart[i] as number))
          busy += tDecide - (runStart[i] as number);
      const policy = online.feed.decide(tDecide, busy);
      if (!(online.feed.nextDecisionMs() > tDecide))
        throw new RangeError(`policy feed: the decision after ${tDecide} ms is not later`);
      if (policy !== undefined) online.entries.use(policy);
      continue;
    }
    if (tArrive <= t) {
      const j = next++;
      online?.entries.assign(j);
      if ((demand[j] as number) === 0) {
        jobs.finishEmpty(j);
        cpuDone(j);
        continue;
      }
      busyOrQueued++;
      if (rt.kind === "sfs") {
        const every = rt.recomputeEvery;
        if (j >= every && j % every === 0) {
          const meanGap = (tArrive - (arrival[j - every] as number)) / every;
          sfsSlice = Math.max(meanGap * cores, rt.floorMs);
        }
        rtKey[j] = 0;
        rtLeft[j] = sfsSlice;
        admitRt(j, tArrive);
      } else if (rt.kind === "levels" && (rt.budget[j] as number) > 0) {
        rtKey[j] = rt.priority[j] as number;
        rtLeft[j] = rt.budget[j] as number;
        admitRt(j, tArrive);
      } else {
        enqueueFair(j);
        for (let i = 0; i < cores; i++) {
          if (cls[i] === IDLE) {
            dispatch(i, tArrive);
            break;
          }
        }
      }
      continue;
    }
    const wasRt = cls[c] === RT;
    const done = endsDone[c] === 1;
    const j = stop(c, t);
    if (done) {
      used[j] = demand[j] as number;
      jobs.finished(j, t);
      cpuDone(j);
      busyOrQueued--;
    } else if (wasRt) {
      enqueueFair(j);
    } else {
      fairQueue.push(j);
    }
    dispatch(c, t);
  }
  return { contextSwitches: switches };
}
