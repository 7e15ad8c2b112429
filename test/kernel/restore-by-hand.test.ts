/**
 * `alps restore` by hand (issue 8 must-show 1, second half): after a daemon
 * that ran without a guardian was SIGKILLed, its four boosted workers keep
 * their levels until `alps restore` puts them back. A recycled tid (same
 * tid, different start time) is never touched; a record whose daemon is
 * still alive is refused.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { restoreTasks } from "../../src/backend/guardian/restore.js";
import { DEFAULT_UNBOOSTED_SLICE_MS, sliceNs } from "../../src/contracts/levels.js";
import { createFfiSyscalls } from "../../src/host/syscalls-ffi.js";
import { SCHED_OTHER } from "../../src/host/syscalls-types.js";
import { touchedFilePath, writeTouchedRecord } from "../../src/backend/guardian/touched.js";
import { taskStartTime } from "../../src/host/proc-task.js";
import { UsageError } from "../../src/errors.js";
import { isRoot, requireHost } from "../helpers/host.js";
import {
  buildSafetyJs,
  firstLine,
  killPids,
  readSched,
  startWorker,
} from "../helpers/processes.js";

const runs = requireHost("root (to boost nice levels)", isRoot());
let out = "";

/** Runs `alps restore` exactly as the CLI registers it, from the compiled command module. */
async function alpsRestore(args: string[]): Promise<{ stdout: string; code: number }> {
  const script = `
    const { Command } = await import("commander");
    const { registerRestore } = await import(${JSON.stringify(join(out, "commands/restore.js"))});
    const program = new Command().name("alps");
    registerRestore(program);
    await program.parseAsync(["node", "alps", "restore", ...${JSON.stringify(args)}]);`;
  try {
    const r = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
      cwd: process.cwd(),
    });
    return { stdout: r.stdout, code: 0 };
  } catch (error) {
    const e = error as { stdout?: string; code?: number };
    return { stdout: e.stdout ?? "", code: e.code ?? -1 };
  }
}

describe.skipIf(!runs)("alps restore", () => {
  beforeAll(() => {
    out = buildSafetyJs();
  });

  it("restores the four boosted workers a SIGKILLed daemon (no guardian) left behind", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "alps-restore-"));
    const workers = Array.from({ length: 4 }, () => startWorker()).map((w) => w.pid as number);
    const daemon = spawn(
      process.execPath,
      [
        join(out, "backend/guardian/guardian-drill.js"),
        "--state-dir",
        stateDir,
        "--mode",
        "nice",
        "--no-guardian",
        ...workers.map(String),
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      await firstLine(daemon);
      const exited = new Promise((r) => daemon.once("exit", r));
      daemon.kill("SIGKILL");
      await exited;
      await new Promise((r) => setTimeout(r, 200));
      // Nobody restored them: the levels the daemon gave are still there, slice request too.
      // Three boosts with the 0.1 ms slice request, a yield with the unboosted one (the drill).
      expect(workers.map((pid) => readSched(pid)?.nice)).toEqual([-5, -8, -11, 5]);
      const syscalls = createFfiSyscalls();
      const defaultSlice = syscalls.getAttr(process.pid).runtimeNs; // this test's own, never touched
      expect(workers.map((pid) => syscalls.getAttr(pid).runtimeNs)).toEqual([
        ...workers.slice(0, -1).map(() => 100_000n),
        sliceNs(DEFAULT_UNBOOSTED_SLICE_MS),
      ]);

      const { stdout, code } = await alpsRestore(["--state-dir", stateDir, "--json"]);
      expect(code).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({ restored: 4, gone: 0, recycled: 0, failed: [] });
      for (const pid of workers) {
        expect(readSched(pid)).toMatchObject({ policy: SCHED_OTHER, nice: 0 });
        expect(syscalls.getAttr(pid)).toMatchObject({ flags: 0n, runtimeNs: defaultSlice });
      }
      expect(existsSync(touchedFilePath(stateDir))).toBe(false);

      // A second run finds nothing to do.
      const again = await alpsRestore(["--state-dir", stateDir, "--json"]);
      expect(JSON.parse(again.stdout)).toMatchObject({ restored: 0, gone: 0, recycled: 0 });
    } finally {
      killPids([daemon.pid, ...workers]);
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it("never touches a recycled tid (different start time) and counts a gone one", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "alps-restore-"));
    const worker = startWorker();
    const pid = worker.pid as number;
    const syscalls = createFfiSyscalls();
    try {
      const gone = startWorker(1, 1, 10, 10);
      const gonePid = gone.pid as number;
      await new Promise((r) => gone.once("exit", r));
      await new Promise((r) => setTimeout(r, 50));
      const start = taskStartTime(pid) as number;
      expect(start).toBeTypeOf("number");
      syscalls.setNice(pid, -3);
      const file = touchedFilePath(stateDir);
      // The record says tid `pid`, but a task that started at another time.
      writeTouchedRecord(file, undefined, [
        { tid: pid, startTime: start + 1 },
        { tid: gonePid, startTime: 1 },
      ]);
      const result = restoreTasks(file, syscalls);
      expect(result).toMatchObject({ restored: 0, recycled: 1, gone: 1, failed: [] });
      expect(readSched(pid)?.nice).toBe(-3);

      // The same tid with its real start time is restored.
      writeTouchedRecord(file, undefined, [{ tid: pid, startTime: start }]);
      expect(restoreTasks(file, syscalls)).toMatchObject({ restored: 1, recycled: 0 });
      expect(readSched(pid)).toMatchObject({ policy: SCHED_OTHER, nice: 0 });
    } finally {
      killPids([pid]);
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it("refuses while the daemon that owns the record is alive, unless forced", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "alps-restore-"));
    const owner = startWorker();
    const worker = startWorker();
    const [ownerPid, pid] = [owner.pid as number, worker.pid as number];
    const syscalls = createFfiSyscalls();
    try {
      await new Promise((r) => setTimeout(r, 50));
      syscalls.setNice(pid, -2);
      const file = touchedFilePath(stateDir);
      writeTouchedRecord(file, { tid: ownerPid, startTime: taskStartTime(ownerPid) as number }, [
        { tid: pid, startTime: taskStartTime(pid) as number },
      ]);
      expect(() => restoreTasks(file, syscalls)).toThrow(UsageError);
      expect(readSched(pid)?.nice).toBe(-2);
      const cli = await alpsRestore(["--state-dir", stateDir]);
      expect(cli.code).not.toBe(0);
      expect(readSched(pid)?.nice).toBe(-2);

      expect(restoreTasks(file, syscalls, { force: true })).toMatchObject({
        restored: 1,
        ownerAlive: true,
      });
      expect(readSched(pid)).toMatchObject({ policy: SCHED_OTHER, nice: 0 });
    } finally {
      killPids([ownerPid, pid]);
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
