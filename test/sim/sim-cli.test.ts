/**
 * `alps simulate` through the real CLI (node dist/cli.js): bad traces and
 * flags exit non-zero with a message naming the file, line and field; good
 * input prints exactly one summary object with --json.
 */
import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import type { Summary } from "../../src/contracts/summary.js";
import { CLI, ensureBuilt } from "../helpers/cli.js";

const FIX = "test/fixtures/sim";

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, "simulate", ...args], {
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// The compiled CLI, rebuilt (under a lock shared with every other file that runs it) when stale.
beforeAll(() => ensureBuilt(), 200_000);

describe("bad trace input", () => {
  it.each([
    ["missing-column.csv", 1, "duration_ms"],
    ["non-numeric.csv", 3, "duration_ms"],
    ["decreasing-arrival.csv", 4, "arrival_ms"],
    ["negative-duration.csv", 3, "duration_ms"],
  ])("%s: exit != 0, names the file, line %i and field %s", (file, line, field) => {
    const r = run("--trace", `${FIX}/${file}`, "--policy", "srpt", "--json");
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`${FIX}/${file}:${line}`);
    expect(r.stderr).toContain(`'${field}'`);
  });

  it("a trace that does not exist names the file, no stack trace", () => {
    const r = run("--trace", `${FIX}/no-such.csv`, "--policy", "srpt");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${FIX}/no-such.csv`);
    expect(r.stderr).not.toContain("    at ");
  });

  it("a bad policy file names the file, line and field path", () => {
    const r = run(
      "--trace",
      `${FIX}/good.csv`,
      "--policy",
      "alps",
      "--policy-file",
      `${FIX}/bad-policy.json`,
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${FIX}/bad-policy.json:3`);
    expect(r.stderr).toContain("functions.fib.predicted_ms");
  });
});

describe("bad flags", () => {
  it.each([
    [["--policy", "bogus"], "--policy"],
    [["--policy", "srpt", "--cores", "0"], "--cores"],
    [["--policy", "srpt", "--cores", "two"], "--cores"],
    [["--policy", "srpt", "--quantum-ms", "-1"], "--quantum-ms"],
    [["--policy", "fifo", "--quantum-ms", "8"], "--quantum-ms"],
    [["--policy", "alps-ideal"], "--policy-file"],
    [
      ["--policy", "alps", "--policy-file", `${FIX}/policy.json`, "--strategy", "fast"],
      "--strategy",
    ],
    [["--policy", "cfs", "--base-slice-ms", "0"], "--base-slice-ms"],
  ])("%j is a usage error naming %s", (args, flag) => {
    const r = run("--trace", `${FIX}/good.csv`, ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(flag);
  });
});

describe("good input", () => {
  it("--json prints exactly one summary object", () => {
    const r = run(
      "--trace",
      `${FIX}/good.csv`,
      "--policy",
      "srpt",
      "--quantum-ms",
      "8",
      "--cores",
      "1",
      "--json",
    );
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.policy).toBe("srpt");
    expect(s.invocations).toBe(3);
    // fib@0 runs 0-12.5; fib@5 (11) before pagerank@3.2 (CPU 100): 12.5-23.5;
    // pagerank's CPU 23.5-123.5, then 310 ms blocked: done 433.5, turnaround 430.3.
    expect(s.turnaround_ms.max).toBeCloseTo(430.3, 9);
    expect(s.makespan_ms).toBeCloseTo(433.5, 9);
    expect(Object.keys(s).sort()).toEqual(
      [
        "cores",
        "context_switches",
        "invocations",
        "makespan_ms",
        "policy",
        "slowdown",
        "turnaround_ms",
        "wait_ms",
      ].sort(),
    );
  });

  it("alps with a policy file and every strategy; the table names the policy", () => {
    for (const strategy of ["dynamic", "static", "rt"]) {
      const r = run(
        "--trace",
        `${FIX}/good.csv`,
        "--policy",
        "alps",
        "--policy-file",
        `${FIX}/policy.json`,
        "--strategy",
        strategy,
      );
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`alps (${strategy}, policy file)`);
      expect(r.stdout).toMatch(/turnaround ms\s+mean/);
    }
  });
});
