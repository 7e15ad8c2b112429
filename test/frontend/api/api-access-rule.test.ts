/**
 * The pid rule's sandbox half as docs/safety.md states it, on this test
 * process's own cgroup standing in for a declared sandbox: only the
 * platform or the declarer may register a sandbox's task (anyone else is
 * refused even for its own child), a declarer that is not the platform only
 * under the sandbox's function, and the platform under any function.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkPid, type SandboxView } from "../../../src/frontend/api/access.js";
import { cgroupDirOf } from "../../../src/host/cgroups.js";

let child: ChildProcess;
beforeAll(() => {
  child = spawn("sleep", ["30"], { stdio: "ignore" });
});
afterAll(() => {
  child.kill("SIGKILL");
});

function view(dir: string, fn: string, declarer: number): SandboxView {
  return {
    sandboxes: () => new Map([[dir, fn]]),
    sandboxDeclarer: (d) => (d === dir ? declarer : undefined),
  };
}

describe("the sandbox rule", () => {
  it("refuses a sandbox's task to anyone but the platform and its declarer", () => {
    const dir = cgroupDirOf(process.pid);
    expect(dir).toBeDefined();
    const pid = child.pid as number;
    const me = { pid: process.pid, uid: 1234 };
    const byRoot = view(dir as string, "g", 0);
    // Its own child, but in root's sandbox: refused.
    const stranger = checkPid({ pid, fn: "g", peer: me, platform: false }, byRoot);
    expect(stranger).toMatchObject({ ok: false, sandbox: true });
    expect(stranger.ok ? "" : stranger.why).toMatch(/declared by uid 0/);
    // The platform: any function (a stem cell's first invocation sets the key).
    const platform = { pid: process.pid, uid: 0 };
    for (const fn of ["g", "h"])
      expect(checkPid({ pid, fn, peer: platform, platform: true }, byRoot)).toEqual({
        ok: true,
        why: "sandbox",
      });
    // A declarer that is not the platform: under the sandbox's function only.
    const byMember = view(dir as string, "g", 1234);
    expect(checkPid({ pid, fn: "g", peer: me, platform: false }, byMember).ok).toBe(true);
    const other = checkPid({ pid, fn: "h", peer: me, platform: false }, byMember);
    expect(other.ok ? "" : other.why).toMatch(/register it under that function/);
  });
});
