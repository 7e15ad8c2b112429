/**
 * `fifo`: first come, first served on C cores, each invocation runs to
 * completion. Invocations take cores in arrival order; an invocation starts
 * at max(its arrival, the earliest time a core is free).
 *
 * Context switches: a core counts one each time it starts an invocation
 * after having run another (the same rule as every discrete engine).
 */
import type { JobTable } from "./jobs.js";
import type { EngineResult } from "./types.js";

export function runFifo(jobs: JobTable, cores: number): EngineResult {
  const { n, arrival, demand } = jobs;
  // Cores are interchangeable: keep their free times sorted-ish via a small min scan.
  const freeAt = new Float64Array(cores);
  const used = new Uint8Array(cores);
  let switches = 0;
  for (let j = 0; j < n; j++) {
    const d = demand[j] as number;
    if (d === 0) {
      jobs.finishEmpty(j);
      continue;
    }
    let c = 0;
    for (let i = 1; i < cores; i++) if ((freeAt[i] as number) < (freeAt[c] as number)) c = i;
    const start = Math.max(arrival[j] as number, freeAt[c] as number);
    if (used[c] === 1) switches++;
    used[c] = 1;
    jobs.started(j, start);
    freeAt[c] = start + d;
    jobs.finished(j, start + d);
    jobs.ran(j, d);
  }
  return { contextSwitches: switches };
}
