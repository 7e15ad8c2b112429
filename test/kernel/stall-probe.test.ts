/**
 * A stall probe held up is reported, and it runs where and how the replay
 * says: pinned to its CPU at SCHED_FIFO 99 while the watch runs, gone when
 * it stops. The hold-up is a SIGSTOP of the probe (it was started here, and
 * it is ended here by pid): the CPU then runs nothing of the probe's for as
 * long as a hypervisor's pause would take it away. And a probe that runs
 * away (input that never ends keeps it reading) stops itself at its CPU
 * bound instead of holding a CPU at SCHED_FIFO 99, and one whose replay is
 * killed (SIGKILL) ends by itself: its input's writer is gone.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { type HostStallReport, STALL_PROBE, watchStalls } from "../../src/replay/stall-probe.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { isStallProbe, stallProbesOf } from "../replay/replay-fixtures.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Fields 40 and 41 of /proc/<pid>/stat (rt_priority, policy), or {} once it is gone. */
function schedOf(pid: number): { rtPriority?: string; policy?: string } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Counted from field 3, the first after the command's closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { rtPriority: fields[37], policy: fields[38] };
  } catch {
    return {};
  }
}

describe("the stall probe", () => {
  it.skipIf(!requireHost("root (SCHED_FIFO)", isRoot()))(
    "runs pinned at SCHED_FIFO 99 and reports the time it was held up",
    async () => {
      const HELD_MS = 300;
      const watch = watchStalls({ cpus: [0], periodUs: 2000, thresholdMs: 20 });
      let pid: number | undefined;
      let report: HostStallReport | undefined;
      try {
        // Until the probe has exec'd and put itself on SCHED_FIFO (20 s: only a hang).
        const deadline = Date.now() + 20_000;
        let sched: { rtPriority?: string; policy?: string } = {};
        while (Date.now() < deadline) {
          [pid] = stallProbesOf(process.pid);
          if (pid !== undefined) sched = schedOf(pid);
          if (sched.policy === "1") break;
          await sleep(10);
        }
        if (pid === undefined) throw new Error("no stall probe is running");
        expect(sched).toEqual({ rtPriority: "99", policy: "1" });
        expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^Cpus_allowed_list:\s*0$/m);
        process.kill(pid, "SIGSTOP");
        await sleep(HELD_MS);
        process.kill(pid, "SIGCONT");
        await sleep(100);
      } finally {
        if (pid !== undefined) process.kill(pid, "SIGCONT");
        report = await watch.stop();
      }
      expect(report.probed, report.why_not).toBe(true);
      // Held HELD_MS: its wake-up came that late less one period (2 ms) and
      // the signals' own delivery; a third off is far beyond either.
      expect(report.longest_ms).toBeGreaterThan(HELD_MS * (2 / 3));
      expect(report.stalls.every((s) => s.cpu === 0)).toBe(true);
      expect(stallProbesOf(process.pid)).toEqual([]);
    },
    20_000,
  );

  it.skipIf(!requireHost("root (SCHED_FIFO)", isRoot()))(
    "stops itself past its CPU bound: a runaway cannot hold a CPU at FIFO 99",
    () => {
      // Input that never ends keeps it busy reading: the runaway its bound is for.
      const zero = openSync("/dev/zero", "r");
      try {
        const r = spawnSync(STALL_PROBE, ["0", "20000", "20", "1"], {
          stdio: [zero, "pipe", "pipe"],
          timeout: 10_000,
        });
        expect(r.status, r.stderr.toString()).toBe(4);
        expect(r.stdout.toString()).toMatch(/^X past its CPU bound: \d+ ns of CPU in \d+ ns$/m);
      } finally {
        closeSync(zero);
      }
    },
    20_000,
  );

  it.skipIf(!requireHost("root (SCHED_FIFO)", isRoot()))(
    "ends when the replay that started it is killed (SIGKILL): nothing left at FIFO 99",
    async () => {
      // A stand-in for the replay: a node process that starts a probe the way
      // watchStalls does (its input a pipe it holds) and prints the probe's pid.
      const parent = spawn(
        process.execPath,
        [
          "-e",
          `const c = require("node:child_process").spawn(${JSON.stringify(STALL_PROBE)}, ["0", "20000", "20", "5"], { stdio: ["pipe", "ignore", "ignore"] });
           console.log(c.pid); setInterval(() => {}, 1000);`,
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      let probe: number | undefined;
      try {
        probe = await new Promise<number>((resolve, reject) => {
          parent.stdout?.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
          parent.once("exit", () => reject(new Error("the stand-in exited first")));
        });
        const deadline = Date.now() + 20_000;
        while (Date.now() < deadline && schedOf(probe).policy !== "1") await sleep(10);
        expect(schedOf(probe)).toEqual({ rtPriority: "99", policy: "1" });
        parent.kill("SIGKILL");
        // Its input's writer is gone: it ends at its next wake-up (20 s: only a hang).
        while (Date.now() < deadline + 20_000 && isStallProbe(probe)) await sleep(10);
        expect(isStallProbe(probe)).toBe(false);
      } finally {
        if (parent.exitCode === null && parent.signalCode === null) parent.kill("SIGKILL");
        if (probe !== undefined && isStallProbe(probe)) process.kill(probe, "SIGKILL");
      }
    },
    60_000,
  );
});
