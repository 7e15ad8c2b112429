/**
 * Which /proc/<pid>/cgroup texts name a Docker container (the adapter
 * accepts the directory that does) and which do not (it refuses). The texts
 * are shaped like the kernel's: hierarchy-ID:controllers:path per line, the
 * v2 one "0::path". The real layouts are built in test/kernel/.
 */
import { describe, expect, it } from "vitest";
import {
  parseProcCgroups,
  resolveContainerCgroup,
} from "../../../src/frontend/platforms/container-cgroup.js";

const ID = "3f2c".padEnd(64, "a");
const OTHER = "9a41".padEnd(64, "b");

describe("container cgroup resolution", () => {
  it("accepts the systemd driver's scope, in any slice", () => {
    expect(
      resolveContainerCgroup(ID, `0::/system.slice/docker-${ID}.scope\n`, "/sys/fs/cgroup"),
    ).toEqual({
      ok: true,
      cgroupPath: `/sys/fs/cgroup/system.slice/docker-${ID}.scope`,
    });
    expect(
      resolveContainerCgroup(ID, `0::/faas.slice/docker-${ID}.scope\n`, "/sys/fs/cgroup/unified"),
    ).toEqual({ ok: true, cgroupPath: `/sys/fs/cgroup/unified/faas.slice/docker-${ID}.scope` });
  });

  it("accepts the cgroupfs driver's directory, under /docker or a CgroupParent", () => {
    const v2 = resolveContainerCgroup(ID, `0::/docker/${ID}\n`, "/sys/fs/cgroup");
    expect(v2).toEqual({ ok: true, cgroupPath: `/sys/fs/cgroup/docker/${ID}` });
    const hybridJoined = [
      `12:cpu,cpuacct:/docker/${ID}`,
      `1:name=systemd:/docker/${ID}`,
      `0::/docker/${ID}`,
    ].join("\n");
    expect(resolveContainerCgroup(ID, hybridJoined, "/sys/fs/cgroup/unified")).toEqual({
      ok: true,
      cgroupPath: `/sys/fs/cgroup/unified/docker/${ID}`,
    });
    expect(resolveContainerCgroup(ID, `0::/openwhisk/${ID}\n`, "/sys/fs/cgroup")).toMatchObject({
      ok: true,
      cgroupPath: `/sys/fs/cgroup/openwhisk/${ID}`,
    });
  });

  it("takes the directory naming the container when the init sits below it", () => {
    expect(
      resolveContainerCgroup(
        ID,
        `0::/system.slice/docker-${ID}.scope/init.scope\n`,
        "/sys/fs/cgroup",
      ),
    ).toEqual({ ok: true, cgroupPath: `/sys/fs/cgroup/system.slice/docker-${ID}.scope` });
  });

  it("refuses the shim's shared v2 cgroup on a hybrid host, naming the v1 paths that do name it", () => {
    const text = [
      `12:cpu,cpuacct:/docker/${ID}`,
      `4:memory:/docker/${ID}`,
      `1:name=systemd:/docker/${ID}`,
      "0::/system.slice/containerd.service",
    ].join("\n");
    const r = resolveContainerCgroup(ID, text, "/sys/fs/cgroup/unified");
    expect(r).toMatchObject({
      ok: false,
      problem: "unnamed-cgroup",
      cgroupPath: "/sys/fs/cgroup/unified/system.slice/containerd.service",
      namedInV1: [
        `cpu,cpuacct:/docker/${ID}`,
        `memory:/docker/${ID}`,
        `name=systemd:/docker/${ID}`,
      ],
    });
    if (r.ok) throw new Error("accepted");
    expect(r.detail).toMatch(/does not name it/);
  });

  it("refuses another container's cgroup and a process with no v2 line", () => {
    expect(
      resolveContainerCgroup(ID, `0::/system.slice/docker-${OTHER}.scope\n`, "/sys/fs/cgroup"),
    ).toMatchObject({ ok: false, problem: "unnamed-cgroup", namedInV1: [] });
    // A prefix of the id is not the id.
    expect(
      resolveContainerCgroup(ID, `0::/docker/${ID.slice(0, 12)}\n`, "/sys/fs/cgroup"),
    ).toMatchObject({ ok: false, problem: "unnamed-cgroup" });
    expect(resolveContainerCgroup(ID, `4:cpu:/docker/${ID}\n`, "/sys/fs/cgroup")).toMatchObject({
      ok: false,
      problem: "no-v2-cgroup",
      namedInV1: [`cpu:/docker/${ID}`],
    });
  });

  it("parses the v2 line and the v1 lines", () => {
    expect(parseProcCgroups("5:cpu,cpuacct:/x\n0::/y\n")).toEqual({
      v2: "/y",
      v1: [{ controllers: "cpu,cpuacct", path: "/x" }],
    });
  });
});
