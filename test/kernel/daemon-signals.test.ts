/**
 * Signals to the real `alps daemon` (dist/cli.js): SIGHUP reloads the
 * config file and the policy file, logged, and the new learnPeriodMs shows
 * in /v1/status; a reload that cannot be read keeps the running
 * configuration. Every catchable signal that would end a Node process by
 * default restores the tasks before the daemon exits (128 + the signal's
 * number, not a clean exit); SIGUSR1 (Node's inspector) and SIGPIPE do not
 * end it. SIGKILL is the guardian's (guardian-daemon.test.ts) and, with the
 * guardian killed too, the next daemon's (daemon-restart-recovery.test.ts).
 * Needs `npm run build` first.
 */
import { existsSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FATAL_SIGNALS } from "../../src/commands/daemon-signals.js";
import { apiRequest } from "../../src/frontend/api/client.js";
import { SCHED_OTHER } from "../../src/host/syscalls-types.js";
import { hasBtf, isRoot, requireHost } from "../helpers/host.js";
import { isRunning, killPids, readSched, startWorker } from "../helpers/processes.js";
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

interface Status {
  learn_period_ms: number;
  policy_source: string;
}
const status = async (d: StartedDaemon) =>
  (await apiRequest(d.socket, "GET", "/v1/status")).body as Status;
const policySlice = async (d: StartedDaemon) =>
  (
    (await apiRequest(d.socket, "GET", "/v1/policy")).body as {
      functions: Record<string, { slice_ms: number }>;
    }
  ).functions.f?.slice_ms;

const policyWithSlice = (sliceMs: number) =>
  JSON.stringify({
    functions: { f: { priority: 1, predicted_ms: 80, slice_ms: sliceMs } },
    default: { priority: 2, predicted_ms: 50, slice_ms: 20 },
  });

describe.skipIf(!runs)("alps daemon and signals", () => {
  describe("SIGHUP, SIGUSR1, SIGPIPE", () => {
    let d: StartedDaemon;
    let config = "";
    let policy = "";
    const writeConfig = (learnPeriodMs: number, metricsMaxFunctions = 50) =>
      writeFileSync(
        config,
        `# alps daemon config\nlearnPeriodMs: ${learnPeriodMs}\nmetricsMaxFunctions: ${metricsMaxFunctions}\npolicyFile: ${policy}\n`,
      );
    beforeAll(async () => {
      const dir = daemonDir({ "policy.json": policyWithSlice(111) });
      config = join(dir, "alps.yaml");
      policy = join(dir, "policy.json");
      writeConfig(2000);
      d = await startDaemon(dir, ["--mode", "alps", "--config", config]);
    });
    afterAll(async () => {
      await d?.stop();
      if (d) removeDir(d.dir);
    });

    it("reloads the config file and the policy file: a changed learnPeriodMs shows in /v1/status", async () => {
      expect((await status(d)).learn_period_ms).toBe(2000);
      expect(await policySlice(d)).toBe(111);
      writeConfig(700, 80);
      writeFileSync(policy, policyWithSlice(222));
      process.kill(d.pid, "SIGHUP");
      await eventually(() => d.log().includes("SIGHUP: configuration reloaded"), "the reload");
      expect((await status(d)).learn_period_ms).toBe(700);
      expect(await policySlice(d)).toBe(222);
      expect((await status(d)).policy_source).toBe("file");
      expect(d.log()).toMatch(
        new RegExp(
          `SIGHUP: configuration reloaded: applied learnPeriodMs=700; policy file ${policy} read again and applied; changed but kept until a restart: metricsMaxFunctions`,
        ),
      );
      expect(isRunning(d.pid)).toBe(true);
    });

    it("a reload that cannot be read is logged and changes nothing", async () => {
      writeFileSync(config, "learnPeriodMs: [oops\n");
      process.kill(d.pid, "SIGHUP");
      await eventually(() => d.log().includes("SIGHUP: reload failed"), "the failed reload");
      expect(d.log()).toMatch(
        /SIGHUP: reload failed, the running configuration stays: .*alps\.yaml:\d+: not valid JSON\/YAML/,
      );
      expect((await status(d)).learn_period_ms).toBe(700);
      // A bad policy file too: named with its line, and the policy in force stays.
      writeConfig(900);
      writeFileSync(policy, '{"functions": {"f": {"priority": 0}}}');
      process.kill(d.pid, "SIGHUP");
      await eventually(
        () => (d.log().match(/SIGHUP: reload failed/g) ?? []).length === 2,
        "the second failed reload",
      );
      expect(d.log()).toMatch(
        new RegExp(`reload failed, the running configuration stays: ${policy}`),
      );
      expect((await status(d)).learn_period_ms).toBe(700);
      expect(await policySlice(d)).toBe(222);
    });

    it("SIGUSR1 (Node's inspector) and SIGPIPE do not end it, and open no debugger", async () => {
      process.kill(d.pid, "SIGUSR1");
      process.kill(d.pid, "SIGPIPE");
      await eventually(() => d.log().includes("SIGUSR1 ignored"), "SIGUSR1 logged");
      expect((await apiRequest(d.socket, "GET", "/v1/status")).status).toBe(200);
      expect(d.log()).not.toMatch(/Debugger listening/);
      expect(isRunning(d.pid)).toBe(true);
    });
  });

  // Each one starts a daemon: a few of them, chosen for how they arrive in
  // practice (a terminal's quit key, a user signal, a resource limit).
  const sample = ["SIGQUIT", "SIGUSR2", "SIGXCPU"] as const;
  it("the sample is among the handled fatal signals", () => {
    for (const s of sample) expect(FATAL_SIGNALS).toContain(s);
  });

  it.each(sample)("%s: the daemon restores its tasks itself and exits 128 + n", async (signal) => {
    const dir = daemonDir({ "policy.json": BOOST_POLICY });
    const d = await startDaemon(dir, ["--mode", "alps", "--policy-file", join(dir, "policy.json")]);
    const worker = startWorker(5, 5, 3000, 60_000).pid as number;
    try {
      await register(d.socket, "f", worker);
      await eventually(() => (readSched(worker)?.nice ?? 0) < 0, "the worker boosted");
      const guardian = d.guardian();
      expect(guardian).toBeDefined();
      process.kill(d.pid, signal);
      expect(await d.exited).toBe(128 + constants.signals[signal]);
      expect(readSched(worker)).toMatchObject({ policy: SCHED_OTHER, nice: 0 });
      await eventually(() => !isRunning(guardian as number), "the guardian to exit");
      // The log is complete only once both writers (daemon and guardian) closed it: read
      // earlier, the guardian's "without bye" could still be on its way.
      await d.closed;
      expect(d.log()).toContain(`${signal}: restoring every task and exiting`);
      // The daemon did it (the guardian got its bye), and left nothing behind.
      expect(d.log()).not.toMatch(/without bye/);
      expect(existsSync(join(d.stateDir, "touched-tasks"))).toBe(false);
      expect(existsSync(d.socket)).toBe(false);
    } finally {
      killPids([worker]);
      await d.stop();
      removeDir(d.dir);
    }
  });
});
