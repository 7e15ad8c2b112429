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
import type { EngineResult } from "./types.js";

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
  return cores === 1 && rule === undefined
    ? runSrptOneCore(jobs, quantumMs)
    : runPriorityOnCores(jobs, cores, quantumMs, rule);
}

/**
 * The engine for any C and either rule. One function with no closures:
 * start, stop and rebalance are written out where they happen, so V8
 * optimizes one loop early in a short run.
 */
export function runPriorityOnCores(
  jobs: JobTable,
  cores: number,
  quantumMs: number,
  rule?: UrgencyRule,
): EngineResult {
  const { n, arrival, demand, firstStart, runs } = jobs;
  const ideal = rule !== undefined;
  const offset = rule?.offset ?? demand;
  const demoteAt = rule?.demoteAt ?? demand;
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
  const last = new Int32Array(cores).fill(-1);
  let busy = 0;
  let switches = 0;
  // The next core event: the first core with the least nextAt (c = -1 when
  // every core is idle), as a scan would find it. Kept between events and
  // rescanned only after the core holding it changed (`known` false): an
  // arrival that starts an idle core only needs a comparison.
  let c = -1;
  let t = INF;
  let known = true;

  let next = 0;
  while (next < n || busy > 0) {
    if (!known) {
      c = -1;
      t = INF;
      for (let i = 0; i < cores; i++) {
        const e = nextAt[i] as number;
        if (e < t) {
          t = e;
          c = i;
        }
      }
      known = true;
    }
    const tArrive = next < n ? (arrival[next] as number) : INF;
    let now = t;
    if (tArrive <= t) {
      now = tArrive;
      const j = next++;
      if ((demand[j] as number) === 0) {
        jobs.finishEmpty(j);
        continue;
      }
      if (ideal && (demoteAt[j] as number) <= 0) demoted[j] = 1;
      // Key of j having used no CPU.
      key[j] = !ideal
        ? (demand[j] as number)
        : demoted[j] === 1
          ? INF
          : Math.max(offset[j] as number, 0);
      waiting.push(j);
    } else {
      const j = job[c] as number;
      if ((doneAt[c] as number) <= t) {
        used[j] = demand[j] as number;
        const ran = t - (runStart[c] as number);
        if (runs !== undefined && ran > 0) (runs[j] as number[]).push(ran);
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
        nextAt[c] = Math.min(doneAt[c] as number, demoteTime[c] as number);
      } else {
        demoteTime[c] = INF;
        demoted[j] = 1;
        nextAt[c] = Math.min(doneAt[c] as number, quantumEnd[c] as number);
      }
      known = false;
    }

    // Restore "the C most urgent run", as far as quanta allow.
    while (waiting.size > 0) {
      let target = -1;
      if (busy < cores) {
        target = 0;
        while (job[target] !== -1) target++;
      } else {
        // The least urgent preemptible running invocation.
        let worstKey = Number.NEGATIVE_INFINITY;
        let worstJob = -1;
        for (let r = 0; r < cores; r++) {
          if (preemptible[r] === 0) continue;
          const rj = job[r] as number;
          const u = (usedAtStart[r] as number) + (now - (runStart[r] as number));
          const rk = !ideal
            ? (demand[rj] as number) - u
            : demoted[rj] === 1
              ? INF
              : Math.max((offset[rj] as number) - u, 0);
          if (rk > worstKey || (rk === worstKey && rj > worstJob)) {
            target = r;
            worstKey = rk;
            worstJob = rj;
          }
        }
        if (target < 0) break;
        const w = waiting.peek();
        const wk = key[w] as number;
        if (!(wk < worstKey || (wk === worstKey && w < worstJob))) break;
        // Preempt: take worstJob off the core, account its run, queue it.
        const ran = now - (runStart[target] as number);
        let u = (usedAtStart[target] as number) + ran;
        if (u > (demand[worstJob] as number)) u = demand[worstJob] as number;
        used[worstJob] = u;
        if (runs !== undefined && ran > 0) (runs[worstJob] as number[]).push(ran);
        key[worstJob] = !ideal
          ? (demand[worstJob] as number) - u
          : demoted[worstJob] === 1
            ? INF
            : Math.max((offset[worstJob] as number) - u, 0);
        waiting.push(worstJob);
        job[target] = -1;
        busy--;
      }
      // Start the most urgent waiting invocation on core `target`.
      const j = waiting.pop();
      const u = used[j] as number;
      job[target] = j;
      runStart[target] = now;
      usedAtStart[target] = u;
      const done = now + ((demand[j] as number) - u);
      doneAt[target] = done;
      preemptible[target] = quantumMs > 0 ? 0 : 1;
      const qEnd = quantumMs > 0 ? now + quantumMs : INF;
      quantumEnd[target] = qEnd;
      const dTime = ideal && demoted[j] === 0 ? now + ((demoteAt[j] as number) - u) : INF;
      demoteTime[target] = dTime;
      const e = Math.min(done, qEnd, dTime);
      nextAt[target] = e;
      if (target === c) {
        if (e > t) known = false;
        else t = e;
      } else if (e < t || (e === t && target < c)) {
        t = e;
        c = target;
      }
      if (last[target] !== -1 && last[target] !== j) switches++;
      last[target] = j;
      busy++;
      if (Number.isNaN(firstStart[j] as number)) firstStart[j] = now;
    }
  }
  return { contextSwitches: switches };
}

/**
 * `runPriorityOnCores(jobs, 1, quantumMs)` with its per-core arrays as plain
 * variables and its core scans gone: the same events in the same order and
 * the same arithmetic, so the same result to the bit (a test holds the two
 * together). One core is the CLI's default and the common case, and this
 * loop is small enough for V8 to optimize within the first few thousand
 * events of a short run.
 */
export function runSrptOneCore(jobs: JobTable, quantumMs: number): EngineResult {
  const { n, arrival, demand, firstStart, runs } = jobs;
  const used = new Float64Array(n);
  const key = new Float64Array(n);
  const waiting = new IdHeap(n, key);
  let job = -1; // running invocation, -1 when idle
  let runStart = 0;
  let usedAtStart = 0;
  let doneAt = INF;
  let quantumEnd = INF;
  let nextAt = INF; // min(doneAt, quantumEnd)
  let preemptible = false;
  let last = -1;
  let switches = 0;

  let next = 0;
  while (next < n || job >= 0) {
    const t = nextAt;
    const tArrive = next < n ? (arrival[next] as number) : INF;
    let now = t;
    if (tArrive <= t) {
      now = tArrive;
      const j = next++;
      if ((demand[j] as number) === 0) {
        jobs.finishEmpty(j);
        continue;
      }
      key[j] = demand[j] as number;
      waiting.push(j);
    } else if (doneAt <= t) {
      used[job] = demand[job] as number;
      const ran = t - runStart;
      if (runs !== undefined && ran > 0) (runs[job] as number[]).push(ran);
      jobs.finished(job, t);
      job = -1;
      doneAt = INF;
      quantumEnd = INF;
      nextAt = INF;
    } else {
      // The quantum ended.
      quantumEnd = INF;
      preemptible = true;
      nextAt = doneAt;
    }

    while (waiting.size > 0) {
      if (job >= 0) {
        if (!preemptible) break;
        const rk = (demand[job] as number) - (usedAtStart + (now - runStart));
        const w = waiting.peek();
        const wk = key[w] as number;
        if (!(wk < rk || (wk === rk && w < job))) break;
        // Preempt: take the running invocation off, account its run, queue it.
        const ran = now - runStart;
        let u = usedAtStart + ran;
        if (u > (demand[job] as number)) u = demand[job] as number;
        used[job] = u;
        if (runs !== undefined && ran > 0) (runs[job] as number[]).push(ran);
        key[job] = (demand[job] as number) - u;
        waiting.push(job);
      }
      // Start the most urgent waiting invocation.
      const j = waiting.pop();
      const u = used[j] as number;
      job = j;
      runStart = now;
      usedAtStart = u;
      doneAt = now + ((demand[j] as number) - u);
      preemptible = quantumMs <= 0;
      quantumEnd = quantumMs > 0 ? now + quantumMs : INF;
      nextAt = Math.min(doneAt, quantumEnd);
      if (last !== -1 && last !== j) switches++;
      last = j;
      if (Number.isNaN(firstStart[j] as number)) firstStart[j] = now;
    }
  }
  return { contextSwitches: switches };
}
