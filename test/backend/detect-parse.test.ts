/** Pure parsers of doctor: mountinfo and /proc/self/cgroup of the v1 cpu controller. */
import { describe, expect, it } from "vitest";
import { parseV1CgroupPath, parseV1CpuMount } from "../../src/backend/detect.js";

describe("doctor parsers", () => {
  const mountinfo = [
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
    "42 31 0:39 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset",
    "43 31 0:40 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
  ].join("\n");

  it("finds the v1 cpu controller, not cpuset", () => {
    expect(parseV1CpuMount(mountinfo)).toBe("/sys/fs/cgroup/cpu");
    expect(parseV1CpuMount(mountinfo.split("\n").slice(0, 2).join("\n"))).toBeUndefined();
  });

  it("reads this process's v1 cgroup by controller, including co-mounted ones", () => {
    const cgroup = "4:memory:/x\n2:cpu,cpuacct:/sandbox/a\n0::/";
    expect(parseV1CgroupPath(cgroup, "cpu")).toBe("/sandbox/a");
    expect(parseV1CgroupPath(cgroup, "blkio")).toBeUndefined();
  });
});
