/**
 * Least privilege for the restore path: `alps restore` (what the guardian
 * runs) needs CAP_SYS_NICE and nothing else to put back a boosted task of
 * another user; without it the task is reported failed and stays in the
 * record for a retry, never dropped silently.
 */
import { execFile, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { createFfiSyscalls } from "../../src/host/syscalls-ffi.js";
import { SCHED_OTHER } from "../../src/host/syscalls-types.js";
import {
  readTouchedRecord,
  touchedFilePath,
  writeTouchedRecord,
} from "../../src/backend/guardian/touched.js";
import { taskStartTime } from "../../src/host/proc-task.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { buildSafetyJs, killPids, readSched } from "../helpers/processes.js";

const runs = requireHost("root and setpriv", isRoot());
let out = "";

/** `alps restore --json` with only the capabilities in `bounding` (setpriv). */
async function restoreWithCaps(
  stateDir: string,
  bounding: string,
): Promise<{ stdout: string; code: number }> {
  const script = `
    const { Command } = await import("commander");
    const { registerRestore } = await import(${JSON.stringify(join(out, "commands/restore.js"))});
    const program = new Command().name("alps");
    registerRestore(program);
    await program.parseAsync(["node", "alps", "restore", "--state-dir", ${JSON.stringify(stateDir)}, "--json"]);`;
  try {
    const r = await promisify(execFile)("setpriv", [
      `--bounding-set=${bounding}`,
      "--inh-caps=-all",
      process.execPath,
      "--input-type=module",
      "-e",
      script,
    ]);
    return { stdout: r.stdout, code: 0 };
  } catch (error) {
    const e = error as { stdout?: string; code?: number };
    return { stdout: e.stdout ?? "", code: e.code ?? -1 };
  }
}

describe.skipIf(!runs)("alps restore with least privilege", () => {
  beforeAll(() => {
    out = buildSafetyJs();
  });

  it("needs only CAP_SYS_NICE to restore another user's boosted task", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "alps-caps-"));
    chmodSync(stateDir, 0o700);
    // A sleeping task of user nobody (no CPU use at all).
    const other = spawn(process.execPath, ["-e", "setTimeout(() => {}, 20000)"], {
      uid: 65534,
      gid: 65534,
      stdio: "ignore",
    });
    const pid = other.pid as number;
    try {
      await new Promise((r) => setTimeout(r, 100));
      createFfiSyscalls().setNice(pid, -6);
      expect(readSched(pid)?.nice).toBe(-6);
      const file = touchedFilePath(stateDir);
      writeTouchedRecord(file, undefined, [{ tid: pid, startTime: taskStartTime(pid) as number }]);

      // No capabilities at all: refused by the kernel, reported, kept.
      const bare = await restoreWithCaps(stateDir, "-all");
      expect(bare.code).toBe(1);
      expect(JSON.parse(bare.stdout)).toMatchObject({
        restored: 0,
        failed: [{ tid: pid, error: "EPERM" }],
      });
      expect(readSched(pid)?.nice).toBe(-6);
      expect(readTouchedRecord(file).entries.map((e) => e.tid)).toEqual([pid]);

      // CAP_SYS_NICE alone is enough.
      const nice = await restoreWithCaps(stateDir, "-all,+sys_nice");
      expect(nice.code).toBe(0);
      expect(JSON.parse(nice.stdout)).toMatchObject({ restored: 1, failed: [] });
      expect(readSched(pid)).toMatchObject({ policy: SCHED_OTHER, nice: 0 });
    } finally {
      killPids([pid]);
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
