/**
 * A restart after a hard kill recovers by itself: the daemon and its
 * guardian are SIGKILLed together (what a container kill or an OOM kill of
 * the whole cgroup does), so nobody restores and the touched-task record is
 * left listing tasks still at the levels alps gave them. A new daemon on the
 * same state directory restores them itself, says so, and starts: no task
 * is left at a level alps gave it. Needs `npm run build` first.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { apiRequest } from "../../src/frontend/api/client.js";
import { SCHED_OTHER } from "../../src/host/syscalls-types.js";
import { hasBtf, isRoot, requireHost } from "../helpers/host.js";
import { isRunning, killPids, readSched, startWorker } from "../helpers/processes.js";
import { procSched } from "./bpf-kit.js";
import {
  BOOST_POLICY,
  CLI,
  daemonDir,
  eventually,
  register,
  removeDir,
  type StartedDaemon,
  startDaemon,
} from "./daemon-kit.js";

const runs =
  requireHost("root with BPF (tp_btf)", isRoot() && hasBtf()) &&
  requireHost("the built CLI (npm run build)", existsSync(CLI));

describe.skipIf(!runs)("restart after a hard kill", () => {
  it("SIGKILL of the daemon and its guardian, then a new daemon: tasks restored, and it starts", async () => {
    const dir = daemonDir({ "policy.json": BOOST_POLICY });
    const args = ["--mode", "alps", "--policy-file", join(dir, "policy.json")];
    const workers = [0, 1, 2].map(() => startWorker(5, 5, 3000, 60_000).pid as number);
    let first: StartedDaemon | undefined;
    let second: StartedDaemon | undefined;
    try {
      first = await startDaemon(dir, args);
      const d = first;
      for (const w of workers) await register(d.socket, "f", w);
      await eventually(
        () => workers.every((w) => (readSched(w)?.nice ?? 0) < 0),
        "the workers boosted",
      );
      const record = join(d.stateDir, "touched-tasks");
      expect(existsSync(record)).toBe(true);

      // Together: both stopped first (neither can react to the other's end: the guardian
      // restores when the daemon goes, the daemon when the guardian goes), then killed.
      const guardian = d.guardian() as number;
      expect(guardian).toBeTypeOf("number");
      process.kill(d.pid, "SIGSTOP");
      process.kill(guardian, "SIGSTOP");
      killPids([guardian, d.pid]);
      await d.exited;
      await eventually(() => !isRunning(guardian), "the guardian gone");
      // Nobody restored: the levels alps gave are still there, and so is the record.
      expect(workers.every((w) => (readSched(w)?.nice ?? 0) < 0)).toBe(true);
      expect(readFileSync(record, "utf8")).toContain(`owner=${d.pid}`);

      second = await startDaemon(dir, args);
      const log = second.log();
      // Each worker's helper threads were registered with it, so at least the three workers.
      const m =
        /touched-tasks was left by an alps daemon that ended without restoring its tasks .*: (\d+) task\(s\) listed; restored (\d+), gone 0, recycled tid \(left alone\) 0, failed 0/.exec(
          log,
        );
      expect(m, log).not.toBeNull();
      expect(Number(m?.[2])).toBe(Number(m?.[1]));
      expect(Number(m?.[2])).toBeGreaterThanOrEqual(workers.length);
      // Every thread of every worker, not only the ones registered by pid.
      for (const w of workers)
        for (const tid of readdirSync(`/proc/${w}/task`))
          expect(procSched(w, Number(tid)), `${w}/${tid}`).toEqual({
            nice: 0,
            policy: SCHED_OTHER,
          });
      // And it runs: it answers, with a fresh record of its own.
      expect((await apiRequest(second.socket, "GET", "/v1/status")).status).toBe(200);
      expect(readFileSync(record, "utf8")).toContain(`owner=${second.pid}`);
      await second.stop();
      expect(await second.exited).toBe(0);
    } finally {
      killPids(workers);
      await first?.stop();
      await second?.stop();
      removeDir(dir);
    }
  });

  it("refuses while the record's owner is still running: one daemon per state directory", async () => {
    const dir = daemonDir({ "policy.json": BOOST_POLICY });
    const args = ["--mode", "alps", "--policy-file", join(dir, "policy.json")];
    let first: StartedDaemon | undefined;
    let second: StartedDaemon | undefined;
    try {
      first = await startDaemon(dir, args);
      // Same state directory, its own socket.
      second = await startDaemon(dir, [...args, "--socket", join(dir, "other.sock")], "exit");
      expect(await second.exited, second.log()).toBe(2);
      expect(second.log()).toMatch(
        new RegExp(`another alps daemon .*uses the state directory ${first.stateDir}`),
      );
      expect(isRunning(first.pid)).toBe(true);
      expect((await apiRequest(first.socket, "GET", "/v1/status")).status).toBe(200);
    } finally {
      await second?.stop();
      await first?.stop();
      removeDir(dir);
    }
  });
});
