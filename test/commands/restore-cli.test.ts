/**
 * `alps restore` through the real CLI (node dist/cli.js) on bad input: a
 * state directory that does not exist (or is not a directory) is a clear
 * error and a non-zero exit, never "restored 0"; an existing directory
 * without a record is a success with nothing to do.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, ensureBuilt } from "../helpers/cli.js";

const dir = mkdtempSync(join(tmpdir(), "alps-restore-cli-"));

function restore(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, "restore", ...args], {
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// The compiled CLI, rebuilt (under a lock shared with every other file that runs it) when stale.
beforeAll(() => ensureBuilt(), 200_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("alps restore --state-dir", () => {
  it("a directory that does not exist: exit 2, and the error names it", () => {
    const missing = join(dir, "nonexistent");
    const r = restore("--state-dir", missing);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--state-dir ${missing} does not exist`);
    expect(r.stderr).toMatch(/nothing was restored/);
    expect(r.stdout).toBe("");
  });

  it("/nonexistent exits non-zero", () => {
    expect(restore("--state-dir", "/nonexistent").code).not.toBe(0);
  });

  it("a file, not a directory: exit 2", () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "");
    const r = restore("--state-dir", file, "--json");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--state-dir ${file} is not a directory`);
  });

  it("an existing directory without a record: nothing to do, exit 0", () => {
    const r = restore("--state-dir", dir, "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ restored: 0, gone: 0, recycled: 0, failed: [] });
  });
});
