import { describe, expect, it } from "vitest";
import { parseCgroup2Mount, parseV2Line } from "../../src/host/cgroups.js";
import {
  defaultOpenLambdaCgroupRoot,
  mountSourceBasename,
  stripDirMakerSeq,
} from "../../src/frontend/platforms/openlambda.js";
import { functionOf, parseActionContainerName } from "../../src/frontend/platforms/openwhisk.js";

describe("OpenWhisk container names", () => {
  it("parses wsk<invoker>_<n>_<namespace>_<action>", () => {
    const c = parseActionContainerName("/wsk0_12_guest_hello");
    expect(c).toEqual({ invoker: "wsk0", seq: 12, namespace: "guest", action: "hello" });
    if (!c) throw new Error("unparsed");
    expect(functionOf(c)).toBe("guest/hello");
    expect(parseActionContainerName("wskinvoker07_3_guest_my_action")).toMatchObject({
      namespace: "guest",
      action: "my_action",
    });
  });

  it("skips prewarm stem cells and other containers", () => {
    expect(parseActionContainerName("/wsk0_2_prewarm_nodejs20")).toBeUndefined();
    expect(parseActionContainerName("/redis")).toBeUndefined();
    expect(parseActionContainerName("/wsk0_2_guest")).toBeUndefined();
    expect(parseActionContainerName("/wsk0_x_guest_hello")).toBeUndefined();
  });

  it("prefers the longest configured namespace", () => {
    expect(
      parseActionContainerName("/wsk0_1_BobsOrg_dev_filter", ["BobsOrg", "BobsOrg_dev"]),
    ).toMatchObject({
      namespace: "BobsOrg_dev",
      action: "filter",
    });
  });
});

describe("OpenLambda metadata", () => {
  const mountinfo = [
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
    "300 22 8:1 /usr /usr ro,relatime - ext4 /dev/sda1 rw",
    "301 22 8:1 /ol/worker/scratch/7-hello\\040world /host rw,relatime - ext4 /dev/sda1 rw",
    "302 22 0:50 /9-fib /handler rw - tmpfs none rw",
  ].join("\n");

  it("reads the source basename of the mount at a point (escapes decoded)", () => {
    expect(mountSourceBasename(mountinfo, "/host")).toBe("7-hello world");
    expect(mountSourceBasename(mountinfo, "/handler")).toBe("9-fib");
    expect(mountSourceBasename(mountinfo, "/nothing")).toBeUndefined();
  });

  it("strips DirMaker's sequence prefix", () => {
    expect(stripDirMakerSeq("12-resize-image")).toBe("resize-image");
    expect(stripDirMakerSeq("resize")).toBeUndefined();
  });

  it("derives the worker's cgroup root as pool.go does", () => {
    expect(defaultOpenLambdaCgroupRoot("/home/u/default-ol", "/sys/fs/cgroup")).toBe(
      "/sys/fs/cgroup/default-ol-sandboxes",
    );
  });
});

describe("cgroup v2 lookups", () => {
  it("finds the cgroup2 mount and a process's v2 line", () => {
    const mi = [
      "30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro",
      "31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw",
    ].join("\n");
    expect(parseCgroup2Mount(mi)).toBe("/sys/fs/cgroup/unified");
    expect(parseCgroup2Mount("31 30 0:27 / /x rw - cgroup cgroup rw,cpu")).toBeUndefined();
    expect(parseV2Line("9:name=systemd:/\n0::/system.slice/docker-ab.scope\n")).toBe(
      "/system.slice/docker-ab.scope",
    );
    expect(parseV2Line("4:cpu:/x\n")).toBeUndefined();
  });
});
