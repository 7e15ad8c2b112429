/**
 * The hook client (clients/alps-hook.cjs) against the control API: a child
 * process requires the module as a platform would and registers its own
 * invocations without naming a pid; the API takes the pid from the
 * socket's peer credentials. The daemon here runs in this process with the
 * observe-only backend (no task is changed); the real daemon, and a child
 * in another pid namespace, are in test/kernel/platform-hook.test.ts.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiServer } from "../../../src/frontend/api/server.js";
import { ManualClock } from "../../../src/frontend/clock.js";
import { Daemon } from "../../../src/frontend/daemon.js";
import { ObserveBackend } from "../observe-backend.js";

const HOOK = join(import.meta.dirname, "../../../clients/alps-hook.cjs");
const dir = mkdtempSync(join(tmpdir(), "alps-hook-"));
const socket = join(dir, "alps.sock");
const backend = new ObserveBackend();
const daemon = new Daemon({ backend, clock: new ManualClock(), cores: 2, utilization: null });
const api = new ApiServer({ daemon, socketPath: socket, maxBodyBytes: 1024, ratePerSecond: 1000 });
/** What reached the daemon, in order. */
const events: string[] = [];
daemon.onInvocationStart((inv) => events.push(`start ${inv.fn} ${inv.pid}`));
daemon.onInvocationEnd((r) => events.push(`end ${r.fn} ${r.pid}`));

/** Runs `script` in a child node process with `alps` = the hook module; resolves its JSON output, pid and stderr. */
function child(
  script: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ out: Record<string, unknown>; pid: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = execFile(
      process.execPath,
      [
        "-e",
        `const alps = require(${JSON.stringify(HOOK)});
         (async () => { const out = {}; ${script}; out.pid = process.pid; process.stdout.write(JSON.stringify(out)); process.exit(0); })()
           .catch((e) => { process.stderr.write(String(e && e.stack)); process.exit(3); });`,
      ],
      { env: { ...process.env, ALPS_SOCKET: socket, ...env }, encoding: "utf8", timeout: 20_000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`${err.message}\n${stderr}`));
        const out = JSON.parse(stdout) as Record<string, unknown>;
        resolve({ out, pid: proc.pid ?? -1, stderr });
      },
    );
  });
}

beforeAll(async () => {
  await api.listen();
});
afterAll(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("hook client (clients/alps-hook.cjs)", () => {
  it("registers the calling process itself, then ends the invocation", async () => {
    const before = backend.started.length;
    const { out, pid } = await child(`
      const h = await alps.begin("guest_hello");
      out.handle = h;
      out.record = await alps.end(h);
    `);
    expect(out.handle).toEqual({ id: expect.any(String), pid, fn: "guest_hello" });
    expect(backend.started.slice(before)).toEqual([{ fn: "guest_hello", pid }]);
    expect(backend.ended).toContain(pid);
    expect(out.record).toMatchObject({ fn: "guest_hello", pid });
  });

  it("counts overlapping invocations in one process as one, and keeps ends before later starts", async () => {
    const from = events.length;
    const { out, pid } = await child(`
      let release; const gate = new Promise((r) => { release = r; });
      const a = alps.around("guest_overlap", () => gate.then(() => "a"));
      const b = alps.around("guest_overlap", () => "b");
      out.b = await b;
      release();
      out.a = await a;
      // around() does not wait for its end; the next begin must still reach the daemon after it.
      const h = await alps.begin("guest_after");
      await alps.end(h);
    `);
    expect(out).toMatchObject({ a: "a", b: "b" });
    expect(events.slice(from)).toEqual([
      `start guest_overlap ${pid}`,
      `end guest_overlap ${pid}`,
      `start guest_after ${pid}`,
      `end guest_after ${pid}`,
    ]);
  });

  it("fails open: no daemon, no key — the body runs, undefined handles, one stderr line per failure", async () => {
    const { out, stderr } = await child(
      `
      const h1 = await alps.begin("guest_hello");
      out.first = h1;
      await alps.end(h1);
      out.second = await alps.begin("guest_hello").then((h) => alps.end(h)).then(() => "done");
      out.noKey = await alps.around(alps.openwhiskKey("not-an-action"), () => 42);
      out.body = await alps.around("guest_hello", () => "ran");
      out.thrown = await alps.around("guest_hello", () => { throw new Error("boom"); }).catch((e) => e.message);
    `,
      { ALPS_SOCKET: join(dir, "no-such.sock") },
    );
    expect(out).toMatchObject({ second: "done", noKey: 42, body: "ran", thrown: "boom" });
    expect(out.first).toBeUndefined();
    const lines = stderr.split("\n").filter((l) => l.startsWith("alps-hook:"));
    expect(lines.filter((l) => l.includes("cannot reach the alps daemon"))).toHaveLength(1);
    expect(lines.filter((l) => l.includes("no function key"))).toHaveLength(1);
  });

  it("starts concurrently: the invocation runs before the answer, and the daemon sees start then end", async () => {
    for (const protocol of ["line", "http"]) {
      const from = events.length;
      const { out, pid } = await child(
        `
        const start = alps.begin("guest_concurrent", { registration: "concurrent" });
        out.ranFirst = await Promise.race([start.registered.then(() => "answer"), Promise.resolve("body")]);
        out.record = await alps.end(start);
        out.handle = await start.registered;
        out.around = await alps.around("guest_concurrent", () => "ran", { registration: "concurrent" });
        const h = await alps.begin("guest_after");
        await alps.end(h);
      `,
        { ALPS_HOOK_PROTOCOL: protocol },
      );
      expect(out.ranFirst, protocol).toBe("body");
      expect(out.handle, protocol).toEqual({ id: expect.any(String), pid, fn: "guest_concurrent" });
      expect(out.record, protocol).toMatchObject({ fn: "guest_concurrent", pid });
      expect(out.around, protocol).toBe("ran");
      expect(events.slice(from), protocol).toEqual([
        `start guest_concurrent ${pid}`,
        `end guest_concurrent ${pid}`,
        `start guest_concurrent ${pid}`,
        `end guest_concurrent ${pid}`,
        `start guest_after ${pid}`,
        `end guest_after ${pid}`,
      ]);
    }
  });

  it("a concurrent start that fails and is never read does not end the process", async () => {
    const { out, stderr } = await child(
      `
      const start = alps.begin("guest_hello", { registration: "concurrent" });
      await new Promise((r) => setTimeout(r, 100)); // its failure settles unread
      out.record = await alps.end(start);
      out.body = await alps.around("guest_hello", () => "ran", { registration: "concurrent" });
    `,
      { ALPS_SOCKET: join(dir, "no-such.sock") },
    );
    expect(out).toMatchObject({ body: "ran" });
    expect(out.record).toBeUndefined();
    expect(stderr).toMatch(/alps-hook: cannot reach the alps daemon on .*no-such-line\.sock/);
    expect(stderr).toMatch(
      /alps-hook: end guest_hello: not sent, its concurrent start failed: cannot reach/,
    );
  });

  it("reports a refusal and runs on", async () => {
    const { out, stderr } = await child(`out.h = await alps.begin("bad name!");`);
    expect(out.h).toBeUndefined();
    expect(stderr).toMatch(/alps-hook: start "bad name!": 400 invalid_body: field 'function'/);
    const http = await child(`out.h = await alps.begin("bad name!");`, {
      ALPS_HOOK_PROTOCOL: "http",
    });
    expect(http.out.h).toBeUndefined();
    expect(http.stderr).toMatch(/alps-hook: POST \/v1\/invocations: HTTP 400: field 'function'/);
  });

  it("reports the daemon's refusal over the line protocol and runs on", async () => {
    // The invocation id 99999 was never started: the daemon answers 404.
    const { out, stderr } = await child(
      `const h = await alps.begin("guest_refused"); out.h = h; out.bad = await alps.end({ id: "99999", pid: h.pid, fn: "x" }); await alps.end(h);`,
    );
    expect(out.h).toMatchObject({ fn: "guest_refused" });
    expect(out.bad).toBeUndefined();
    expect(stderr).toMatch(/alps-hook: end 99999: 404 not_found: no open invocation 99999/);
  });
});
