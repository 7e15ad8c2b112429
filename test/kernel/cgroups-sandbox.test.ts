/**
 * cgroup v2 sandboxes on the real hierarchy: the mount comes from
 * mountinfo, ids are inode numbers, tasks move in and are moved out
 * before the directory is removed.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  cgroup2Mount,
  cgroupId,
  cgroupPids,
  createCgroup,
  moveToCgroup,
  parseCgroup2Mount,
  removeCgroup,
} from "../../src/host/cgroups.js";
import { isRoot, requireHost } from "../helpers/host.js";

const hasV2 = parseCgroup2Mount(readFileSync("/proc/self/mountinfo", "utf8")) !== undefined;

describe("cgroup mountinfo parsing", () => {
  it("finds cgroup2 beside v1 controllers and unescapes the path", () => {
    const info = [
      "30 25 0:26 / /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu",
      "41 31 0:38 / /sys/fs/cgroup/uni\\040fied rw,relatime - cgroup2 cgroup2 rw",
    ].join("\n");
    expect(parseCgroup2Mount(info)).toBe("/sys/fs/cgroup/uni fied");
    expect(
      parseCgroup2Mount("30 25 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu"),
    ).toBeUndefined();
  });
});

describe.skipIf(!requireHost("root and cgroup v2", isRoot() && hasV2))(
  "cgroup v2 sandboxes",
  () => {
    it("creates, identifies, moves into and removes a sandbox (leftover tasks moved out first)", async () => {
      const mount = cgroup2Mount();
      expect(existsSync(`${mount}/cgroup.procs`)).toBe(true);
      expect(() => createCgroup("../escape")).toThrow(RangeError);
      const abs = createCgroup(`alps-test-cg-${process.pid}/fn`);
      const child = spawn("sleep", ["5"], { stdio: "ignore" });
      try {
        expect(abs.startsWith(mount)).toBe(true);
        expect(cgroupId(abs)).toBeGreaterThan(1n);
        const pid = child.pid as number;
        moveToCgroup(abs, pid);
        expect(cgroupPids(abs)).toEqual([pid]);
        // The task's own view names the directory.
        expect(readFileSync(`/proc/${pid}/cgroup`, "utf8")).toContain(
          `0::/alps-test-cg-${process.pid}/fn`,
        );
        removeCgroup(abs);
        expect(existsSync(abs)).toBe(false);
        // Still running, now in the root cgroup.
        expect(readFileSync(`/proc/${pid}/cgroup`, "utf8")).toMatch(/^0::\/$/m);
      } finally {
        child.kill("SIGKILL");
        removeCgroup(abs);
        removeCgroup(`${mount}/alps-test-cg-${process.pid}`);
      }
    });
  },
);
