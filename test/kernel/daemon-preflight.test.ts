/**
 * Validate before touching the host: `alps daemon` with a malformed policy
 * file, a config file with a bad key, a --socket-group its socket's
 * directory shuts out, or platform flags that do not fit, exits 2 with the
 * file, line or flag named, before it creates its touched-task record,
 * starts its guardian, loads a BPF program or raises a thread. (These run
 * with the kernel tests: a daemon that failed to refuse would do all that.)
 * Needs `npm run build` first.
 */
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isRoot, requireHost } from "../helpers/host.js";
import { CLI, daemonDir, removeDir, type StartedDaemon, startDaemon } from "./daemon-kit.js";

const runs =
  requireHost("root (the daemon would change priorities)", isRoot()) &&
  requireHost("the built CLI (npm run build)", existsSync(CLI));

describe.skipIf(!runs)("alps daemon checks its input before it touches the host", () => {
  let d: StartedDaemon | undefined;
  afterEach(async () => {
    await d?.stop();
    if (d) removeDir(d.dir);
    d = undefined;
  });

  /** Starts the daemon in a fresh directory holding `files` and waits for it to exit. */
  async function refused(files: Record<string, string>, args: (dir: string) => string[]) {
    const dir = daemonDir(files);
    d = await startDaemon(dir, ["--mode", "alps", ...args(dir)], "exit");
    const log = d.log();
    expect(await d.exited, log).toBe(2);
    // Nothing was changed: no backend chosen, no thread raised, no record (not even its directory).
    expect(log).not.toMatch(/mode (alps|sfs|cfs) \(sensor/);
    expect(log).not.toMatch(/on SCHED_FIFO \d+, reset on fork/);
    expect(existsSync(d.stateDir)).toBe(false);
    return log;
  }

  it("a malformed policy file: named with its line and field", async () => {
    const log = await refused(
      {
        "policy.json":
          '{\n  "functions": {\n    "f": { "priority": 0, "predicted_ms": 5, "slice_ms": 5 }\n  },\n  "default": { "priority": 1, "predicted_ms": 5, "slice_ms": 5 }\n}\n',
      },
      (dir) => ["--policy-file", join(dir, "policy.json")],
    );
    expect(log).toMatch(/policy\.json:3: field 'functions\.f\.priority'/);
  });

  it("a policy file that is not JSON or YAML", async () => {
    const log = await refused({ "policy.json": '{"functions": {' }, (dir) => [
      "--policy-file",
      join(dir, "policy.json"),
    ]);
    expect(log).toMatch(/policy\.json:\d+: /);
  });

  it("a config file with an unknown key: named with its line", async () => {
    const log = await refused(
      { "alps.yaml": "learnPeriodMs: 500\nlearnPeriodSeconds: 2\n" },
      (dir) => ["--config", join(dir, "alps.yaml")],
    );
    expect(log).toMatch(/alps\.yaml:2: field 'learnPeriodSeconds'/);
  });

  it("a --socket-group that cannot reach the socket's directory", async () => {
    const log = await refused({}, (dir) => {
      chmodSync(dir, 0o755);
      mkdirSync(join(dir, "private"), { mode: 0o700 });
      return ["--socket", join(dir, "private", "alps.sock"), "--socket-group", "65534"];
    });
    expect(log).toMatch(/--socket-group 65534: members of group 65534 .*private is mode 0700/);
  });

  it("platform flags that do not fit", async () => {
    const log = await refused({}, () => ["--platform", "cgroup-pattern"]);
    expect(log).toMatch(/--platform cgroup-pattern needs --pattern/);
  });
});
