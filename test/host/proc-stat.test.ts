/**
 * The host layer's /proc readers: the one /proc/<pid>/stat parser, the
 * schedstat parser, and the readers built on them, run against this process
 * (no root needed).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { errorCode, errorMessage, isGone } from "../../src/host/errno.js";
import {
  hasExited,
  otherThreadsOf,
  parseSchedstat,
  parseStat,
  readTaskCpuNs,
  readTaskStat,
  threadsOf,
} from "../../src/host/proc-stat.js";
import {
  isSelfOrDescendant,
  readParentPid,
  readSchedstat,
  taskStartTime,
} from "../../src/host/proc-task.js";

/** Above pid_max (4194304): no such task. */
const GONE = 4_194_400;

describe("parseStat", () => {
  it("counts fields after the last ')' so odd command names do not shift them", () => {
    // Fields 3..41 of a SCHED_FIFO task at rt priority 5, nice 0, named "a) b (c";
    // every other field holds its own number (ppid 4, session 6, utime 14, stime 15, start 22).
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
      threads: 20,
      startTime: 22,
      rtPriority: 5,
      policy: 1,
    });
  });

  it("rejects a line that is not a stat line", () => {
    expect(() => parseStat("garbage")).toThrow(/not a \/proc stat line/);
  });
});

describe("parseSchedstat", () => {
  it("reads time on CPU and time waiting, ns", () => {
    expect(parseSchedstat("123456 789 12\n")).toEqual({ cpuNs: 123456, waitNs: 789 });
  });

  it("gives NaN for what is not there, for the callers to refuse", () => {
    const { cpuNs, waitNs } = parseSchedstat("");
    expect(Number.isNaN(cpuNs)).toBe(true);
    expect(Number.isNaN(waitNs)).toBe(true);
  });
});

describe("errno helpers", () => {
  it("read the errno name from .code, and nothing else", () => {
    expect(errorCode(Object.assign(new Error("x"), { code: "ESRCH" }))).toBe("ESRCH");
    expect(errorCode(new Error("x"))).toBeUndefined();
    expect(errorCode({ code: 3 })).toBeUndefined();
    expect(errorCode(null)).toBeUndefined();
    expect(isGone({ code: "ENOENT" })).toBe(true);
    expect(isGone({ code: "ESRCH" })).toBe(true);
    expect(isGone({ code: "EPERM" })).toBe(false);
    expect(errorMessage(new Error("boom"))).toBe("boom");
    expect(errorMessage("plain")).toBe("plain");
  });
});

describe("readers on this process", () => {
  it("list this process's threads, and none of a process that is gone", () => {
    const tids = threadsOf(process.pid);
    expect(tids).toContain(process.pid);
    expect(tids.every(Number.isInteger)).toBe(true);
    expect(threadsOf(GONE)).toEqual([]);
  });

  it("list a process's other threads: this one's helpers, none of a one-thread process or one gone", async () => {
    // Node has helper threads; a sleeping shell has one thread.
    expect(otherThreadsOf(process.pid)).toEqual(
      threadsOf(process.pid).filter((t) => t !== process.pid),
    );
    expect(otherThreadsOf(process.pid).length).toBeGreaterThan(0);
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      expect(readTaskStat(child.pid as number)?.threads).toBe(1);
      expect(otherThreadsOf(child.pid as number)).toEqual([]);
    } finally {
      child.kill("SIGKILL");
    }
    expect(otherThreadsOf(GONE)).toEqual([]);
  });

  it("read this task's stat, start time, parent and CPU, and undefined when gone", () => {
    const stat = readTaskStat(process.pid);
    expect(stat?.ppid).toBe(process.ppid);
    expect(stat?.startTime).toBe(taskStartTime(process.pid));
    expect(readParentPid(process.pid)).toBe(process.ppid);
    expect(isSelfOrDescendant(process.pid, process.ppid)).toBe(true);
    expect(isSelfOrDescendant(process.ppid, process.pid)).toBe(false);
    expect(readTaskCpuNs(process.pid)).toBeGreaterThan(0);
    expect(readSchedstat(process.pid)?.cpuMs).toBeGreaterThan(0);
    expect(readTaskStat(GONE)).toBeUndefined();
    expect(taskStartTime(GONE)).toBeUndefined();
    expect(readParentPid(GONE)).toBeUndefined();
    expect(readSchedstat(GONE)).toBeUndefined();
  });

  it("tell a process that exited (a zombie not reaped, or gone) from one that runs", async () => {
    // The shell's background child exits at once and stays a zombie: its
    // parent execs into sleep, which never reaps it.
    const parent = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 30"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const [line] = (await once(parent.stdout, "data")) as [Buffer];
      const zombie = Number(line.toString().trim());
      expect(Number.isInteger(zombie)).toBe(true);
      for (let i = 0; i < 200 && readTaskStat(zombie)?.state !== "Z"; i++)
        await new Promise((resolve) => setTimeout(resolve, 5));
      expect(readTaskStat(zombie)?.state).toBe("Z");
      expect(hasExited(zombie)).toBe(true);
      expect(hasExited(parent.pid as number)).toBe(false);
      expect(hasExited(GONE)).toBe(true);
    } finally {
      parent.kill("SIGKILL");
    }
  });
});
