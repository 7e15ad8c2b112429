/**
 * Smaller items of issue 19 on a real unix socket: an error reply honours
 * `Connection: close`; refusals are logged aggregated (one line per reason
 * and uid, then a summary), never one line each; metrics can hide function
 * names (hash, none) and be served on a unix socket.
 */
import { request } from "node:http";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ApiServer } from "../../../src/frontend/api/server.js";
import { RefusalLog } from "../../../src/frontend/api/refusal-log.js";
import { ManualClock } from "../../../src/frontend/clock.js";
import { Daemon } from "../../../src/frontend/daemon.js";
import { DaemonMetrics, functionLabel } from "../../../src/frontend/metrics.js";
import { ObserveBackend } from "../observe-backend.js";

const dir = mkdtempSync(join(tmpdir(), "alps-api-trust-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function newDaemon(): Daemon {
  return new Daemon({
    backend: new ObserveBackend(),
    clock: new ManualClock(),
    cores: 2,
    utilization: null,
  });
}

/** One raw request; resolves with the status and the Connection header. */
function raw(
  socketPath: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: "GET", headers, agent: false }, (res) => {
      res.resume();
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

describe("error replies", () => {
  it("close the connection when the client asked for it, and keep it otherwise", async () => {
    const socket = join(dir, "close.sock");
    const api = new ApiServer({
      daemon: newDaemon(),
      socketPath: socket,
      maxBodyBytes: 1024,
      ratePerSecond: 100,
      socketCheckMs: 0,
    });
    await api.listen();
    try {
      const closed = await raw(socket, "/v1/nothing", { connection: "close" });
      expect(closed).toEqual({ status: 404, connection: "close" });
      const kept = await raw(socket, "/v1/nothing", { connection: "keep-alive" });
      expect(kept).toEqual({ status: 404, connection: "keep-alive" });
    } finally {
      await api.close();
    }
  });
});

describe("the refusal log", () => {
  it("logs the first refusal of each reason and uid, and sums up the rest once per interval", () => {
    let now = 0;
    const lines: string[] = [];
    const log = new RefusalLog({ log: (l) => lines.push(l), intervalMs: 10_000, now: () => now });
    for (let i = 0; i < 100_000; i++) log.refused(429, "rate_limited", 1000, "too fast");
    log.refused(403, "forbidden_pid", 1000, "pid 1");
    log.refused(429, "rate_limited", 0, "root too fast");
    expect(lines).toHaveLength(3);
    now = 10_500;
    log.refused(429, "rate_limited", 1000, "too fast");
    expect(lines).toHaveLength(5); // the summary, then the first of the new interval
    expect(lines[3]).toMatch(/also refused in the last 10\.5 s: 99999 rate_limited \(uid 1000\)/);
    log.flush();
    expect(lines).toHaveLength(5); // nothing held back since
  });
});

describe("metrics", () => {
  it("label functions by name, by a hash, or not at all", async () => {
    expect(functionLabel("1234:secret", "name")).toBe("1234:secret");
    expect(functionLabel("1234:secret", "hash")).toMatch(/^h[0-9a-f]{12}$/);
    expect(functionLabel("1234:secret", "hash")).toBe(functionLabel("1234:secret", "hash"));
    expect(functionLabel("1234:secret", "hash")).not.toBe(functionLabel("other", "hash"));
    expect(functionLabel("1234:secret", "none")).toBe("all");
    for (const mode of ["hash", "none"] as const) {
      const daemon = newDaemon();
      const metrics = new DaemonMetrics(daemon, 50, mode);
      const id = daemon.startInvocation("secret", process.pid, { uid: 1234 });
      daemon.endInvocation(id);
      const text = await metrics.registry.metrics();
      expect(text).not.toContain("secret");
      expect(text).toContain(`function="${functionLabel("1234:secret", mode)}"`);
    }
  });

  it("are served on a unix socket, 0600", async () => {
    const daemon = newDaemon();
    const metrics = new DaemonMetrics(daemon, 50);
    const path = join(dir, "metrics.sock");
    await metrics.listenUnix(path);
    try {
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const text = await new Promise<string>((resolve, reject) => {
        const req = request({ socketPath: path, path: "/metrics" }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => {
            body += c.toString("utf8");
          });
          res.on("end", () => resolve(body));
        });
        req.on("error", reject);
        req.end();
      });
      expect(text).toContain("alps_open_invocations");
    } finally {
      await metrics.close();
    }
    expect(() => statSync(path)).toThrow();
  });
});
