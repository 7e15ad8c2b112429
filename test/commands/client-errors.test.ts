/**
 * The daemon's clients (`alps policy`, `alps invoke`) as a person meets them:
 * no daemon is one line on stderr, never a stack; `alps invoke` passes its
 * command's status through and keeps 125/126/127 for its own failures; with
 * --fail-open the command runs unscheduled and stderr says so. The daemon is
 * the real Daemon and control API in this process (observe-only backend).
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/commands/exit-codes.js";
import { ApiServer } from "../../src/frontend/api/server.js";
import { ManualClock } from "../../src/frontend/clock.js";
import { Daemon } from "../../src/frontend/daemon.js";
import { ensureBuilt, runCliAsync } from "../helpers/cli.js";
import { ObserveBackend } from "../frontend/observe-backend.js";

const dir = mkdtempSync(join(tmpdir(), "alps-client-errors-"));
const absent = join(dir, "absent.sock");
const socket = join(dir, "alps.sock");
const backend = new ObserveBackend();
const daemon = new Daemon({
  backend,
  clock: new ManualClock(),
  cores: 2,
  utilization: null,
  config: { maxOpenInvocations: 1 },
});
const api = new ApiServer({ daemon, socketPath: socket, maxBodyBytes: 4096, ratePerSecond: 1000 });

beforeAll(async () => {
  ensureBuilt();
  await api.listen();
}, 200_000);
afterAll(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `alps invoke --function FN --socket SOCKET [flags…] -- CMD…`. */
function invoke(fn: string, on: string, flags: string[], ...cmd: string[]) {
  return runCliAsync(["invoke", "--function", fn, "--socket", on, ...flags, "--", ...cmd]);
}

/** No JavaScript stack frame ("    at f (file:1:2)") in what a person reads. */
const noStack = (text: string) => expect(text).not.toMatch(/^\s+at /m);

describe("no daemon on the socket", () => {
  it("alps policy: one line, exit 1", async () => {
    const r = await runCliAsync(["policy", "--socket", absent]);
    expect(r.code).toBe(EXIT.failure);
    expect(r.stdout).toBe("");
    expect(r.stderr.split("\n")).toEqual([
      `alps policy: cannot reach the alps daemon on ${absent}: no such socket (is \`alps daemon\` running? --socket or ALPS_SOCKET names another)`,
      "",
    ]);
  });

  it("alps policy: the socket from ALPS_SOCKET; nothing listening is one line too", async () => {
    const stale = join(dir, "stale.sock");
    writeFileSync(stale, "");
    const r = await runCliAsync(["policy"], { ALPS_SOCKET: stale });
    expect(r.code).toBe(EXIT.failure);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(`on ${stale}: `);
    noStack(r.stderr);
  });

  it("alps invoke: its own failure is 125, one line, and the command never ran", async () => {
    const marker = join(dir, "ran");
    const r = await invoke("f", absent, [], "touch", marker);
    expect(r.code).toBe(EXIT.invokeFailed);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^alps invoke: cannot reach the alps daemon on /);
    expect(existsSync(marker)).toBe(false);
  });

  it("alps invoke --fail-open: the command runs unscheduled, its status passes, stderr says so", async () => {
    const marker = join(dir, "ran-open");
    const r = await invoke(
      "f",
      absent,
      ["--fail-open", "--json"],
      "sh",
      "-c",
      `touch ${marker}; exit 3`,
    );
    expect(r.code).toBe(3);
    expect(existsSync(marker)).toBe(true);
    expect(r.stderr).toContain("running the command unscheduled (--fail-open)");
    expect(JSON.parse(r.stdout)).toMatchObject({ function: "f", exit_code: 3, scheduled: false });
  });
});

describe("alps invoke's exit status", () => {
  it("a usage error is 125, not commander's 1", async () => {
    const r = await runCliAsync(["invoke", "--socket", socket, "--", "true"]);
    expect(r.code).toBe(EXIT.invokeFailed);
    expect(r.stderr).toContain("required option '--function <name>'");
  });

  it("under the daemon: registered, the command's status passes through (0 and 7)", async () => {
    const before = backend.started.length;
    const ok = await invoke("fa", socket, [], "true");
    expect(ok.code).toBe(0);
    expect(ok.stderr).toBe("");
    const seven = await invoke("fb", socket, ["--json"], "sh", "-c", "exit 7");
    expect(seven.code).toBe(7);
    expect(JSON.parse(seven.stdout)).toMatchObject({ exit_code: 7, scheduled: true });
    expect(backend.started.slice(before).map((s) => s.fn)).toEqual(["fa", "fb"]);
    expect(daemon.status().open_invocations).toBe(0);
  });

  it("a signal that ends the command is 128 + n", async () => {
    const r = await invoke("f", socket, [], "sh", "-c", "kill -TERM $$");
    expect(r.code).toBe(128 + 15);
  });

  it("127: not found; 126: found but not executable", async () => {
    const missing = await invoke("f", socket, [], "no-such-command-alps");
    expect(missing.code).toBe(EXIT.notFound);
    expect(missing.stderr).toContain("alps invoke: no-such-command-alps: command not found");
    const script = join(dir, "not-executable.sh");
    writeFileSync(script, "#!/bin/sh\nexit 0\n");
    chmodSync(script, 0o644);
    const denied = await invoke("f", socket, [], script);
    expect(denied.code).toBe(EXIT.cannotExecute);
  });

  it("refused by the daemon (open limit): 125 without --fail-open, the command's status with it", async () => {
    // Hold the one open invocation the daemon allows.
    const held = daemon.startInvocation("holder", process.pid);
    try {
      const refused = await invoke("f", socket, [], "true");
      expect(refused.code).toBe(EXIT.invokeFailed);
      expect(refused.stderr).toMatch(/^alps invoke: the daemon refused the invocation \(\d+\)/);
      const open = await invoke("f", socket, ["--fail-open"], "sh", "-c", "exit 4");
      expect(open.code).toBe(4);
      expect(open.stderr).toContain("refused the invocation");
      expect(open.stderr).toContain("running the command unscheduled (--fail-open)");
    } finally {
      daemon.endInvocation(held);
    }
  });
});
