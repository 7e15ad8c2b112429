/**
 * The rules of weight-targets.ts that need no kernel: where the cpu
 * controller is, which group a task is in, the weight a level gives a group,
 * and how a group follows its most urgent member and goes back to its own
 * weight. The kernel test weights-sandbox-cgroups shows the writes matter.
 */
import { describe, expect, it } from "vitest";
import {
  groupWeight,
  type WeightFiles,
  type WeightTarget,
  WeightTargets,
} from "../../../src/backend/actuator/weight-targets.js";
import { createMemoryTouched } from "../../../src/backend/guardian/touched-memory.js";
import { cpuGroupFrom, parseCpuMounts } from "../../../src/host/cpu-cgroups.js";

const HYBRID = [
  "25 30 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755",
  "26 25 0:23 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
  "28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct",
  "29 25 0:26 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset",
].join("\n");
const PURE_V2 = "26 25 0:23 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate";

describe("where the cpu controller is", () => {
  it("finds the v1 hierarchy that has cpu (not cpuset) and the cgroup2 mount", () => {
    expect(parseCpuMounts(HYBRID)).toEqual({
      v1: "/sys/fs/cgroup/cpu,cpuacct",
      v2: "/sys/fs/cgroup/unified",
    });
    expect(parseCpuMounts(PURE_V2)).toEqual({ v2: "/sys/fs/cgroup" });
  });
  it("unescapes octal in mount points", () => {
    expect(parseCpuMounts("1 0 0:1 / /mnt/cg\\040x rw - cgroup2 none rw").v2).toBe("/mnt/cg x");
  });
});

describe("the cpu group of a task", () => {
  const v1 = { v1: "/sys/fs/cgroup/cpu", autogroup: false };
  const v2 = { v2: "/sys/fs/cgroup", autogroup: false };
  it("v1: the cpu hierarchy's path; the root is no group of its own", () => {
    expect(cpuGroupFrom("2:cpu,cpuacct:/docker/abc\n0::/system.slice/x", v1)).toEqual({
      dir: "/sys/fs/cgroup/cpu/docker/abc",
      hierarchy: "v1",
    });
    expect(cpuGroupFrom("2:cpu,cpuacct:/\n0::/", v1)).toEqual({ dir: null, hierarchy: "v1" });
  });
  it("v2: the nearest directory that has the cpu controller, never the root", () => {
    const controllers: Record<string, string> = {
      "/sys/fs/cgroup/a/b/c": "memory pids",
      "/sys/fs/cgroup/a/b": "cpu memory pids",
      "/sys/fs/cgroup/a": "cpu memory",
    };
    const of = (dir: string) => controllers[dir] ?? "";
    expect(cpuGroupFrom("0::/a/b/c", v2, of)).toEqual({
      dir: "/sys/fs/cgroup/a/b",
      hierarchy: "v2",
    });
    expect(cpuGroupFrom("0::/x/y", v2, of)).toEqual({ dir: null, hierarchy: "v2" });
  });
  it("no cpu controller: undefined", () => {
    expect(cpuGroupFrom("0::/a", { autogroup: false })).toBeUndefined();
  });
});

describe("the weight a level gives a group", () => {
  it("scales the group's own weight by the nice table (nice 0 keeps it)", () => {
    expect(groupWeight(0, 1024, "v1")).toBe(1024);
    expect(groupWeight(-20, 1024, "v1")).toBe(88761);
    expect(groupWeight(19, 1024, "v1")).toBe(15);
    // A platform's proportional shares keep their proportions.
    expect(groupWeight(-5, 512, "v1")).toBe(Math.round((512 * 3121) / 1024));
    expect(groupWeight(0, 100, "v2")).toBe(100);
    expect(groupWeight(-20, 100, "v2")).toBe(8668);
    expect(groupWeight(19, 100, "v2")).toBe(1);
  });
  it("stays inside each file's bounds", () => {
    expect(groupWeight(-20, 262144, "v1")).toBe(262144);
    expect(groupWeight(19, 2, "v1")).toBe(2);
    expect(groupWeight(-20, 10000, "v2")).toBe(10000);
  });
});

/** Files in memory, every write recorded in order. */
function fakeFiles(
  initial: Record<string, string>,
): WeightFiles & { writes: string[]; data: Record<string, string> } {
  const data = { ...initial };
  const writes: string[] = [];
  return {
    data,
    writes,
    read: (path) => {
      const v = data[path];
      if (v === undefined) throw Object.assign(new Error(`ENOENT ${path}`), { code: "ENOENT" });
      return v;
    },
    write: (path, value) => {
      if (data[path] === undefined)
        throw Object.assign(new Error(`ENOENT ${path}`), { code: "ENOENT" });
      writes.push(`${path}=${value.trim()}`);
      data[path] = value;
    },
  };
}

describe("a group follows its most urgent member", () => {
  const G = "/cg/sandbox";
  const group: WeightTarget = { kind: "cgroup", dir: G, hierarchy: "v1" };
  const make = () => {
    const files = fakeFiles({ [`${G}/cpu.shares`]: "512\n", [`${G}/cpu.idle`]: "0\n" });
    const touched = createMemoryTouched();
    const targets = new WeightTargets({
      hierarchy: { v1: "/cg", autogroup: false },
      idleFrom: 15,
      files,
      touched,
      resolve: (tid) => (tid < 100 ? group : { kind: "task", why: "shared-cgroup" }),
    });
    return { files, touched, targets };
  };

  it("takes the most urgent level of its members and is recorded before the first write", () => {
    const { files, touched, targets } = make();
    targets.onLevel(1, 1, 5);
    expect(touched.cgroups?.()).toEqual([G]);
    targets.onLevel(2, 1, -10);
    targets.onRunning(2, true);
    targets.onLevel(1, 1, 3);
    expect(files.writes).toEqual([
      `${G}/cpu.shares=${groupWeight(5, 512, "v1")}`,
      `${G}/cpu.shares=${groupWeight(-10, 512, "v1")}`,
    ]);
  });

  it("a sleeping member's next-burst boost does not hold the group while another runs", () => {
    const { files, targets } = make();
    const shares = (level: number) => `${G}/cpu.shares=${groupWeight(level, 512, "v1")}`;
    targets.onLevel(1, 1, -5); // the invocation's own task, let go at its level
    targets.onLevel(2, 1, -10); // a helper thread: the boost posted as it blocked
    targets.onLevel(1, 1, 8); // the own task runs down its slice
    expect(files.writes).toEqual([shares(-5), shares(8)]);
    expect(targets.onRunning(2, true)).toBe(true); // the helper runs a burst
    expect(targets.onRunning(2, false)).toBe(true); // and sleeps again
    expect(files.writes).toEqual([shares(-5), shares(8), shares(-10), shares(8)]);
  });

  it("with every member asleep the group takes the most urgent next burst, ready for the wake-up", () => {
    const { files, targets } = make();
    const shares = (level: number) => `${G}/cpu.shares=${groupWeight(level, 512, "v1")}`;
    targets.onLevel(1, 1, 8);
    targets.onLevel(2, 1, -10);
    targets.onRunning(1, false);
    expect(files.writes).toEqual([shares(8), shares(-10)]);
  });

  it("a task it does not know yet is reported unknown, so its state waits for its level", () => {
    const { targets } = make();
    expect(targets.onRunning(7, true)).toBe(false);
    targets.onLevel(500, 500, -20); // a shared group: known, never written
    expect(targets.onRunning(500, false)).toBe(true);
  });

  it("puts the deepest yields on cpu.idle, and leaves idle before it writes a weight", () => {
    const { files, targets } = make();
    targets.onLevel(1, 1, 17);
    targets.onLevel(1, 1, 2);
    expect(files.writes).toEqual([
      `${G}/cpu.idle=1`,
      `${G}/cpu.idle=0`,
      `${G}/cpu.shares=${groupWeight(2, 512, "v1")}`,
    ]);
  });

  it("goes back to its own weight and idle flag when the last member leaves", () => {
    const { files, touched, targets } = make();
    targets.onLevel(1, 1, -3);
    targets.onLevel(2, 1, 16);
    targets.onRelease(1);
    expect(files.data[`${G}/cpu.idle`]).toBe("1\n");
    targets.onRelease(2);
    expect(files.data[`${G}/cpu.idle`]).toBe("0\n");
    expect(files.data[`${G}/cpu.shares`]).toBe("512\n");
    expect(touched.cgroups?.()).toEqual([]);
    expect(targets.groups()).toEqual([]);
    expect(targets.counters.group_restores).toBe(1);
  });

  it("a task whose group is shared is counted and never written", () => {
    const { files, targets } = make();
    targets.onLevel(500, 500, -20);
    expect(files.writes).toEqual([]);
    expect(targets.counters.targets_task).toBe(1);
  });

  it("restoreAll puts every group back", () => {
    const { files, targets } = make();
    targets.onLevel(1, 1, -20);
    targets.restoreAll();
    expect(files.data[`${G}/cpu.shares`]).toBe("512\n");
    expect(targets.groups()).toEqual([]);
  });

  it("without an idle flag (kernel before 5.15) the weight carries every level", () => {
    const files = fakeFiles({ [`${G}/cpu.shares`]: "1024\n" });
    const targets = new WeightTargets({
      hierarchy: { v1: "/cg", autogroup: false },
      idleFrom: 15,
      files,
      resolve: () => group,
    });
    targets.onLevel(1, 1, 18);
    expect(files.writes).toEqual([`${G}/cpu.shares=${groupWeight(18, 1024, "v1")}`]);
  });
});
