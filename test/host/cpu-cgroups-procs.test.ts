/**
 * processesUnder: the processes of a group and of every group below it
 * (the rule that a sandbox group is an invocation's own reads them all). A
 * directory tree with `cgroup.procs` files stands in for the cgroup file
 * system: the walk only reads those files and the directories' entries and
 * link counts, which a temporary directory has as kernfs does.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { processesUnder } from "../../src/host/cpu-cgroups.js";

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A group at `dir` holding `pids`. */
function group(dir: string, pids: number[]): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "cgroup.procs"), pids.map((p) => `${p}\n`).join(""));
  return dir;
}

function root(): string {
  const dir = mkdtempSync(join(tmpdir(), "alps-procs-"));
  made.push(dir);
  return dir;
}

describe("processesUnder", () => {
  it("lists a group without child groups from its own cgroup.procs", () => {
    const dir = group(join(root(), "sandbox"), [101, 102]);
    expect(processesUnder(dir, 256)).toEqual([101, 102]);
  });

  it("finds the processes of child and grandchild groups, whatever the files beside them", () => {
    const dir = group(join(root(), "sandbox"), [101]);
    writeFileSync(join(dir, "cpu.shares"), "1024\n");
    group(join(dir, "a"), [201]);
    group(join(dir, "a", "deep"), [301, 302]);
    group(join(dir, "b"), []);
    // The walk trusts a link count of 2 to mean "no child group": make sure
    // this file system counts them, or the test would not test that.
    expect(statSync(dir).nlink).toBe(4);
    expect(processesUnder(dir, 256)?.sort((x, y) => x - y)).toEqual([101, 201, 301, 302]);
  });

  it("gives up past the bound and when a group cannot be read", () => {
    const dir = group(join(root(), "sandbox"), [1, 2, 3]);
    group(join(dir, "child"), [4]);
    expect(processesUnder(dir, 3)).toBeUndefined();
    mkdirSync(join(dir, "unreadable"));
    expect(processesUnder(dir, 256)).toBeUndefined();
  });
});
