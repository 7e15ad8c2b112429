/**
 * The proc sensor on real tasks: it follows an invocation's threads and
 * children, finds the tasks of a declared sandbox cgroup (v2), reports a
 * burst when a task blocks, and gives pidusage figures for metrics.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cgroup2Mount } from "../../src/host/cgroups.js";
import { ProcSensor, type SensedTask } from "../../src/backend/proc/proc-sensor.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { rmdirWhenEmpty } from "../helpers/cgroup-dir.js";

const canRun = requireHost("root (cgroup v2 writes)", isRoot());

function killAll(pids: readonly (number | undefined)[]): void {
  for (const pid of pids) {
    if (pid === undefined) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

describe.skipIf(!canRun)("ProcSensor", () => {
  it("follows an invocation's children and reports a burst when it blocks", async () => {
    // A shell that burns ~30 ms of CPU, starts a child, then sleeps.
    const shell = spawn(
      "/bin/sh",
      ["-c", "ulimit -t 2; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 3 & wait"],
      {
        stdio: "ignore",
      },
    );
    const pid = shell.pid as number;
    const sensor = new ProcSensor({ periodMs: () => 2, discoverEveryMs: 5 });
    const ended: { task: SensedTask; cpuNs: number }[] = [];
    const added: SensedTask[] = [];
    sensor.on({
      taskAdded: (t) => added.push(t),
      burstEnded: (task, cpuNs) => ended.push({ task, cpuNs }),
    });
    try {
      sensor.trackInvocation("sh", pid);
      sensor.start();
      const deadline = Date.now() + 5000;
      while (
        Date.now() < deadline &&
        !(added.length >= 2 && ended.some((e) => e.task.tid === pid))
      ) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const child = added.find((t) => t.tid !== pid);
      expect(child).toMatchObject({ fn: "sh", invocation: pid });
      const burst = ended.find((e) => e.task.tid === pid);
      expect(burst?.cpuNs).toBeGreaterThan(1_000_000);
      const usage = await sensor.processUsage();
      expect(usage.map((u) => u.pid)).toContain(pid);
      expect(usage.every((u) => u.memory > 0)).toBe(true);
    } finally {
      sensor.stop();
      killAll([pid, ...added.map((t) => t.pid)]);
    }
  });

  it("finds the tasks of a sandbox cgroup", async () => {
    const dir = join(cgroup2Mount(), `alps-proc-sensor-${process.pid}`);
    mkdirSync(dir);
    const child = spawn("sleep", ["5"], { stdio: "ignore" });
    const pid = child.pid as number;
    const sensor = new ProcSensor({ discoverEveryMs: 0 });
    try {
      writeFileSync(join(dir, "cgroup.procs"), String(pid));
      sensor.addCgroup("sleeper", dir);
      sensor.pollOnce();
      expect(sensor.task(pid)).toMatchObject({ fn: "sleeper", pid, invocation: undefined });
    } finally {
      sensor.stop();
      killAll([pid]);
      await rmdirWhenEmpty(dir);
    }
    expect(existsSync(dir)).toBe(false);
  });
});
