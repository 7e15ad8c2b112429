/**
 * `alps simulate --remaining gittins`: strategy dynamic's levels from the
 * Gittins index of each function's learned runs, in the simulator only
 * (docs/results.md, "Distribution-aware levels, judged in the simulator").
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { Summary } from "../../src/contracts/summary.js";
import { ensureBuilt, runCli } from "../helpers/cli.js";

const TRACE = "workloads/azure-like.csv";
beforeAll(() => ensureBuilt(), 200_000);

/** `alps simulate` of alps learning online on TRACE, 2 cores, with `args`; exits 0. */
function simulateAlps(args: string[]): string {
  const r = runCli(["simulate", "--trace", TRACE, "--cores", "2", "--policy", "alps", ...args]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

function mean(args: string[]): number {
  return (JSON.parse(simulateAlps(["--json", ...args])) as Summary).turnaround_ms.mean;
}

describe("alps simulate --remaining", () => {
  it("gittins changes the run, one point at the mean does not, and the table says which rule ran", () => {
    const dynamic = mean([]);
    expect(mean(["--remaining", "mean"])).toBe(dynamic);
    expect(mean(["--remaining", "gittins", "--gittins-from", "mean"])).toBeCloseTo(dynamic, 6);
    expect(mean(["--remaining", "gittins"])).not.toBeCloseTo(dynamic, 3);
    expect(mean(["--remaining", "gittins", "--gittins-grid", "2"])).not.toBeCloseTo(
      mean(["--remaining", "gittins"]),
      3,
    );
    expect(simulateAlps(["--remaining", "gittins"])).toContain(
      "alps (dynamic, Gittins remaining time, learned online)",
    );
  });

  it("refuses what it cannot do, naming the flag", () => {
    const bad = (args: string[], message: string) => {
      const r = runCli(["simulate", "--trace", TRACE, "--cores", "2", ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
    };
    bad(
      ["--policy", "cfs", "--remaining", "gittins"],
      "--remaining applies to --policy alps learning online",
    );
    bad(
      ["--policy", "alps", "--strategy", "static", "--remaining", "gittins"],
      "strategy dynamic only",
    );
    bad(["--policy", "alps", "--gittins-grid", "2"], "apply to --remaining gittins only");
    bad(["--policy", "alps", "--remaining", "median"], "--remaining");
    bad(["--policy", "alps", "--remaining", "gittins", "--gittins-grid", "1"], "--gittins-grid");
  });
});
