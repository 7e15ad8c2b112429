/**
 * Preemptive priority scheduling on C cores with a global queue: at every
 * event the C most urgent invocations run. Urgency is a key (smaller = more
 * urgent, ties by earlier arrival) that only falls while an invocation runs,
 * except at a "demotion" point of its CPU use where it jumps to +∞.
 *
 * - `srpt`: key = remaining CPU demand; no demotion.
 * - `alps-ideal`: key = max(predicted − used, 0) while used < slice, then +∞
 *   (the strict-priority limit that alps's weights approximate).
 *
 * A quantum Q > 0 (srpt `--quantum-ms`) protects a run: an invocation that
 * starts a run may be preempted only after it has run Q ms in it.
 *
 * Because a waiting key never changes and a running key only falls, the
 * order can only need fixing at arrivals, completions, quantum ends and
 * demotions; those are the events. Each event scans the C cores (C is
 * small), and the waiting queue is a binary heap.
 */
import { IdHeap } from "./heap.js";
import type { JobTable } from "./jobs.js";
import type { EngineResult } from "./simulate.js";

/** How urgency is computed from CPU used (for alps-ideal). */
export interface UrgencyRule {
  /** Key of j with `used` ms of CPU (before any demotion). */
  offset: Float64Array;
  /** CPU use at which j is demoted to +∞ (Infinity = never). */
  demoteAt: Float64Array;
}

const INF = Number.POSITIVE_INFINITY;

export function runPriority(
  jobs: JobTable,
  cores: number,
  quantumMs: number,
  rule?: UrgencyRule,
): EngineResult {
  const { n, arrival, demand } = jobs;
  const used = new Float64Array(n);
  const key = new Float64Array(n);
  const demoted = new Uint8Array(n);
  const waiting = new IdHeap(n, key);

  // Per core: running invocation (-1 idle), when its run started, CPU used at that start.
  const job = new Int32Array(cores).fill(-1);
  const runStart = new Float64Array(cores);
  const usedAtStart = new Float64Array(cores);
  const doneAt = new Float64Array(cores).fill(INF);
  const quantumEnd = new Float64Array(cores).fill(INF);
  const demoteTime = new Float64Array(cores).fill(INF);
  /** min(doneAt, quantumEnd, demoteTime): the main loop scans one array. */
  const nextAt = new Float64Array(cores).fill(INF);
  const preemptible = new Uint8Array(cores);
  const refresh = (c: number): void => {
    nextAt[c] = Math.min(doneAt[c] as number, quantumEnd[c] as number, demoteTime[c] as number);
  };
  const last = new Int32Array(cores).fill(-1);
  let busy = 0;
  let switches = 0;

  /** Current key of j having used `u` ms of CPU. */
  const keyOf = (j: number, u: number): number => {
    if (rule === undefined) return (demand[j] as number) - u;
    if (demoted[j] === 1) return INF;
    const k = (rule.offset[j] as number) - u;
    return Math.max(k, 0);
  };

  const start = (c: number, j: number, now: number): void => {
    job[c] = j;
    runStart[c] = now;
    const u = used[j] as number;
    usedAtStart[c] = u;
    doneAt[c] = now + ((demand[j] as number) - u);
    preemptible[c] = quantumMs > 0 ? 0 : 1;
    quantumEnd[c] = quantumMs > 0 ? now + quantumMs : INF;
    demoteTime[c] =
      rule !== undefined && demoted[j] === 0 ? now + ((rule.demoteAt[j] as number) - u) : INF;
    refresh(c);
    if (last[c] !== -1 && last[c] !== j) switches++;
    last[c] = j;
    busy++;
    jobs.started(j, now);
  };

  /** Takes j off core c at `now` (preempted) and queues it. */
  const stop = (c: number, now: number): void => {
    const j = job[c] as number;
    const ran = now - (runStart[c] as number);
    let u = (usedAtStart[c] as number) + ran;
    if (u > (demand[j] as number)) u = demand[j] as number;
    used[j] = u;
    jobs.ran(j, ran);
    key[j] = keyOf(j, u);
    waiting.push(j);
    job[c] = -1;
    doneAt[c] = INF;
    quantumEnd[c] = INF;
    demoteTime[c] = INF;
    nextAt[c] = INF;
    busy--;
  };

  /** Restores "the C most urgent run", as far as quanta allow. */
  const rebalance = (now: number): void => {
    while (waiting.size > 0) {
      if (busy < cores) {
        let c = 0;
        while (job[c] !== -1) c++;
        start(c, waiting.pop(), now);
        continue;
      }
      // The least urgent preemptible running invocation.
      let worst = -1;
      let worstKey = Number.NEGATIVE_INFINITY;
      let worstJob = -1;
      for (let c = 0; c < cores; c++) {
        if (preemptible[c] === 0) continue;
        const j = job[c] as number;
        const k = keyOf(j, (usedAtStart[c] as number) + (now - (runStart[c] as number)));
        if (k > worstKey || (k === worstKey && j > worstJob)) {
          worst = c;
          worstKey = k;
          worstJob = j;
        }
      }
      if (worst < 0) return;
      const w = waiting.peek();
      const wk = key[w] as number;
      if (!(wk < worstKey || (wk === worstKey && w < worstJob))) return;
      stop(worst, now);
      start(worst, waiting.pop(), now);
    }
  };

  let next = 0;
  while (next < n || busy > 0) {
    let c = -1;
    let t = INF;
    for (let i = 0; i < cores; i++) {
      const e = nextAt[i] as number;
      if (e < t) {
        t = e;
        c = i;
      }
    }
    const tArrive = next < n ? (arrival[next] as number) : INF;
    if (tArrive <= t) {
      const j = next++;
      if ((demand[j] as number) === 0) {
        jobs.finishEmpty(j);
        continue;
      }
      if (rule !== undefined && (rule.demoteAt[j] as number) <= 0) demoted[j] = 1;
      key[j] = keyOf(j, 0);
      waiting.push(j);
      rebalance(tArrive);
      continue;
    }
    const j = job[c] as number;
    if ((doneAt[c] as number) <= t) {
      used[j] = demand[j] as number;
      jobs.ran(j, t - (runStart[c] as number));
      jobs.finished(j, t);
      job[c] = -1;
      doneAt[c] = INF;
      quantumEnd[c] = INF;
      demoteTime[c] = INF;
      nextAt[c] = INF;
      busy--;
    } else if ((quantumEnd[c] as number) <= t) {
      quantumEnd[c] = INF;
      preemptible[c] = 1;
      refresh(c);
    } else {
      demoteTime[c] = INF;
      demoted[j] = 1;
      refresh(c);
    }
    rebalance(t);
  }
  return { contextSwitches: switches };
}
