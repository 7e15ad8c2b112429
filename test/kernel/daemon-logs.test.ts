/**
 * The built daemon's log as an operator reads it (issue 17 item 4):
 * `--log-format json` gives one JSON object per line on stderr, each with a
 * level and a time; a learned policy is logged as what changed (the function
 * added, with its rank), never as the whole table, which `alps policy`
 * prints. Observe-only mode (cfs): it learns but changes no task. Needs
 * `npm run build` first (the test runs dist/cli.js).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiRequest } from "../../src/frontend/api/client.js";
import { isRoot, requireHost } from "../helpers/host.js";

const ROOT = join(import.meta.dirname, "../..");
const CLI = join(ROOT, "dist/cli.js");
const PERIOD_MS = 300;
const runs = requireHost("root (the daemon's state dir and guardian)", isRoot());

const dir = mkdtempSync(join(tmpdir(), "alps-logs-"));
const socket = join(dir, "alps.sock");
let daemon: ChildProcess | undefined;
let stderr = "";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (error, out, err) => {
      resolve({
        code: error === null ? 0 : typeof error.code === "number" ? error.code : 1,
        stdout: out,
        stderr: err,
      });
    });
  });
}

interface Status {
  counters: { learner_runs: number };
}

interface LogRecord {
  level: string;
  time: string;
  msg: string;
  policy_changes?: { added: { fn: string; priority: number }[] };
}

describe.skipIf(!runs)("alps daemon --log-format json (real host)", () => {
  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    daemon = spawn(
      process.execPath,
      [
        CLI,
        "daemon",
        "--mode",
        "cfs",
        "--log-format",
        "json",
        "--learn-period-ms",
        String(PERIOD_MS),
        "--socket",
        socket,
        "--metrics-port",
        "0",
        "--realtime-priority",
        "0",
        "--state-dir",
        join(dir, "state"),
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    daemon.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (daemon.exitCode !== null)
        throw new Error(`daemon exited (${daemon.exitCode}):\n${stderr}`);
      try {
        if ((await apiRequest(socket, "GET", "/v1/status")).status === 200) break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`daemon did not come up:\n${stderr}`);
      await sleep(100);
    }
  }, 30_000);

  afterAll(async () => {
    const d = daemon;
    if (d?.pid !== undefined && d.exitCode === null) {
      const exited = new Promise((r) => d.once("exit", r));
      process.kill(d.pid, "SIGTERM");
      const timer = setTimeout(() => {
        if (d.exitCode === null && d.pid !== undefined) process.kill(d.pid, "SIGKILL");
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("logs the learned policy as a change, in JSON lines; alps policy shows the table", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await cli(["invoke", "--function", "logged-fn", "--socket", socket, "--", "true"]);
      expect(r.code, r.stderr).toBe(0);
    }
    const deadline = Date.now() + 40 * PERIOD_MS; // generous on a shared machine
    while (!stderr.includes("policy changed") && Date.now() < deadline) await sleep(PERIOD_MS / 3);
    // A few more learning runs with the same ranking: none of them may be logged.
    const runs0 = ((await apiRequest(socket, "GET", "/v1/status")).body as Status).counters
      .learner_runs;
    while (
      ((await apiRequest(socket, "GET", "/v1/status")).body as Status).counters.learner_runs <
        runs0 + 3 &&
      Date.now() < deadline
    )
      await sleep(PERIOD_MS / 3);
    const lines = stderr.split("\n").filter((l) => l !== "");
    const records = lines.map((l) => JSON.parse(l) as LogRecord);
    for (const r of records) {
      expect(["debug", "info", "warn", "error"]).toContain(r.level);
      expect(r.time).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(typeof r.msg).toBe("string");
    }
    expect(records.some((r) => r.msg.startsWith("mode cfs"))).toBe(true);
    const changes = records.filter((r) => r.msg.startsWith("policy changed"));
    expect(changes, stderr).toHaveLength(1); // the same ranking again is not logged again
    expect(changes[0]?.policy_changes?.added).toEqual([{ fn: "logged-fn", priority: 1 }]);
    // Info level: the whole ranked table is not in the log.
    expect(stderr).not.toContain("rank:function");
    const table = await cli(["policy", "--socket", socket]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^1\tlogged-fn\t/m);
  }, 60_000);
});
