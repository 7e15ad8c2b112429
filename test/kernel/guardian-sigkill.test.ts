/**
 * Safety invariant 3 (docs/safety.md), issue 8 must-show 1: a "daemon" (the guardian
 * drill, a real child process using the touched-task record and the
 * guardian) changes four real busy workers; SIGKILL of the daemon puts all
 * four back on SCHED_OTHER nice 0 within one second. Once with boosted nice
 * levels (alps mode), once with SCHED_FIFO + SCHED_RESET_ON_FORK (sfs mode).
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_UNBOOSTED_SLICE_MS, sliceNs } from "../../src/contracts/levels.js";
import { createFfiSyscalls } from "../../src/host/syscalls-ffi.js";
import {
  SCHED_FIFO,
  SCHED_FLAG_RESET_ON_FORK,
  SCHED_OTHER,
} from "../../src/host/syscalls-types.js";
import { isRoot, requireHost } from "../helpers/host.js";
import {
  buildSafetyJs,
  firstLine,
  isRunning,
  killPids,
  readSched,
  startWorker,
  waitFor,
} from "../helpers/processes.js";

const runs = requireHost("root (to boost nice levels and use SCHED_FIFO)", isRoot());

interface Drill {
  daemon: ChildProcess;
  guardian: number | null;
  record: string;
  workers: number[];
  stateDir: string;
}

let out = "";

async function startDrill(mode: "nice" | "fifo", extra: string[] = []): Promise<Drill> {
  const stateDir = mkdtempSync(join(tmpdir(), "alps-guardian-"));
  const workers = Array.from({ length: 4 }, () => startWorker()).map((w) => w.pid as number);
  const daemon = spawn(
    process.execPath,
    [
      join(out, "backend/guardian/guardian-drill.js"),
      "--state-dir",
      stateDir,
      "--mode",
      mode,
      ...extra,
      ...workers.map(String),
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  try {
    const ready = JSON.parse(await firstLine(daemon)) as {
      guardian: number | null;
      record: string;
    };
    return { daemon, guardian: ready.guardian, record: ready.record, workers, stateDir };
  } catch (error) {
    killPids([daemon.pid, ...workers]);
    throw error;
  }
}

function cleanup(drill: Drill | undefined): void {
  if (drill === undefined) return;
  // Workers are ours: killing them ends any priority they still hold.
  killPids([drill.daemon.pid, drill.guardian ?? undefined, ...drill.workers]);
  rmSync(drill.stateDir, { recursive: true, force: true });
}

function allBase(pids: number[]): boolean {
  return pids.every((pid) => {
    const s = readSched(pid);
    return s !== undefined && s.policy === SCHED_OTHER && s.nice === 0;
  });
}

describe.skipIf(!runs)("guardian restores after SIGKILL of the daemon", () => {
  beforeAll(() => {
    out = buildSafetyJs();
  });
  afterAll(() => {});

  it("four workers at alps levels (three boosts, a yield) are back at SCHED_OTHER nice 0 within 1 s", async () => {
    let drill: Drill | undefined;
    try {
      drill = await startDrill("nice");
      const d = drill;
      expect(d.guardian).toBeTypeOf("number");
      expect(isRunning(d.guardian as number)).toBe(true);
      // The drill really changed them: three boosts (nice -5, -8, -11) with the 0.1 ms slice
      // request and a yield (nice 5) with the unboosted slice request, as alps applies them.
      expect(d.workers.map((pid) => readSched(pid)?.nice)).toEqual([-5, -8, -11, 5]);
      const syscalls = createFfiSyscalls();
      const defaultSlice = syscalls.getAttr(process.pid).runtimeNs; // this test's own, never touched
      expect(d.workers.map((pid) => syscalls.getAttr(pid).runtimeNs)).toEqual([
        ...d.workers.slice(0, -1).map(() => 100_000n),
        sliceNs(DEFAULT_UNBOOSTED_SLICE_MS),
      ]);
      expect(existsSync(d.record)).toBe(true);

      d.daemon.kill("SIGKILL");
      const ms = await waitFor(
        () => allBase(d.workers),
        1000,
        "workers back at SCHED_OTHER nice 0",
      );
      expect(ms).toBeLessThan(1000);
      for (const pid of d.workers) {
        expect(readSched(pid)).toMatchObject({ policy: SCHED_OTHER, nice: 0 });
        // The slice requests and the reset-on-fork flag go with the level.
        expect(syscalls.getAttr(pid)).toMatchObject({ flags: 0n, runtimeNs: defaultSlice });
      }
      // The guardian's job is over: it exits and the record is cleared.
      await waitFor(() => !isRunning(d.guardian as number), 2000, "the guardian to exit");
      expect(existsSync(d.record)).toBe(false);
    } finally {
      cleanup(drill);
    }
  });

  it("four SCHED_FIFO workers (reset-on-fork) are back at SCHED_OTHER nice 0 within 1 s", async () => {
    let drill: Drill | undefined;
    try {
      drill = await startDrill("fifo");
      const d = drill;
      const syscalls = createFfiSyscalls();
      expect(d.workers.map((pid) => readSched(pid)?.policy)).toEqual([
        SCHED_FIFO,
        SCHED_FIFO,
        SCHED_FIFO,
        SCHED_FIFO,
      ]);
      expect(d.workers.map((pid) => readSched(pid)?.rtPriority)).toEqual([10, 11, 12, 13]);
      for (const pid of d.workers) {
        expect(syscalls.getAttr(pid).flags & SCHED_FLAG_RESET_ON_FORK).toBe(
          SCHED_FLAG_RESET_ON_FORK,
        );
      }

      d.daemon.kill("SIGKILL");
      const ms = await waitFor(
        () => allBase(d.workers),
        1000,
        "workers back at SCHED_OTHER nice 0",
      );
      expect(ms).toBeLessThan(1000);
      for (const pid of d.workers) {
        expect(readSched(pid)).toMatchObject({ policy: SCHED_OTHER, nice: 0, rtPriority: 0 });
        expect(syscalls.getAttr(pid).flags).toBe(0n);
      }
      await waitFor(() => !isRunning(d.guardian as number), 2000, "the guardian to exit");
    } finally {
      cleanup(drill);
    }
  });

  it("a clean shutdown restores in the daemon, says bye, and the guardian exits", async () => {
    let drill: Drill | undefined;
    try {
      drill = await startDrill("nice");
      const d = drill;
      expect(readSched(d.workers[0] as number)?.nice).toBe(-5);
      const exited = new Promise<number | null>((r) => d.daemon.once("exit", (code) => r(code)));
      d.daemon.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(allBase(d.workers)).toBe(true);
      await waitFor(() => !isRunning(d.guardian as number), 2000, "the guardian to exit");
      expect(existsSync(d.record)).toBe(false);
    } finally {
      cleanup(drill);
    }
  });
});
