/**
 * The line protocol's socket against the same rules as HTTP (the daemon in
 * this process, observe-only backend, so no task is changed; the real
 * daemon with BPF is test/kernel/line-api.test.ts): where it listens and
 * with which mode, the pid rule, pipelining, refusals counted together with
 * HTTP's, requests counted per protocol, the shared rate limit, an
 * over-long line, and the file removed at close.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiRequest } from "../../../src/frontend/api/client.js";
import { LineApiError, LineClient } from "../../../src/frontend/api/line-client.js";
import { resumeRefusal, signalRefusal } from "../../../src/frontend/api/routes.js";
import { ApiServer, lineSocketOf } from "../../../src/frontend/api/server.js";
import { ManualClock } from "../../../src/frontend/clock.js";
import { Daemon } from "../../../src/frontend/daemon.js";
import { ObserveBackend } from "../observe-backend.js";
import { readSched } from "../../helpers/processes.js";

const dir = mkdtempSync(join(tmpdir(), "alps-line-"));
const socket = join(dir, "alps.sock");
const lineSocket = join(dir, "alps-line.sock");
/** A daemon in this process that changes no task. */
function observeDaemon(backend = new ObserveBackend()): Daemon {
  return new Daemon({ backend, clock: new ManualClock(), cores: 2, utilization: null });
}
const backend = new ObserveBackend();
const daemon = observeDaemon(backend);
const requests: string[] = [];
const refusals: string[] = [];
const logs: string[] = [];
const api = new ApiServer({
  daemon,
  socketPath: socket,
  maxBodyBytes: 1024,
  ratePerSecond: 1000,
  log: (m) => logs.push(m),
  onRefusal: (r) => refusals.push(r),
  onRequest: (route, protocol) => requests.push(`${route} ${protocol}`),
});
let child: ChildProcess | undefined;
const client = new LineClient(lineSocket);

/** The state letter of `pid` (/proc/<pid>/stat), "?" once it is gone. */
const stateOf = (pid: number): string => readSched(pid)?.state ?? "?";

/** Waits (asleep, up to 5 s) until the state of `pid` passes `ok`. */
async function waitForState(pid: number, ok: (state: string) => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(stateOf(pid)); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ok(stateOf(pid)), `state of ${pid}: ${stateOf(pid)}`).toBe(true);
}

/** Sends raw bytes on a new connection; resolves what came back once the server closed it or `lines` answers came. */
function raw(text: string, lines: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = connect(lineSocket);
    let got = "";
    const done = (): void => {
      s.destroy();
      resolve(got.split("\n").filter((l) => l !== ""));
    };
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      got += d;
      if (got.split("\n").length - 1 >= lines) done();
    });
    s.on("end", done);
    s.on("error", reject);
    s.write(text);
  });
}

beforeAll(async () => {
  await api.listen();
  child = spawn("sleep", ["30"], { stdio: "ignore" });
});
afterAll(async () => {
  client.close();
  if (child?.pid !== undefined) process.kill(child.pid, "SIGKILL");
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("line protocol socket", () => {
  it("listens beside the API socket, mode 0600, and GET /v1/status says where", async () => {
    expect(lineSocketOf(socket)).toBe(lineSocket);
    expect(lineSocketOf("/run/x/api")).toBe("/run/x/api-line");
    const st = statSync(lineSocket);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    const status = await apiRequest(socket, "GET", "/v1/status");
    expect((status.body as { line_socket: string }).line_socket).toBe(lineSocket);
  });

  it("starts and ends an invocation of a descendant, as HTTP does", async () => {
    const pid = child?.pid as number;
    const started = await client.start("f", pid);
    expect(started.pid).toBe(pid);
    expect(backend.started.at(-1)).toEqual({ fn: "f", pid });
    const ended = await client.end(started.id, 3);
    expect(ended).toEqual({ id: started.id, cpuMs: 3, cpuSource: "client" });
    expect(backend.ended).toContain(pid);
    // Ended: a second end is 404, as over HTTP.
    await expect(client.end(started.id)).rejects.toMatchObject({
      status: 404,
      reason: "not_found",
    });
  });

  it("resume: continues the stopped task once it is registered; without it the task stays stopped", async () => {
    const parked = spawn("sleep", ["30"], { stdio: "ignore" });
    const pid = parked.pid as number;
    try {
      process.kill(pid, "SIGSTOP");
      await waitForState(pid, (s) => s === "T");
      const plain = await client.start("f", pid);
      // Registered without resume: nobody continued it.
      await new Promise((r) => setTimeout(r, 50));
      expect(stateOf(pid)).toBe("T");
      await client.end(plain.id);
      const resumed = await client.start("f", pid, true);
      expect(backend.started.at(-1)).toEqual({ fn: "f", pid });
      // SIGCONT was sent after the start: the sleep runs (sleeps) again.
      await waitForState(pid, (s) => s !== "T");
      await client.end(resumed.id);
    } finally {
      parked.kill("SIGKILL");
    }
  });

  it("resume: the daemon sends no signal the caller could not send (kill(2)'s uid rule)", () => {
    // A caller of this process's uid may; a caller of another uid may not.
    const me = process.getuid?.() ?? 0;
    expect(resumeRefusal(process.pid, me)).toBeUndefined();
    expect(resumeRefusal(process.pid, me + 4242)).toMatch(
      new RegExp(`runs as uids ${me}/${me}/${me}/${me} .*uid ${me + 4242} could not signal it`),
    );
    expect(resumeRefusal(4_194_304, me)).toBe("pid 4194304 is gone");
    // The platform is held to what the daemon itself may signal (signal 0).
    expect(signalRefusal(process.pid)).toBeUndefined();
    expect(signalRefusal(4_194_304)).toMatch(
      /pid 4194304 cannot be continued by the daemon: .*ESRCH/,
    );
  });

  it("takes the caller's own pid when none is given", async () => {
    // The client is this process, the daemon's own: the pid rule refuses it by name.
    await expect(client.start("self")).rejects.toMatchObject({
      status: 403,
      message: expect.stringContaining("the daemon itself"),
    });
  });

  it("refuses pid 1 and a pid that is not the caller's descendant, and changes nothing", async () => {
    const before = backend.started.length;
    for (const pid of [1, 2, process.ppid]) {
      const error = await client.start("f", pid).catch((e: unknown) => e);
      expect(error, String(pid)).toBeInstanceOf(LineApiError);
      expect(error).toMatchObject({ status: 403, reason: "forbidden_pid" });
    }
    expect(backend.started.length).toBe(before);
    expect(refusals.filter((r) => r === "forbidden_pid").length).toBe(4);
  });

  it("answers pipelined requests in order, on one connection", async () => {
    const pid = child?.pid as number;
    const answers = await raw(`S a ${pid}\nS bad! ${pid}\nQ\nS b ${pid}\n`, 4);
    expect(answers[0]).toMatch(/^201 \d+ \d+$/);
    expect(answers[1]).toMatch(/^400 invalid_body field 'function': /);
    expect(answers[2]).toMatch(/^400 bad_line /);
    expect(answers[3]).toMatch(/^201 \d+ \d+$/);
    const ids = [answers[0], answers[3]].map((a) => (a as string).split(" ")[1]);
    const ends = await raw(ids.map((id) => `E ${id}\n`).join(""), 2);
    expect(ends.map((e) => e.split(" ").slice(0, 2).join(" "))).toEqual(
      ids.map((id) => `200 ${id}`),
    );
  });

  it("answers an over-long line with 413 and closes the connection", async () => {
    const answers = await raw(`S ${"a".repeat(5000)}`, 2);
    expect(answers).toEqual([expect.stringMatching(/^413 too_large /)]);
  });

  it("counts requests per route and protocol, and refusals with HTTP's", async () => {
    expect(requests).toContain("start line");
    expect(requests).toContain("end line");
    expect(requests).toContain("status http");
    const status = await apiRequest(socket, "GET", "/v1/status");
    const counted = (status.body as { api_refusals: Record<string, number> }).api_refusals;
    expect(counted.forbidden_pid).toBe(4);
    expect(counted.bad_line).toBe(1);
    expect(counted.too_large).toBe(1);
    expect(logs.some((l) => l.startsWith("api: refused (403 forbidden_pid"))).toBe(true);
  });
});

describe("line protocol limits", () => {
  it("shares the uid's rate limit with HTTP", async () => {
    const d2 = observeDaemon();
    const sock2 = join(dir, "rate.sock");
    const slow = new ApiServer({
      daemon: d2,
      socketPath: sock2,
      maxBodyBytes: 1024,
      ratePerSecond: 5,
    });
    await slow.listen();
    const c2 = new LineClient(lineSocketOf(sock2));
    try {
      // The bucket holds 5: three over HTTP, then the line protocol gets what is left.
      for (let i = 0; i < 3; i++)
        expect((await apiRequest(sock2, "GET", "/v1/status")).status).toBe(200);
      const results = await Promise.all(
        Array.from({ length: 6 }, () =>
          c2.start("f", process.pid).then(
            () => "ok",
            (e: unknown) => (e instanceof LineApiError ? e.reason : String(e)),
          ),
        ),
      );
      // The daemon itself may not be registered: each admitted request is forbidden_pid, the rest rate_limited.
      expect(results.filter((r) => r === "rate_limited").length).toBeGreaterThanOrEqual(3);
      expect(results.filter((r) => r === "forbidden_pid").length).toBeLessThanOrEqual(3);
    } finally {
      c2.close();
      await slow.close();
    }
  });

  it("uses the configured path, or none, and removes the file at close", async () => {
    const d3 = observeDaemon();
    const custom = join(dir, "custom-line.sock");
    const s3 = new ApiServer({
      daemon: d3,
      socketPath: join(dir, "three.sock"),
      lineSocketPath: custom,
      maxBodyBytes: 1024,
      ratePerSecond: 10,
    });
    await s3.listen();
    expect(s3.lineSocketPath).toBe(custom);
    expect(statSync(custom).isSocket()).toBe(true);
    await s3.close();
    expect(existsSync(custom)).toBe(false);
    const none = new ApiServer({
      daemon: d3,
      socketPath: join(dir, "four.sock"),
      lineSocketPath: null,
      maxBodyBytes: 1024,
      ratePerSecond: 10,
    });
    await none.listen();
    expect(none.lineSocketPath).toBeNull();
    expect(existsSync(join(dir, "four-line.sock"))).toBe(false);
    await none.close();
  });
});
