/**
 * `ps`: ideal processor sharing on C cores. Each of k runnable invocations
 * runs at rate min(1, C/k). All runnable invocations receive service at the
 * same rate, so track one "attained service" clock V: an invocation arriving
 * at V = v finishes when V reaches v + demand. A heap of those finishing
 * values gives the next completion in O(log n).
 *
 * Ideal sharing has no discrete dispatches, so it reports 0 context
 * switches, and each invocation's CPU counts as one uninterrupted run.
 */
import { IdHeap } from "./heap.js";
import type { JobTable } from "./jobs.js";
import type { EngineResult } from "./types.js";

export function runPs(jobs: JobTable, cores: number): EngineResult {
  const { n, arrival, demand } = jobs;
  const finishV = new Float64Array(n);
  const heap = new IdHeap(n, finishV);
  let now = 0;
  let v = 0;
  let next = 0;
  while (next < n || heap.size > 0) {
    const k = heap.size;
    const rate = k <= cores ? 1 : cores / k;
    const top = heap.peek();
    const tDone = top < 0 ? Number.POSITIVE_INFINITY : now + ((finishV[top] as number) - v) / rate;
    const tArrive = next < n ? (arrival[next] as number) : Number.POSITIVE_INFINITY;
    if (tArrive <= tDone) {
      if (k > 0) v += (tArrive - now) * rate;
      now = tArrive;
      const j = next++;
      if ((demand[j] as number) === 0) {
        jobs.finishEmpty(j);
        continue;
      }
      jobs.started(j, now);
      finishV[j] = v + (demand[j] as number);
      heap.push(j);
    } else {
      const j = heap.pop();
      // Land exactly on the finishing value so later completions do not drift.
      v = finishV[j] as number;
      now = tDone;
      jobs.finished(j, now);
      jobs.ran(j, demand[j] as number);
    }
  }
  return { contextSwitches: 0 };
}
