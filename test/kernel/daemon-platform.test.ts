/**
 * `alps daemon --platform cgroup-pattern --pattern P` wires helper G's
 * adapter: a sandbox cgroup created under the pattern is declared to the
 * daemon (and its backend) within a second or two, and removed when the
 * directory goes. Then the pid rule accepts a task inside it that is not
 * the caller's descendant. Needs `npm run build` first.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiRequest } from "../../src/frontend/api/client.js";
import { cgroup2MountIfAny } from "../../src/host/cgroups.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { rmdirWhenEmpty } from "../helpers/cgroup-dir.js";

const ROOT = join(import.meta.dirname, "../..");
const CLI = join(ROOT, "dist/cli.js");
const mount = cgroup2MountIfAny();
const runs = requireHost("root and a cgroup v2 hierarchy", isRoot() && mount !== undefined);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe.skipIf(!runs)("alps daemon with the cgroup-pattern platform adapter", () => {
  const dir = mkdtempSync(join(tmpdir(), "alps-platform-"));
  const socket = join(dir, "alps.sock");
  const base = join(mount ?? "/", `alps-test-platform-${process.pid}`);
  const sandbox = join(base, "thumbnail");
  let daemon: ChildProcess | undefined;
  let log = "";
  let orphan = 0;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    mkdirSync(base);
    daemon = spawn(
      process.execPath,
      [
        CLI,
        "daemon",
        "--mode",
        "auto",
        "--platform",
        "cgroup-pattern",
        "--pattern",
        `${base}/{function}`,
        "--socket",
        socket,
        "--metrics-port",
        "0",
        "--state-dir",
        join(dir, "state"),
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    daemon.stderr?.on("data", (c: Buffer) => {
      log += c.toString();
    });
    await until(
      "the daemon",
      () =>
        apiRequest(socket, "GET", "/v1/status").then(
          (r) => r.status === 200,
          () => false,
        ),
      20_000,
    );
  });

  afterAll(async () => {
    try {
      if (orphan > 0) process.kill(orphan, "SIGKILL");
    } catch {
      // already gone
    }
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
    for (const p of [sandbox, base]) await rmdirWhenEmpty(p);
    rmSync(dir, { recursive: true, force: true });
  });

  it("declares a new sandbox, accepts its tasks, and forgets it when it goes", async () => {
    const status = async () =>
      (await apiRequest(socket, "GET", "/v1/status")).body as { sandboxes: number };
    expect((await status()).sandboxes).toBe(0);
    mkdirSync(sandbox);
    await until("the sandbox to be declared", async () => (await status()).sandboxes === 1);
    expect(log).toMatch(/platform adapter cgroup-pattern started/);

    orphan = Number(
      execFileSync("sh", ["-c", "sleep 30 >/dev/null 2>&1 & echo $!"]).toString().trim(),
    );
    writeFileSync(join(sandbox, "cgroup.procs"), String(orphan));
    const res = await apiRequest(socket, "POST", "/v1/invocations", {
      function: "thumbnail",
      pid: orphan,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const id = (res.body as { id: string }).id;
    expect((await apiRequest(socket, "POST", `/v1/invocations/${id}/end`, {})).status).toBe(200);

    process.kill(orphan, "SIGKILL");
    // It leaves the cgroup once it has exited; any error but EBUSY is a failure.
    await rmdirWhenEmpty(sandbox);
    await until("the sandbox to be removed", async () => (await status()).sandboxes === 0);
  }, 60_000);
});
