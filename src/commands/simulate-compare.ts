/**
 * `alps simulate --compare`: simulated runs set side by side exactly as `alps
 * replay` sets measured ones (its vs-CFS ratios and its table), so a replay
 * can be read beside its simulated twin. Nothing ran: there is no dispatch
 * lag, and the table says "–" there.
 */
import type { Summary } from "../contracts/summary.js";
import type { OnlineRun } from "../frontend/online.js";
import { compareWithCfs, type VsCfs } from "../replay/compare.js";
import { comparisonTable } from "../replay/table.js";
import type { MeasuredInvocation } from "../replay/types.js";
import {
  type InvocationOutcome,
  type SimPolicyName,
  type SimResult,
  summarize,
} from "../sim/index.js";

export interface SimulatedComparison {
  trace: string;
  cores: number;
  modes: Record<string, Summary>;
  vs_cfs: Record<string, VsCfs>;
  details: Record<string, unknown>;
  notes: string[];
}

/** A simulated invocation in the replay's terms (no dispatch, no cold start). */
function asMeasured(o: InvocationOutcome): MeasuredInvocation {
  return {
    index: o.index,
    arrivalMs: o.arrivalMs,
    fn: o.fn,
    durationMs: o.durationMs,
    turnaroundMs: o.completionMs - o.arrivalMs,
    startMs: o.firstStartMs - o.arrivalMs,
    cpuMs: o.cpuMs,
    dispatchLagMs: 0,
    cold: false,
  };
}

export function compareRuns(
  trace: string,
  cores: number,
  runs: readonly { policy: SimPolicyName; result: SimResult; online?: OnlineRun }[],
): SimulatedComparison {
  const modes: Record<string, Summary> = {};
  const details: Record<string, unknown> = {};
  const measured = new Map<string, MeasuredInvocation[]>();
  for (const run of runs) {
    modes[run.policy] = run.result.summary;
    measured.set(run.policy, run.result.outcomes.map(asMeasured));
    details[run.policy] =
      run.online === undefined
        ? {}
        : {
            learned_online: {
              learner_runs: run.online.status.counters.learner_runs,
              functions: Object.keys(run.online.policy.functions).length,
            },
          };
  }
  const notes: string[] = [];
  const vsCfs: Record<string, VsCfs> = {};
  const cfs = measured.get("cfs");
  if (cfs === undefined) notes.push("cfs was not among the policies: no comparison with CFS");
  else
    for (const [policy, ms] of measured) vsCfs[policy] = compareWithCfs(cfs, ms, summarize, cores);
  return { trace, cores, modes, vs_cfs: vsCfs, details, notes };
}

export function printComparison(c: SimulatedComparison, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(c, null, 2)}\n`);
    return;
  }
  for (const note of c.notes) process.stdout.write(`note: ${note}\n`);
  process.stdout.write(
    `simulated on ${c.cores} cores, no processes: ${c.trace}\n\n${comparisonTable(c)}\n`,
  );
}
