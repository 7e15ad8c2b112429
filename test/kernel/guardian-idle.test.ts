/**
 * The idle heartbeat (docs/safety.md, "the guardian"), on the real `alps
 * daemon --mode alps`: with nothing changed on the host the daemon's tick
 * and heartbeat slow to IDLE_HEARTBEAT_MS and the guardian allows
 * IDLE_TIMEOUT_MS of silence; the first change (here an API registration
 * that boosts) arms the fast bound before it is made. So a daemon idle in
 * slow mode, given an invocation and then SIGSTOPped, still has its task
 * put back by the guardian on the 1 s allowance, not the idle one. Twice:
 * for the first registration, and again after the record emptied (the
 * invocation ended) and the daemon went idle again.
 *
 * Each round waits for the daemon's log of its first idle heartbeat ("i"),
 * after which the guardian would allow the idle silence, before it
 * registers.
 *
 * What is asserted is the guardian's decision (the silence it waited, from
 * its log: at least the 1 s timeout, below the idle one) and the tasks'
 * levels; the wait deadlines only catch what never happens.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { apiRequest } from "../../src/frontend/api/client.js";
import { IDLE_TIMEOUT_MS } from "../../src/backend/guardian/guardian.js";
import { hasBtf, isRoot, requireHost } from "../helpers/host.js";
import { killPids, readSched, startWorker, waitFor } from "../helpers/processes.js";
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
import { existsSync } from "node:fs";

const runs =
  requireHost("root with BPF (tp_btf)", isRoot() && hasBtf()) &&
  requireHost("the built CLI (npm run build)", existsSync(CLI));

// The first idle heartbeat (the guardian may allow the idle silence from then on).
const IDLE_LINE = /idle heartbeat: the guardian allows \d+ ms of silence/g;
const count = (text: string, re: RegExp): number => [...text.matchAll(re)].length;
const nice = (pid: number | undefined): number => readSched(pid as number)?.nice ?? 99;

/** The silences (ms) after which the guardian restored, from its log lines. */
function restoredAfter(log: string): number[] {
  return [...log.matchAll(/has not answered for (\d+) ms \(stopped or hung\): restored (\d+)/g)]
    .filter((m) => Number(m[2]) > 0)
    .map((m) => Number(m[1]));
}

describe.skipIf(!runs)("the idle heartbeat", () => {
  it("an idle daemon given an invocation, then SIGSTOPped: restored on the 1 s allowance, first time and after going idle again", async () => {
    const dir = daemonDir({ "policy.json": BOOST_POLICY });
    let d: StartedDaemon | undefined;
    let stopped = false;
    // CPU-bounded by wall time (25 s) and CPU (3 s each).
    const workers = [startWorker(2, 8, 3000, 25_000), startWorker(2, 8, 3000, 25_000)];
    try {
      d = await startDaemon(dir, [
        "--mode",
        "alps",
        "--policy-file",
        join(dir, "policy.json"),
        "--boost-budget-ms",
        "0",
        "--log-level",
        "debug",
      ]);
      const daemon = d;
      const pid = daemon.pid;

      const round = async (w: number | undefined, idleLines: number): Promise<string> => {
        // Idle (the tick slowed and an idle heartbeat went out) before the change.
        await eventually(() => count(daemon.log(), IDLE_LINE) >= idleLines, "an idle heartbeat");
        const before = restoredAfter(daemon.log()).length;
        // Going idle was no silence to the guardian: it timed out only on our SIGSTOPs.
        expect(count(daemon.log(), /has not answered for/g)).toBe(before);
        const id = await register(daemon.socket, "f", w as number);
        await eventually(() => nice(w) < 0, "boosted");
        process.kill(pid, "SIGSTOP");
        stopped = true;
        // On the idle allowance this would take IDLE_TIMEOUT_MS: the deadline is below it.
        await waitFor(() => nice(w) === 0, IDLE_TIMEOUT_MS - 1000, "restored by the guardian");
        await waitFor(
          () => restoredAfter(daemon.log()).length > before,
          3000,
          "the guardian's log line",
        );
        const silence = restoredAfter(daemon.log())[before] as number;
        // The guardian's decision: the 1 s allowance, not the idle one.
        expect(silence).toBeGreaterThanOrEqual(1000);
        expect(silence).toBeLessThan(IDLE_TIMEOUT_MS);
        process.kill(pid, "SIGCONT");
        stopped = false;
        await eventually(() => nice(w) < 0, "boosted again after SIGCONT");
        return id;
      };

      const first = await round(workers[0]?.pid, 1);
      // End it: the record empties, the daemon goes idle again, the next registration must re-arm.
      const idleSoFar = count(daemon.log(), IDLE_LINE);
      const res = await apiRequest(daemon.socket, "POST", `/v1/invocations/${first}/end`, {});
      expect(res.status).toBe(200);
      await eventually(() => nice(workers[0]?.pid) === 0, "the ended invocation's task restored");
      await round(workers[1]?.pid, idleSoFar + 1);
      // The daemon heard of both restores and re-applied its levels each time.
      await eventually(
        () =>
          count(
            daemon.log(),
            /guardian restored [1-9]\d* task\(s\) while this daemon did not answer/g,
          ) >= 2,
        "the daemon's log of both restores",
      );
    } finally {
      if (stopped && d !== undefined) process.kill(d.pid, "SIGCONT");
      killPids(workers.map((w) => w.pid));
      await d?.stop();
      removeDir(dir);
    }
  });
});
