/**
 * The cgroup v2 facts of the host layer that need no cgroup of their own:
 * the mount found in mountinfo text (octal escapes decoded, for every
 * caller: the API's pid check once used a copy that skipped them), the v2
 * line of /proc/<pid>/cgroup, and this process's own v2 directory.
 */
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  cgroup2MountIfAny,
  cgroupDirOf,
  decodeMountinfo,
  parseCgroup2Mount,
  parseV2Line,
} from "../../src/host/cgroups.js";

describe("cgroup v2 mount and paths", () => {
  it("decodes mountinfo's octal escapes (space, tab, newline, backslash)", () => {
    expect(decodeMountinfo("/a\\040b\\011c\\012d\\134e")).toBe("/a b\tc\nd\\e");
  });

  it("finds the first cgroup2 mount, decoded, and none when only v1 is mounted", () => {
    const info = [
      "30 25 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu",
      "31 25 0:27 / /sys/fs/cgroup/uni\\040fied rw - cgroup2 cgroup2 rw",
      "32 25 0:28 / /other rw - cgroup2 cgroup2 rw",
    ].join("\n");
    expect(parseCgroup2Mount(info)).toBe("/sys/fs/cgroup/uni fied");
    expect(parseCgroup2Mount("30 25 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu")).toBe(
      undefined,
    );
  });

  it("reads the v2 line of /proc/<pid>/cgroup text", () => {
    expect(parseV2Line("4:cpu:/x\n0::/system.slice/a.scope\n")).toBe("/system.slice/a.scope");
    expect(parseV2Line("4:cpu:/x\n")).toBeUndefined();
  });

  it("this process's v2 directory exists below the mount; a gone process has none", () => {
    const mount = cgroup2MountIfAny();
    if (mount === undefined) return; // no cgroup v2 on this host: nothing to locate
    const dir = cgroupDirOf(process.pid, mount);
    expect(dir?.startsWith(mount)).toBe(true);
    expect(existsSync(dir as string)).toBe(true);
    expect(cgroupDirOf(4_194_400, mount)).toBeUndefined();
  });
});
