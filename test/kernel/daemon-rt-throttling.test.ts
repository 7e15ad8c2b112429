/**
 * Invariant 4 enforced (docs/safety.md): `alps daemon` refuses to start on
 * a host whose RT throttling is off, before it changes anything, and says
 * how to proceed. Needs `npm run build` first.
 *
 * This is the one test in the repository that switches RT throttling off
 * (/proc/sys/kernel/sched_rt_runtime_us = -1), and only for as long as the
 * daemon takes to refuse. Why it is safe:
 * - it runs only when no user-space task on the host is real-time (kernel
 *   threads are, always); this process is not;
 * - the daemon it starts refuses before it raises any thread (the test
 *   checks its log: no mode chosen, no thread on SCHED_FIFO, no state);
 * - the old value is written back in `finally`, and the test asserts it is
 *   back; a detached watchdog writes it back after 30 s as well, should this
 *   process die in between (it only writes if the value is still -1).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isRoot, requireHost } from "../helpers/host.js";
import { killPids } from "../helpers/processes.js";
import { CLI, daemonDir, removeDir } from "./daemon-kit.js";

const RT_RUNTIME = "/proc/sys/kernel/sched_rt_runtime_us";
const runs =
  requireHost("root (to write sched_rt_runtime_us)", isRoot()) &&
  requireHost("the built CLI (npm run build)", existsSync(CLI));

/** User-space tasks on SCHED_FIFO or SCHED_RR (kernel threads, children of kthreadd, excluded). */
function userRealtimeTasks(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        const ppid = Number(f[1]);
        const policy = Number(f[38]);
        if ((policy === 1 || policy === 2) && pid !== "2" && ppid !== 2)
          found.push(`${pid}/${tid} ${stat.slice(stat.indexOf("("), stat.lastIndexOf(")") + 1)}`);
      } catch {
        // gone
      }
    }
  }
  return found;
}

describe.skipIf(!runs)("alps daemon on a host without RT throttling", () => {
  it("refuses to start, names the setting and the flag, and changed nothing", (ctx) => {
    const before = readFileSync(RT_RUNTIME, "utf8").trim();
    // Never start from (or leave) an unthrottled host.
    expect(Number(before)).toBeGreaterThanOrEqual(0);
    const rt = userRealtimeTasks();
    const quiet = requireHost(
      `no user-space real-time task on the host (found ${rt.join(", ")})`,
      rt.length === 0,
    );
    if (!quiet)
      ctx.skip(
        `a user-space task is real-time (${rt.join(", ")}): not switching RT throttling off`,
      );
    const dir = daemonDir();
    const stateDir = join(dir, "state");
    let watchdog: ChildProcess | undefined;
    let result: ReturnType<typeof spawnSync> | undefined;
    try {
      watchdog = spawn(
        "sh",
        ["-c", `sleep 30; [ "$(cat ${RT_RUNTIME})" = "-1" ] && echo ${before} > ${RT_RUNTIME}`],
        { detached: true, stdio: "ignore" },
      );
      writeFileSync(RT_RUNTIME, "-1");
      // The daemon as a host would start it: mode auto, its threads real-time by default.
      result = spawnSync(
        process.execPath,
        [
          CLI,
          "daemon",
          "--socket",
          join(dir, "alps.sock"),
          "--state-dir",
          stateDir,
          "--metrics-port",
          "0",
        ],
        { encoding: "utf8", timeout: 30_000 },
      );
    } finally {
      writeFileSync(RT_RUNTIME, before);
      // The watchdog's whole process group (it is detached): the shell and its sleep.
      if (watchdog?.pid !== undefined) killPids([-watchdog.pid]);
    }
    expect(readFileSync(RT_RUNTIME, "utf8").trim()).toBe(before);
    try {
      const stderr = String(result?.stderr);
      expect(result?.status, stderr).toBe(2);
      expect(stderr).toMatch(
        /refusing to start: RT throttling is disabled on this host \(sched_rt_runtime_us = -1\)/,
      );
      expect(stderr).toContain("the daemon's own threads (--realtime-priority 50)");
      expect(stderr).toMatch(/--allow-unthrottled-rt \(config key allowUnthrottledRt/);
      // Refused before anything changed: no backend chosen, no thread raised, no record, no guardian.
      expect(stderr).not.toMatch(/mode (alps|sfs|cfs) \(sensor/);
      expect(stderr).not.toMatch(/on SCHED_FIFO \d+, reset on fork/);
      expect(existsSync(stateDir)).toBe(false);
    } finally {
      removeDir(dir);
    }
  });
});
