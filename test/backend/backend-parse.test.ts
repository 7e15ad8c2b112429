/** Pure parsers of the proc sensor and doctor: /proc stat lines, mountinfo, /proc/self/cgroup. */
import { describe, expect, it } from "vitest";
import { parseV1CgroupPath, parseV1CpuMount } from "../../src/backend/detect.js";
import { parseStat } from "../../src/host/proc-stat.js";

describe("parseStat", () => {
  it("counts fields after the last ')' so odd command names do not shift them", () => {
    // Fields 3..41 of a SCHED_FIFO task at rt priority 5, nice 0, named "a) b (c";
    // every other field holds its own number (ppid 4, utime 14, stime 15, start 22).
    const after = [
      "R",
      ...Array.from({ length: 14 }, (_, i) => String(i + 4)),
      "-6",
      "0",
      ...Array.from({ length: 20 }, (_, i) => String(i + 20)),
      "5",
      "1",
      "0",
    ];
    const stat = parseStat(`123 (a) b (c) ${after.join(" ")}`);
    expect(stat).toEqual({
      state: "R",
      ppid: 4,
      session: 6,
      cpuTicks: 14 + 15,
      nice: 0,
      startTime: 22,
      rtPriority: 5,
      policy: 1,
    });
  });

  it("rejects a line that is not a stat line", () => {
    expect(() => parseStat("garbage")).toThrow(/not a \/proc stat line/);
  });
});

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
