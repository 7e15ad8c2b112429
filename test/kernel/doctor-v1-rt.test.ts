/**
 * The v1 `cpu` controller under RT group scheduling gives a new child cgroup
 * cpu.rt_runtime_us = 0, and SCHED_FIFO is refused for its tasks. doctor
 * must see that and say how to fix it (issue 4, Sandboxes).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { detectV1CpuRt, parseV1CpuMount } from "../../src/backend/detect.js";
import { createFfiSyscalls } from "../../src/host/syscalls-ffi.js";
import { baseAttr, SCHED_FIFO } from "../../src/host/syscalls-types.js";
import { cleanup } from "../backend/fixtures/children.js";
import { isRoot, requireHost } from "../helpers/host.js";

const mount = parseV1CpuMount(readFileSync("/proc/self/mountinfo", "utf8"));
const hasRtGroups = mount !== undefined && existsSync(join(mount, "cpu.rt_runtime_us"));
const canRun = requireHost(
  "root and a v1 cpu controller with RT group scheduling",
  isRoot() && hasRtGroups,
);

describe.skipIf(!canRun)("doctor: v1 cpu cgroup with rt_runtime_us 0", () => {
  it("finds the cgroup, explains the fix, and the kernel indeed refuses SCHED_FIFO there", () => {
    const dir = join(mount as string, `alps-doctor-test-${process.pid}`);
    const syscalls = createFfiSyscalls();
    mkdirSync(dir);
    const child = spawn("sleep", ["5"], { stdio: "ignore" });
    const pid = child.pid as number;
    try {
      expect(readFileSync(join(dir, "cpu.rt_runtime_us"), "utf8").trim()).toBe("0");
      const report = detectV1CpuRt();
      expect(report.rt_group_sched).toBe(true);
      expect(report.zero_runtime_cgroups).toContain(dir);
      expect(report.fix).toMatch(/cpu\.rt_runtime_us/);

      writeFileSync(join(dir, "cgroup.procs"), String(pid));
      expect(() =>
        syscalls.setAttr(pid, { ...baseAttr(), policy: SCHED_FIFO, priority: 1 }),
      ).toThrow(expect.objectContaining({ code: "EPERM" }));
    } finally {
      cleanup(syscalls, [pid]);
      // The cgroup can go once its task is gone (a loaded host may take a
      // while to let the killed task exit; the deadline only catches a hang).
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          rmdirSync(dir);
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        }
      }
    }
    expect(existsSync(dir)).toBe(false);
  });
});
