/**
 * `simulate`: checks options, builds the shared invocation table, runs the
 * chosen policy's engine and summarizes.
 */
import type { TraceInvocation } from "../contracts/trace.js";
import { JobTable } from "./jobs.js";
import { summarize } from "./metrics.js";
import type { SimOptions, SimResult } from "./types.js";

/** What every engine returns besides the filled job table. */
export interface EngineResult {
  contextSwitches: number;
}

function runEngine(jobs: JobTable, opts: SimOptions): EngineResult {
  throw new Error(`policy ${opts.policy} is not implemented yet (${jobs.n} invocations)`);
}

export function simulate(trace: readonly TraceInvocation[], opts: SimOptions): SimResult {
  if (!(Number.isInteger(opts.cores) && opts.cores >= 1)) {
    throw new RangeError(`cores must be an integer >= 1, got ${opts.cores}`);
  }
  const jobs = new JobTable(trace, opts.recordRuns === true);
  const { contextSwitches } = runEngine(jobs, opts);
  const outcomes = jobs.outcomes();
  const summary = summarize(outcomes, {
    cores: opts.cores,
    label: { policy: opts.policy },
    contextSwitches,
  });
  return { outcomes, summary, contextSwitches };
}
