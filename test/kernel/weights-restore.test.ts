/**
 * A sandbox's cpu cgroup that alps changed goes back to its own weight and
 * idle flag: when the invocation ends, and, after a SIGKILL of the daemon,
 * through the guardian and the touched record (issue 16). The sandboxes
 * start from weights of their own (a platform's proportional shares), so a
 * restore to the kernel's default would be caught.
 * Needs the built CLI (dist/, `npm run build`, which `npm test` runs first).
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { apiRequest } from "../../src/frontend/api/client.js";
import { readCpuHierarchy } from "../../src/host/cpu-cgroups.js";
import { CpuSandboxes } from "../../src/host/sandbox-cgroups.js";
import { hasBtf, isRoot, requireHost } from "../helpers/host.js";
import { isRunning, killAndReap, startWorker, waitFor } from "../helpers/processes.js";
import { CLI, childrenOf, daemonDir, type StartedDaemon, startDaemon } from "./daemon-kit.js";

const hierarchy = readCpuHierarchy();
const runs =
  requireHost("root with BPF (tp_btf)", isRoot() && hasBtf()) &&
  requireHost("the built CLI (npm run build)", existsSync(CLI)) &&
  requireHost(
    "a cpu controller (v1 cpu hierarchy or cpu on cgroup v2)",
    hierarchy.v1 !== undefined || hierarchy.v2 !== undefined,
  );
const WEIGHT = hierarchy.v1 !== undefined ? "cpu.shares" : "cpu.weight";
/** Weights of the platform's own (not the kernel's defaults of 1024 / 100). */
const OWN = hierarchy.v1 !== undefined ? ["512", "2048"] : ["50", "200"];

const read = (dir: string, file: string): string => readFileSync(join(dir, file), "utf8").trim();

describe.skipIf(!runs)("sandbox cgroups alps changed are put back", () => {
  it("by the guardian after SIGKILL of the daemon: each group's own weight and idle flag", async () => {
    const dir = daemonDir();
    const policyFile = join(dir, "policy.json");
    // boosted: predicted 80 ms, a long slice (a boost that holds); yields:
    // predicted 2000 ms, a deep yield (cpu.idle on its group).
    const boosted = { priority: 1, predicted_ms: 80, slice_ms: 5000 };
    const yields = { priority: 2, predicted_ms: 2000, slice_ms: 5000 };
    writeFileSync(policyFile, JSON.stringify({ functions: { boosted, yields }, default: boosted }));
    const sandboxes = new CpuSandboxes(`alps-test-restore-${process.pid}`);
    let daemon: StartedDaemon | undefined;
    const workers: ChildProcess[] = [];
    try {
      const boxes = [sandboxes.create("boosted"), sandboxes.create("yields")];
      boxes.forEach((box, i) => writeFileSync(join(box.cpuDir, WEIGHT), `${OWN[i]}\n`));
      daemon = await startDaemon(dir, [
        "--mode",
        "alps",
        "--policy-file",
        policyFile,
        "--boost-budget-ms",
        "0",
      ]);
      const { socket } = daemon;
      expect(childrenOf(daemon.pid), daemon.log()).toHaveLength(1);
      const guardian = daemon.guardian();

      // Workers that burn 5 ms and sleep 5 ms for up to 3 s of CPU.
      for (const box of boxes) {
        const worker = startWorker(5, 5, 3000, 20_000);
        box.add(worker.pid as number);
        workers.push(worker);
      }
      const fns = ["boosted", "yields"];
      for (const [i, worker] of workers.entries()) {
        const res = await apiRequest(socket, "POST", "/v1/invocations", {
          function: fns[i],
          pid: worker.pid,
        });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      }
      const [boostBox, yieldBox] = boxes as [(typeof boxes)[0], (typeof boxes)[0]];
      await waitFor(
        () =>
          Number(read(boostBox.cpuDir, WEIGHT)) > Number(OWN[0]) &&
          read(yieldBox.cpuDir, "cpu.idle") === "1",
        5000,
        "the boosted group above its own weight and the yielding group idle",
      );
      // Recorded, as the record's format says (a cgroup line per group).
      const record = readFileSync(join(dir, "state", "touched-tasks"), "latin1");
      for (const box of boxes) expect(record).toContain(box.cpuDir);

      daemon.proc.kill("SIGKILL");
      const ms = await waitFor(
        () =>
          boxes.every(
            (box, i) => read(box.cpuDir, WEIGHT) === OWN[i] && read(box.cpuDir, "cpu.idle") === "0",
          ),
        1000,
        "both groups back at their own weight, not idle",
      );
      expect(ms).toBeLessThan(1000);
      await waitFor(() => !isRunning(guardian as number), 3000, "the guardian to exit");
    } finally {
      await daemon?.stop();
      // Reaped, not just signalled: a task still exiting keeps its group busy (EBUSY), which
      // a fixed 50 ms wait did not always cover on a loaded host.
      await killAndReap(workers);
      expect(sandboxes.remove()).toEqual([]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
