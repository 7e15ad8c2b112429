import { describe, expect, it } from "vitest";
import { parseCgroup2Mount, parseV2Line } from "../../../src/host/cgroups.js";
import {
  defaultOpenLambdaCgroupRoot,
  mountSourceBasename,
  stripDirMakerSeq,
} from "../../../src/frontend/platforms/openlambda.js";
import { parseInvokerContainerName } from "../../../src/frontend/platforms/openwhisk-names.js";

describe("OpenWhisk container names", () => {
  it("takes everything after <prefix>_<seq>_ as the key, never split", () => {
    expect(parseInvokerContainerName("/wsk0_12_guest_hello")).toEqual({
      prefix: "wsk0",
      seq: 12,
      key: "guest_hello",
    });
    // A namespace holding '_' and an action holding '_' are just part of the key.
    expect(parseInvokerContainerName("wsk0_7_BobsOrg_dev_my_action")?.key).toBe(
      "BobsOrg_dev_my_action",
    );
  });

  it("accepts invoker prefixes holding '_', '.' and '-' (unique names), ending in the instance number", () => {
    expect(parseInvokerContainerName("/wskinvoker_a0_3_guest_hello")).toEqual({
      prefix: "wskinvoker_a0",
      seq: 3,
      key: "guest_hello",
    });
    expect(parseInvokerContainerName("wskhost-1.dc2_4_guest_hello")).toMatchObject({
      prefix: "wskhost-1.dc2",
      seq: 4,
      key: "guest_hello",
    });
  });

  it("recognises stem cells, with their kind, under a temporary key", () => {
    expect(parseInvokerContainerName("/wsk0_2_prewarm_nodejs20")).toEqual({
      prefix: "wsk0",
      seq: 2,
      key: "prewarm_nodejs20",
      prewarmKind: "nodejs20",
    });
  });

  it("skips other containers", () => {
    expect(parseInvokerContainerName("/redis")).toBeUndefined();
    expect(parseInvokerContainerName("/wsk0_2_guest")).toBeUndefined(); // no namespace/action pair
    expect(parseInvokerContainerName("/wsk0_x_guest_hello")).toBeUndefined();
    expect(parseInvokerContainerName("/wsk_1_guest_hello")).toBeUndefined(); // prefix without instance number
    expect(parseInvokerContainerName("/wsk0_1_guest-x_hello")).toBeUndefined(); // '-' never survives cleaning
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
