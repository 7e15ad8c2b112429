/**
 * `npm run bench -- feedback`: how close the learned policy brings the
 * simulated `alps` to `srpt`, on the bundled workloads (issue 6's last
 * must-show; docs/learning.md reports the figures).
 *
 * Two ways to learn:
 * - with hindsight: one learner run over a window holding the whole trace
 *   (what the daemon records for each invocation: arrival, CPU, turnaround),
 *   its policy through JSON as `alps policy --json` → `alps simulate
 *   --policy-file` takes it, then pinned for the whole run;
 * - online, as the daemon learns on a host: `alps simulate --policy alps`
 *   (src/frontend/online.ts), every invocation entering the window when it
 *   completes and each learned policy applied from then on.
 * Beside them, an oracle: each function's true mean CPU as its predicted run
 * and a boost that never expires. That is the best any per-function policy
 * can do with fair-class weights (strategy dynamic), so it says whether a
 * miss is the learner's or the mechanism's.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { functionTable } from "../contracts/function-table.js";
import { type Policy, type PolicyEntry, PolicySchema } from "../contracts/policy.js";
import { cpuDemandMs, type TraceInvocation } from "../contracts/trace.js";
import { defaultConfig } from "../frontend/config.js";
import { type LearnerParams, learnerParams, learnPolicy } from "../frontend/learner.js";
import { simulateOnline } from "../frontend/online.js";
import type { InvocationRecord } from "../frontend/window.js";
import { simulate } from "../sim/index.js";
import { readTraceFile } from "../trace/native.js";

const WORKLOADS = fileURLToPath(new URL("../../workloads/", import.meta.url));
export const FEEDBACK_CORES = 2;
const QUANTUM_MS = 8;

/** The label of the row the must-show compares with: hindsight, the learner's defaults. */
export const LEARNED_DEFAULTS = "learned, defaults";
export const LEARNED_ONLINE = "learned online, defaults (alps simulate --policy alps)";
/** Hindsight with yields that never end, as alps ran before its yield bound. */
export const LEARNED_UNBOUNDED = "learned, defaults, --yield-bound 0 (yields never end)";

const SETTINGS: { label: string; params: Partial<LearnerParams> }[] = [
  { label: LEARNED_DEFAULTS, params: {} },
  {
    label: "learned, --slice-clamp true (clamp to the more urgent slice)",
    params: { sliceClamp: true },
  },
  { label: "learned, --alpha 2", params: { alpha: 2 } },
  {
    label: "learned, --band-ratio 30 (the band fitted to the policy; docs/learning.md item 6)",
    params: { bandRatio: 30 },
  },
];

function learned(trace: TraceInvocation[], params: Partial<LearnerParams>): Policy {
  const window: InvocationRecord[] = trace.map((inv) => ({
    fn: inv.fn,
    arrivalMs: inv.arrivalMs,
    cpuMs: cpuDemandMs(inv),
    waitMs: 0,
    turnaroundMs: inv.durationMs,
  }));
  const policy = learnPolicy(window, {
    ...learnerParams(defaultConfig(), FEEDBACK_CORES),
    ...params,
  });
  return PolicySchema.parse(JSON.parse(JSON.stringify(policy)));
}

function oracle(trace: TraceInvocation[]): Policy {
  const cpu = new Map<string, number[]>();
  for (const inv of trace) {
    const list = cpu.get(inv.fn) ?? [];
    list.push(cpuDemandMs(inv));
    cpu.set(inv.fn, list);
  }
  const means = [...cpu].map(
    ([fn, xs]) => [fn, xs.reduce((a, b) => a + b, 0) / xs.length] as const,
  );
  means.sort((a, b) => a[1] - b[1]);
  // Names come from the trace: a table without a prototype takes any of them.
  const functions = functionTable<PolicyEntry>();
  means.forEach(([fn, mean], i) => {
    functions[fn] = { priority: i + 1, predicted_ms: mean, slice_ms: 1e9 };
  });
  return { functions, default: { priority: means.length + 1, predicted_ms: 100, slice_ms: 0 } };
}

/** Turnaround mean and p50, ms, and the mean slowdown (where a floor shows). */
type Turnaround = { mean: number; p50: number; slowdown?: number };

function turnaround(
  trace: TraceInvocation[],
  name: "srpt" | "cfs" | "alps",
  policy?: Policy,
  floor?: number,
  yieldBound?: number,
): Turnaround {
  const { summary } = simulate(trace, {
    policy: name,
    cores: FEEDBACK_CORES,
    quantumMs: QUANTUM_MS,
    ...(policy === undefined
      ? {}
      : {
          alps: {
            policy,
            ...(floor === undefined ? {} : { floor }),
            ...(yieldBound === undefined ? {} : { yieldBound }),
          },
        }),
  });
  return { ...summary.turnaround_ms, slowdown: summary.slowdown.mean };
}

export interface FeedbackFigures {
  workload: string;
  srpt: Turnaround;
  cfs: Turnaround;
  rows: { label: string; alps: Turnaround }[];
}

/** The section's figures for one bundled workload. */
export function feedbackFigures(workload: string): FeedbackFigures {
  const trace = readTraceFile(join(WORKLOADS, workload));
  const rows = [
    ...SETTINGS.map((s) => ({
      label: s.label,
      alps: turnaround(trace, "alps", learned(trace, s.params)),
    })),
    {
      label: LEARNED_ONLINE,
      alps: simulateOnline(trace, defaultConfig(), { cores: FEEDBACK_CORES, keepOutcomes: false })
        .result.summary.turnaround_ms,
    },
    { label: LEARNED_UNBOUNDED, alps: turnaround(trace, "alps", learned(trace, {}), undefined, 0) },
    // What the daemon does to every invocation of a caller that is not root (docs/safety.md).
    {
      label:
        "learned, defaults, nice floor 0 (every invocation registered by a caller that is not root)",
      alps: turnaround(trace, "alps", learned(trace, {}), 0),
    },
    {
      label: "learned, defaults, nice floor -10 (a floor the operator grants a uid)",
      alps: turnaround(trace, "alps", learned(trace, {}), -10),
    },
    {
      label: "oracle: true mean CPU per function, boost never expires",
      alps: turnaround(trace, "alps", oracle(trace)),
    },
  ];
  return {
    workload,
    srpt: turnaround(trace, "srpt"),
    cfs: turnaround(trace, "cfs"),
    rows,
  };
}

export async function benchFeedback(): Promise<void> {
  for (const workload of ["azure-like.csv", "huawei-like.csv"]) {
    const { srpt, cfs, rows } = feedbackFigures(workload);
    const midpoint = (srpt.mean + cfs.mean) / 2;
    console.log(
      `${workload} on ${FEEDBACK_CORES} cores: turnaround mean/p50 srpt ${srpt.mean.toFixed(0)}/${srpt.p50.toFixed(0)} ms, ` +
        `cfs ${cfs.mean.toFixed(0)}/${cfs.p50.toFixed(0)} ms; ` +
        `alps is closer to srpt than cfs is below ${midpoint.toFixed(0)} ms`,
    );
    for (const { label, alps } of rows) {
      const verdict = alps.mean < midpoint ? "closer to srpt" : "not closer";
      console.log(
        `  ${label}: alps mean ${alps.mean.toFixed(0)} ms (${(alps.mean / cfs.mean).toFixed(2)} x cfs, ${verdict}), ` +
          `p50 ${alps.p50.toFixed(0)} ms` +
          (alps.slowdown === undefined
            ? ""
            : `, mean slowdown ${alps.slowdown.toFixed(2)} (cfs ${cfs.slowdown?.toFixed(2)})`),
      );
    }
  }
}
