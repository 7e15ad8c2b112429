/**
 * SFS when the kernel refuses SCHED_FIFO (a v1 cpu child cgroup under RT
 * group scheduling has cpu.rt_runtime_us 0): the invocation runs on CFS,
 * the refusal is counted and logged with a pointer to `alps doctor`, and
 * nothing is left marked as touched.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseV1CpuMount } from "../../src/backend/detect.js";
import { createMemoryTouched } from "../../src/backend/guardian/touched-memory.js";
import { createSfsBackend } from "../../src/backend/sfs/sfs-backend.js";
import { createFfiSyscalls } from "../../src/host/syscalls-ffi.js";
import { cleanup, policyOf } from "../backend/fixtures/children.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { rmdirWhenEmpty } from "../helpers/cgroup-dir.js";

const mount = parseV1CpuMount(readFileSync("/proc/self/mountinfo", "utf8"));
const hasRtGroups = mount !== undefined && existsSync(join(mount, "cpu.rt_runtime_us"));
const canRun = requireHost(
  "root and a v1 cpu controller with RT group scheduling",
  isRoot() && hasRtGroups,
);

describe.skipIf(!canRun)("sfs when SCHED_FIFO is refused", () => {
  it("runs the invocation on CFS and says why", async () => {
    const dir = join(mount as string, `alps-sfs-refused-${process.pid}`);
    const syscalls = createFfiSyscalls();
    const touched = createMemoryTouched();
    const logged: string[] = [];
    const sfs = createSfsBackend({ syscalls, touched, cores: 1, log: (m) => logged.push(m) });
    mkdirSync(dir);
    const child = spawn("sleep", ["5"], { stdio: "ignore" });
    const pid = child.pid as number;
    try {
      writeFileSync(join(dir, "cgroup.procs"), String(pid));
      sfs.startInvocation("f", pid);
      expect(sfs.phaseOf(pid)).toEqual({ kind: "cfs", why: "refused" });
      expect(policyOf(pid)).toBe(0);
      expect(sfs.status().counters.nr_refused).toBe(1);
      expect(logged.join("\n")).toMatch(/SCHED_FIFO refused for pid \d+ .*EPERM.*alps doctor/);
      expect(touched.list()).toEqual([]);
    } finally {
      await sfs.close();
      cleanup(syscalls, [pid]);
      await rmdirWhenEmpty(dir);
    }
    expect(existsSync(dir)).toBe(false);
  });
});
