import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiRequest } from "../../../src/frontend/api/client.js";
import { ApiServer, type RefusalReason } from "../../../src/frontend/api/server.js";
import { ManualClock } from "../../../src/frontend/clock.js";
import { Daemon } from "../../../src/frontend/daemon.js";
import { isRoot, requireHost } from "../../helpers/host.js";
import { ObserveBackend } from "../observe-backend.js";

const dir = mkdtempSync(join(tmpdir(), "alps-api-"));
const socket = join(dir, "alps.sock");
const backend = new ObserveBackend();
const daemon = new Daemon({ backend, clock: new ManualClock(), cores: 2, utilization: null });
const refusals: RefusalReason[] = [];
const logs: string[] = [];
const api = new ApiServer({
  daemon,
  socketPath: socket,
  maxBodyBytes: 1024,
  ratePerSecond: 1000,
  log: (m) => logs.push(m),
  onRefusal: (r) => refusals.push(r),
});
let child: ChildProcess | undefined;

beforeAll(async () => {
  await api.listen();
  // A child of this (the client) process: a descendant the client may name.
  child = spawn("sleep", ["30"], { stdio: "ignore" });
});
afterAll(async () => {
  if (child?.pid !== undefined) process.kill(child.pid, "SIGKILL");
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("control API access control", () => {
  it("creates the socket with mode 0600", () => {
    const st = statSync(socket);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  it("answers 403 for pid 1", async () => {
    const res = await apiRequest(socket, "POST", "/v1/invocations", { function: "f", pid: 1 });
    expect(res.status).toBe(403);
    expect(JSON.stringify(res.body)).toMatch(/pid 1/);
    expect(refusals).toContain("forbidden_pid");
    expect(backend.started).toEqual([]); // nothing reached the backend
  });

  it("answers 403 for a pid in no sandbox that is not a descendant of the caller", async () => {
    // kthreadd (pid 2) is neither our descendant nor in a sandbox.
    const res = await apiRequest(socket, "POST", "/v1/invocations", { function: "f", pid: 2 });
    expect(res.status).toBe(403);
    // The parent of this process is not our descendant either.
    const parent = await apiRequest(socket, "POST", "/v1/invocations", {
      function: "f",
      pid: process.ppid,
    });
    expect(parent.status).toBe(403);
    expect(backend.started).toEqual([]);
  });

  it("accepts a descendant of the caller, then ends the invocation", async () => {
    const pid = child?.pid as number;
    const res = await apiRequest(socket, "POST", "/v1/invocations", { function: "f", pid });
    expect(res.status).toBe(201);
    const id = (res.body as { id: string }).id;
    expect(backend.started).toEqual([{ fn: "f", pid }]);
    const end = await apiRequest(socket, "POST", `/v1/invocations/${id}/end`, { cpu_ms: 3 });
    expect(end.status).toBe(200);
    expect(end.body).toMatchObject({ fn: "f", cpuMs: 3, cpuSource: "client" });
    const again = await apiRequest(socket, "POST", `/v1/invocations/${id}/end`, {});
    expect(again.status).toBe(404);
  });

  it("refuses sandboxes that are not a directory strictly inside the cgroup v2 hierarchy", async () => {
    const { cgroup2MountIfAny } = await import("../../../src/host/cgroups.js");
    const mount = cgroup2MountIfAny() as string;
    for (const cgroup of ["/tmp", mount, `${mount}/alps-no-such-sandbox`]) {
      const res = await apiRequest(socket, "POST", "/v1/sandboxes", { function: "g", cgroup });
      expect(res.status, cgroup).toBe(400);
      expect(JSON.stringify(res.body)).toMatch(/cgroup/);
    }
    expect(daemon.sandboxes().size).toBe(0);
  });

  it("refuses bad bodies with 400 naming the field, and unknown routes with 404", async () => {
    const r1 = await apiRequest(socket, "POST", "/v1/invocations", { function: "f", pid: "12" });
    expect(r1.status).toBe(400);
    expect(JSON.stringify(r1.body)).toMatch(/pid/);
    const r2 = await apiRequest(socket, "POST", "/v1/invocations", { function: "", pid: 5 });
    expect(r2.status).toBe(400);
    const r3 = await apiRequest(socket, "POST", "/v1/sandboxes", {
      function: "f",
      cgroup: "/sys/fs/cgroup/../etc",
    });
    expect(r3.status).toBe(400);
    const r4 = await apiRequest(socket, "GET", "/v1/nothing");
    expect(r4.status).toBe(404);
    const r5 = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          socketPath: socket,
          method: "POST",
          path: "/v1/invocations",
          headers: { "content-type": "application/json" },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end("{not json");
    });
    expect(r5).toBe(400);
  });

  it("refuses bodies over the size limit with 413", async () => {
    const res = await apiRequest(socket, "POST", "/v1/invocations", {
      function: "f",
      pid: 5,
      pad: "x".repeat(5000),
    });
    expect(res.status).toBe(413);
    expect(refusals).toContain("too_large");
  });

  it("serves the policy and a status that counts every refusal", async () => {
    const policy = await apiRequest(socket, "GET", "/v1/policy");
    expect(policy.status).toBe(200);
    expect(policy.body).toHaveProperty("default");
    const status = await apiRequest(socket, "GET", "/v1/status");
    const body = status.body as { mode: string; api_refusals: Record<string, number> };
    expect(body.mode).toBe("cfs");
    expect(body.api_refusals.forbidden_pid).toBeGreaterThanOrEqual(3);
    expect(body.api_refusals.too_large).toBe(1);
    // Logged aggregated: the first refusal of each reason (per uid) as it happens, the rest in a summary.
    const lines = logs.filter((l) => l.startsWith("api: refused ("));
    expect(lines.length).toBe(new Set(refusals).size);
    for (const reason of new Set(refusals)) expect(lines.join("\n")).toContain(` ${reason}, uid `);
  });
});

describe("control API rate limit", () => {
  it("answers 429 past the rate and counts it", async () => {
    const sock2 = join(dir, "rate.sock");
    const d2 = new Daemon({
      backend: new ObserveBackend(),
      clock: new ManualClock(),
      cores: 2,
      utilization: null,
    });
    const seen: RefusalReason[] = [];
    const slow = new ApiServer({
      daemon: d2,
      socketPath: sock2,
      maxBodyBytes: 1024,
      ratePerSecond: 5,
      onRefusal: (r) => seen.push(r),
    });
    await slow.listen();
    try {
      const codes = await Promise.all(
        Array.from({ length: 20 }, () =>
          apiRequest(sock2, "GET", "/v1/status").then((r) => r.status),
        ),
      );
      expect(codes.filter((c) => c === 200).length).toBeLessThanOrEqual(6);
      expect(codes.filter((c) => c === 429).length).toBeGreaterThanOrEqual(14);
      expect(seen.filter((r) => r === "rate_limited").length).toBe(
        codes.filter((c) => c === 429).length,
      );
    } finally {
      await slow.close();
    }
  });

  it("will not replace a socket a live server answers on", async () => {
    const d3 = new Daemon({
      backend: new ObserveBackend(),
      clock: new ManualClock(),
      cores: 2,
      utilization: null,
    });
    const twin = new ApiServer({
      daemon: d3,
      socketPath: socket,
      maxBodyBytes: 1024,
      ratePerSecond: 10,
    });
    await expect(twin.listen()).rejects.toThrow(/another daemon/);
  });
});

describe("control API socket permissions and fuzzing", () => {
  it.skipIf(!requireHost("root, to change socket owners and groups", isRoot()))(
    "a non-root client cannot open the default 0600 socket",
    async () => {
      const code = `require("net").connect(${JSON.stringify(socket)}).on("connect", () => { console.log("connected"); process.exit(0); }).on("error", (e) => { console.log(e.code); process.exit(0); });`;
      const out = await new Promise<string>((resolve, reject) =>
        execFile(
          process.execPath,
          ["-e", code],
          { uid: 65534, gid: 65534, timeout: 20_000 },
          (error, stdout) => (error ? reject(error) : resolve(stdout.trim())),
        ),
      );
      expect(out).toBe("EACCES");
    },
  );

  it.skipIf(!requireHost("root, to change socket owners and groups", isRoot()))(
    "a configured group gets a 0660 socket owned by that group",
    async () => {
      const sock = join(dir, "group.sock");
      const d = new Daemon({
        backend: new ObserveBackend(),
        clock: new ManualClock(),
        cores: 2,
        utilization: null,
      });
      const grouped = new ApiServer({
        daemon: d,
        socketPath: sock,
        socketGroup: "65534",
        maxBodyBytes: 1024,
        ratePerSecond: 10,
      });
      await grouped.listen();
      try {
        const st = statSync(sock);
        expect(st.mode & 0o777).toBe(0o660);
        expect(st.gid).toBe(65534);
      } finally {
        await grouped.close();
      }
    },
  );

  it("answers arbitrary bodies with 201 (only for our own descendants) or a clear 4xx, and keeps serving", async () => {
    const started = backend.started.length;
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record(
            {
              function: fc.oneof(fc.string(), fc.integer()),
              pid: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(child?.pid)),
            },
            { requiredKeys: [] },
          ),
          fc.jsonValue(),
        ),
        fc.constantFrom("/v1/invocations", "/v1/sandboxes"),
        async (body, path) => {
          const res = await apiRequest(socket, "POST", path, body);
          statuses.add(res.status);
          expect([201, 400, 403, 413]).toContain(res.status);
          if (res.status !== 201) expect(res.body).toHaveProperty("error.message");
        },
      ),
      { numRuns: 1000 },
    );
    // Every task that reached the backend is our own child (the only pid the rule lets through here).
    for (const s of backend.started.slice(started)) expect(s.pid).toBe(child?.pid);
    expect((await apiRequest(socket, "GET", "/v1/status")).status).toBe(200);
    expect(statuses.has(400)).toBe(true);
  });
});
