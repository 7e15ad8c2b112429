/**
 * The ffi-rs syscalls against the real kernel: sched_setattr/getattr round
 * trip (seen by /proc too), nice including the legitimate -1 of
 * getpriority, affinity, and errno names on failure.
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { readTaskStat } from "../../src/host/proc-stat.js";
import { createFfiSyscalls } from "../../src/host/syscalls-ffi.js";
import {
  baseAttr,
  SCHED_FIFO,
  SCHED_FLAG_RESET_ON_FORK,
  SCHED_OTHER,
} from "../../src/host/syscalls-types.js";
import { cleanup } from "../backend/fixtures/children.js";
import { isRoot, requireHost } from "../helpers/host.js";

const canRun = requireHost("root (sched_setattr)", isRoot());

describe.skipIf(!canRun)("ffi syscalls", () => {
  it("sets and reads back policy, nice and affinity of another task", () => {
    const syscalls = createFfiSyscalls();
    const child = spawn("sleep", ["10"], { stdio: "ignore" });
    const pid = child.pid as number;
    try {
      syscalls.setAttr(pid, {
        ...baseAttr(),
        policy: SCHED_FIFO,
        priority: 3,
        flags: SCHED_FLAG_RESET_ON_FORK,
      });
      const attr = syscalls.getAttr(pid);
      expect(attr.policy).toBe(SCHED_FIFO);
      expect(attr.priority).toBe(3);
      expect(attr.flags & SCHED_FLAG_RESET_ON_FORK).toBe(SCHED_FLAG_RESET_ON_FORK);
      expect(readTaskStat(pid)).toMatchObject({ policy: SCHED_FIFO, rtPriority: 3 });

      syscalls.setAttr(pid, baseAttr());
      syscalls.setNice(pid, -1);
      // getpriority returns -1 here with errno untouched: not an error.
      expect(syscalls.getNice(pid)).toBe(-1);
      syscalls.setNice(pid, 7);
      expect(syscalls.getNice(pid)).toBe(7);
      expect(readTaskStat(pid)).toMatchObject({ policy: SCHED_OTHER, nice: 7 });

      syscalls.setAffinity(pid, [0]);
      expect(syscalls.getAffinity(pid)).toEqual([0]);
    } finally {
      cleanup(syscalls, [pid]);
    }
  });

  it("throws with the errno name", () => {
    const syscalls = createFfiSyscalls();
    const gone = 0x3fffffff;
    expect(() => syscalls.getAttr(gone)).toThrow(expect.objectContaining({ code: "ESRCH" }));
    expect(() => syscalls.getNice(gone)).toThrow(expect.objectContaining({ code: "ESRCH" }));
    expect(() => syscalls.setAttr(process.pid, { ...baseAttr(), policy: 77 })).toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
  });
});
