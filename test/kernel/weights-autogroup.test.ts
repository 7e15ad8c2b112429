/**
 * An invocation that leads its own session, in the root cpu group of a host
 * with autogroup on, is weighed by its autogroup against other sessions: alps
 * writes its level as the autogroup's nice, records it, and the guardian
 * puts the autogroup's own nice back after a SIGKILL of the daemon.
 * Needs the built CLI (dist/, `npm run build`, which `npm test` runs first).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { apiRequest } from "../../src/frontend/api/client.js";
import { cpuGroupFrom, readCpuHierarchy } from "../../src/host/cpu-cgroups.js";
import { hasBtf, isRoot, requireHost } from "../helpers/host.js";
import { isRunning, killPids, startWorker, waitFor } from "../helpers/processes.js";

const CLI = join(import.meta.dirname, "../../dist/cli.js");
const hierarchy = readCpuHierarchy();
// This test's own process must sit in the root cpu group (so will its worker).
const inRootGroup =
  cpuGroupFrom(readFileSync("/proc/self/cgroup", "utf8"), hierarchy)?.dir === null;
const runs =
  requireHost("root with BPF (tp_btf)", isRoot() && hasBtf()) &&
  requireHost("the built CLI (npm run build)", existsSync(CLI)) &&
  requireHost("kernel.sched_autogroup_enabled = 1", hierarchy.autogroup) &&
  requireHost("the test process in the root cpu group", inRootGroup);

const autogroupNice = (pid: number): number | undefined => {
  try {
    return Number(/nice\s+(-?\d+)/.exec(readFileSync(`/proc/${pid}/autogroup`, "utf8"))?.[1]);
  } catch {
    return undefined;
  }
};

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(" ")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

describe.skipIf(!runs)("an invocation in a session of its own", () => {
  it("is weighed through its autogroup, recorded, and put back by the guardian after SIGKILL", async () => {
    const dir = mkdtempSync(join(tmpdir(), "alps-autogroup-"));
    const socket = join(dir, "alps.sock");
    const policyFile = join(dir, "policy.json");
    const boosted = { priority: 1, predicted_ms: 80, slice_ms: 5000 };
    writeFileSync(policyFile, JSON.stringify({ functions: { boosted }, default: boosted }));
    let daemon: ChildProcess | undefined;
    let guardians: number[] = [];
    let worker: number | undefined;
    try {
      daemon = spawn(
        process.execPath,
        [
          CLI,
          "daemon",
          "--mode",
          "alps",
          "--socket",
          socket,
          "--state-dir",
          join(dir, "state"),
          "--metrics-port",
          "0",
          "--policy-file",
          policyFile,
          "--boost-budget-ms",
          "0",
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      let log = "";
      daemon.stderr?.on("data", (c: Buffer) => {
        log += c.toString("utf8");
      });
      const d = daemon;
      await waitFor(() => existsSync(socket) || d.exitCode !== null, 30_000, "the daemon's socket");
      expect(d.exitCode, log).toBeNull();
      guardians = childrenOf(d.pid as number);

      const pid = startWorker(5, 5, 3000, 20_000, true).pid as number;
      worker = pid;
      expect(autogroupNice(pid)).toBe(0);
      const res = await apiRequest(socket, "POST", "/v1/invocations", { function: "boosted", pid });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      await waitFor(() => (autogroupNice(pid) ?? 0) < 0, 5000, "the worker's autogroup boosted");
      const record = readFileSync(join(dir, "state", "touched-tasks"), "latin1");
      expect(record).toContain(`/proc/${pid}/autogroup`);

      d.kill("SIGKILL");
      const ms = await waitFor(
        () => autogroupNice(pid) === 0,
        1000,
        "the autogroup at nice 0 again",
      );
      expect(ms).toBeLessThan(1000);
      if (guardians[0] !== undefined)
        await waitFor(() => !isRunning(guardians[0] as number), 3000, "the guardian to exit");
    } finally {
      killPids([daemon?.pid, ...guardians, worker]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
