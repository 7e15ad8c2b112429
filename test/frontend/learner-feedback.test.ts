/**
 * The learned policy fed back into the simulator (issue 6). The window holds
 * exactly what the daemon records for the bundled workloads' invocations
 * (arrival, CPU, turnaround); `alps policy --json` output is a valid policy
 * for `alps simulate --policy alps --policy-file`.
 *
 * Measured (and reported as NOT met): with the DESIGN §4 defaults the
 * simulated `alps` is barely better than `cfs` and far from `srpt` — the
 * "never longer than a more urgent function's slice" clamp pulls every slice
 * down to the shortest function's (about 1 ms here; 0 on huawei-like, where
 * the most urgent-but-one function's stddev exceeds its mean). What is
 * asserted is what holds: the learned policy never makes alps worse than
 * cfs, and without the clamp (`--slice-clamp false`, α = 2) it is clearly
 * better than cfs on both workloads.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PolicySchema } from "../../src/contracts/policy.js";
import { cpuDemandMs } from "../../src/contracts/trace.js";
import {
  DEFAULT_LEARNER_PARAMS,
  type LearnerParams,
  learnPolicy,
} from "../../src/frontend/learner.js";
import type { InvocationRecord } from "../../src/frontend/window.js";
import { simulate } from "../../src/sim/index.js";
import { readTraceFile } from "../../src/trace/native.js";

const ROOT = join(import.meta.dirname, "../..");
const CORES = 2;

function means(workload: string, params: Partial<LearnerParams>) {
  const trace = readTraceFile(join(ROOT, "workloads", workload));
  const window: InvocationRecord[] = trace.map((inv) => ({
    fn: inv.fn,
    arrivalMs: inv.arrivalMs,
    cpuMs: cpuDemandMs(inv),
    waitMs: 0,
    turnaroundMs: inv.durationMs,
  }));
  const learned = learnPolicy(window, { ...DEFAULT_LEARNER_PARAMS, cores: CORES, ...params });
  // Round-trip through JSON, as `alps policy --json` → `--policy-file` does.
  const policy = PolicySchema.parse(JSON.parse(JSON.stringify(learned)));
  const mean = (name: "srpt" | "cfs" | "alps") =>
    simulate(trace, {
      policy: name,
      cores: CORES,
      quantumMs: 8,
      ...(name === "alps" ? { alps: { policy } } : {}),
    }).summary.turnaround_ms.mean;
  return { srpt: mean("srpt"), cfs: mean("cfs"), alps: mean("alps") };
}

describe("learned policy in the simulator", () => {
  for (const workload of ["azure-like.csv", "huawei-like.csv"]) {
    it(`never makes alps worse than cfs on ${workload} (defaults)`, () => {
      const m = means(workload, {});
      expect(m.cfs).toBeGreaterThan(m.srpt);
      expect(m.alps).toBeLessThanOrEqual(m.cfs * 1.005);
    });

    it(`beats cfs clearly on ${workload} without the more-urgent clamp`, () => {
      const m = means(workload, { clampToMoreUrgent: false, alpha: 2 });
      expect(m.alps).toBeLessThan(m.cfs * 0.98);
      expect(m.alps).toBeGreaterThan(m.srpt);
    });
  }
});
