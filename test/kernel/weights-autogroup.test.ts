/**
 * An invocation that leads its own session, in the root cpu group of a host
 * with autogroup on, is weighed by its autogroup against other sessions: alps
 * writes its level as the autogroup's nice, records it, and the guardian
 * puts the autogroup's own nice back after a SIGKILL of the daemon.
 * Needs the built CLI (dist/, `npm run build`, which `npm test` runs first).
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { apiRequest } from "../../src/frontend/api/client.js";
import { cpuGroupFrom, readCpuHierarchy } from "../../src/host/cpu-cgroups.js";
import { hasBtf, isRoot, requireHost } from "../helpers/host.js";
import { isRunning, killPids, startWorker, waitFor } from "../helpers/processes.js";
import { CLI, daemonDir, type StartedDaemon, startDaemon } from "./daemon-kit.js";

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

describe.skipIf(!runs)("an invocation in a session of its own", () => {
  it("is weighed through its autogroup, recorded, and put back by the guardian after SIGKILL", async () => {
    const dir = daemonDir();
    const policyFile = join(dir, "policy.json");
    const boosted = { priority: 1, predicted_ms: 80, slice_ms: 5000 };
    writeFileSync(policyFile, JSON.stringify({ functions: { boosted }, default: boosted }));
    let daemon: StartedDaemon | undefined;
    let worker: number | undefined;
    try {
      daemon = await startDaemon(dir, [
        "--mode",
        "alps",
        "--policy-file",
        policyFile,
        "--boost-budget-ms",
        "0",
      ]);
      const { socket } = daemon;
      const guardian = daemon.guardian();

      const pid = startWorker(5, 5, 3000, 20_000, true).pid as number;
      worker = pid;
      expect(autogroupNice(pid)).toBe(0);
      const res = await apiRequest(socket, "POST", "/v1/invocations", { function: "boosted", pid });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      await waitFor(() => (autogroupNice(pid) ?? 0) < 0, 5000, "the worker's autogroup boosted");
      const record = readFileSync(join(dir, "state", "touched-tasks"), "latin1");
      expect(record).toContain(`/proc/${pid}/autogroup`);

      daemon.proc.kill("SIGKILL");
      const ms = await waitFor(
        () => autogroupNice(pid) === 0,
        1000,
        "the autogroup at nice 0 again",
      );
      expect(ms).toBeLessThan(1000);
      if (guardian !== undefined)
        await waitFor(() => !isRunning(guardian), 3000, "the guardian to exit");
    } finally {
      await daemon?.stop();
      killPids([worker]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
