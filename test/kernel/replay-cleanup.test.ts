/**
 * A replay leaves nothing behind: no worker process, no sandbox cgroup (v2 or
 * v1 cpu), no daemon it started, and the dispatcher back on SCHED_OTHER —
 * after a normal end and after Ctrl-C (SIGINT to the real `alps replay`
 * process) in the middle of a mode.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { replay } from "../../src/replay/index.js";
import { isRoot, requireHost } from "../helpers/host.js";
import {
  isStallProbe,
  leftoverCgroup,
  leftoverWorkers,
  ownThreadPolicies,
  replayDaemons,
  shortLongTrace,
  stallProbesOf,
  writeTrace,
} from "../replay/replay-fixtures.js";

const CAN_RUN = requireHost("root", isRoot());
const CLI = join(process.cwd(), "dist", "cli.js");

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The SIGINT case drives the built CLI. tsc emits even when another area has type errors; we need only ours. */
function buildCli(): void {
  try {
    execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "ignore" });
  } catch {
    // Errors elsewhere in the tree: what we need is checked by the files below.
  }
  if (!existsSync(CLI) || !existsSync(join(process.cwd(), "dist", "replay", "index.js"))) {
    throw new Error("build did not produce dist/cli.js and dist/replay/");
  }
}

describe.skipIf(!CAN_RUN)("replay cleanup", () => {
  it("leaves no worker, no cgroup and no raised thread after a replay", async () => {
    const dir = mkdtempSync(join(tmpdir(), "alps-replay-clean-"));
    const tracePath = writeTrace(dir, shortLongTrace({ spanS: 2, load: 0.5, cores: 2, seed: 3 }));
    const result = await replay({
      tracePath,
      modes: ["cfs-observed"],
      drivers: ["inprocess"],
      sandboxCgroups: "none",
      outDir: dir,
    });
    expect(result.runs[0]?.run.invocations.length).toBeGreaterThan(10);
    expect(leftoverWorkers(process.pid)).toEqual([]);
    expect(stallProbesOf(process.pid)).toEqual([]);
    expect(leftoverCgroup(process.pid)).toBe(false);
    expect(ownThreadPolicies().every((p) => p === 0)).toBe(true);
  }, 60_000);

  it("cleans up (daemon, cpu cgroups, workers) when interrupted with SIGINT in the middle of a mode", async () => {
    buildCli();
    const dir = mkdtempSync(join(tmpdir(), "alps-replay-sigint-"));
    const daemonsBefore = new Set(replayDaemons());
    const tracePath = writeTrace(dir, shortLongTrace({ spanS: 20, load: 0.6, cores: 2, seed: 5 }));
    const child = spawn(
      process.execPath,
      // The default path: an alps daemon process (driver api), a cpu cgroup per worker.
      [
        CLI,
        "replay",
        "--trace",
        tracePath,
        "--modes",
        "alps",
        "--fallback",
        "--out",
        dir,
        "--json",
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>(
      (resolve) => child.on("close", (code) => resolve(code)), // stderr is read after: wait for it to drain
    );
    const pid = child.pid;
    if (pid === undefined) throw new Error("replay did not start");
    try {
      await until(
        "workers of the replay",
        () => leftoverWorkers(pid).length > 0 && leftoverCgroup(pid),
        60_000,
      );
      // Let it dispatch for a while so invocations are running when it is interrupted.
      await new Promise((r) => setTimeout(r, 1500));
      expect(leftoverWorkers(pid).length).toBeGreaterThan(0);
      // The daemon the replay started is running (so "none left" below says something).
      expect(replayDaemons().filter((d) => !daemonsBefore.has(d)).length).toBe(1);
      // And its stall probes, one per CPU it may use.
      const probes = stallProbesOf(pid);
      expect(probes.length).toBeGreaterThan(0);
      child.kill("SIGINT");
      const code = await exited;
      expect(code, stderr).toBe(130);
      expect(stderr).toMatch(/interrupted/);
      expect(leftoverWorkers(pid)).toEqual([]);
      expect(leftoverCgroup(pid)).toBe(false);
      expect(replayDaemons().filter((d) => !daemonsBefore.has(d))).toEqual([]);
      expect(probes.filter(isStallProbe)).toEqual([]);
    } finally {
      // Only if an assertion failed before the replay ended: kill what we started, by pid.
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      for (const worker of leftoverWorkers(pid)) process.kill(worker, "SIGKILL");
      // Its daemon restores what it changed on SIGTERM.
      for (const d of replayDaemons()) if (!daemonsBefore.has(d)) process.kill(d, "SIGTERM");
    }
  }, 120_000);
});
