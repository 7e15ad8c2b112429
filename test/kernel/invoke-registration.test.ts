/**
 * `alps invoke` registers CMD before CMD executes its first instruction
 * (docs/api.md): the first thing CMD does is read its own scheduling state, and
 * it already carries what the backend gives a registered function task —
 * a boosted (negative) nice level in alps mode, SCHED_FIFO in sfs mode.
 * Needs `npm run build` first.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiRequest } from "../../src/frontend/api/client.js";
import { isRoot, requireHost } from "../helpers/host.js";

const ROOT = join(import.meta.dirname, "../..");
const CLI = join(ROOT, "dist/cli.js");
const runs = requireHost("root (the daemon changes priorities)", isRoot());
const dir = mkdtempSync(join(tmpdir(), "alps-invoke-"));
const socket = join(dir, "alps.sock");
let daemon: ChildProcess | undefined;
let log = "";

// The first statement of CMD: print nice (field 19) and policy (field 41) of /proc/self/stat.
const FIRST_LOOK =
  'open(my $f, "<", "/proc/self/stat") or die; my $s = <$f>; $s =~ s/^.*\\) //; my @x = split / /, $s; print "$x[16] $x[38]\\n";';

describe.skipIf(!runs)("alps invoke registers before the first instruction", () => {
  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const policy = join(dir, "policy.json");
    writeFileSync(
      policy,
      JSON.stringify({
        functions: { spin: { priority: 1, predicted_ms: 80, slice_ms: 400 } },
        default: { priority: 2, predicted_ms: 50, slice_ms: 20 },
      }),
    );
    daemon = spawn(
      process.execPath,
      [
        CLI,
        "daemon",
        "--mode",
        "auto",
        "--policy-file",
        policy,
        "--socket",
        socket,
        "--metrics-port",
        "0",
        "--state-dir",
        join(dir, "state"),
      ],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    daemon.stderr?.on("data", (c: Buffer) => {
      log += c.toString();
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (daemon.exitCode !== null) throw new Error(`daemon exited (${daemon.exitCode}):\n${log}`);
      const up = await apiRequest(socket, "GET", "/v1/status").then(
        (r) => r.status === 200,
        () => false,
      );
      if (up) break;
      if (Date.now() > deadline) throw new Error(`daemon did not come up:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    const d = daemon;
    if (d?.pid !== undefined && d.exitCode === null) {
      const exited = new Promise((r) => d.once("exit", r));
      process.kill(d.pid, "SIGTERM");
      const t = setTimeout(
        () => d.exitCode === null && d.pid !== undefined && process.kill(d.pid, "SIGKILL"),
        10_000,
      );
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("CMD's first look at itself shows the backend's treatment; the policy file is applied as is", async () => {
    const status = (await apiRequest(socket, "GET", "/v1/status")).body as {
      mode: string;
      policy_source: string;
    };
    expect(status.policy_source).toBe("file");
    const served = (await apiRequest(socket, "GET", "/v1/policy")).body as {
      functions: Record<string, { slice_ms: number }>;
    };
    expect(served.functions.spin?.slice_ms).toBe(400);
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [CLI, "invoke", "--function", "spin", "--socket", socket, "--", "perl", "-e", FIRST_LOOK],
        { timeout: 30_000 },
        (error, stdout, stderr) =>
          error === null ? resolve(stdout) : reject(new Error(`${error.message}\n${stderr}`)),
      ),
    );
    const [nice, policy] = out.trim().split(" ").map(Number);
    if (status.mode === "alps") {
      expect(nice).toBeLessThan(0); // boosted from the first instruction
      expect(policy).toBe(0); // fair class, never RT in alps mode
    } else if (status.mode === "sfs") {
      expect(policy).toBe(1); // SCHED_FIFO for its slice
    } else {
      throw new Error(`auto picked ${status.mode}, which gives no treatment to check:\n${log}`);
    }
  }, 60_000);
});
