/**
 * The hook contract against the real daemon (`dist/cli.js daemon --platform
 * openwhisk`, beside a local Docker Engine API whose containers are real
 * processes in real cgroups):
 *   - the client module registers its own process without naming a pid,
 *     from this pid namespace and from a separate one (`unshare --pid
 *     --fork`): the daemon records the host pid, not the namespace's 1;
 *   - the Node.js action proxy's routing file from clients/examples/, run
 *     in a separate pid namespace inside a prewarm_nodejs20 stem cell: its
 *     first /run registers guest_hello and the daemon re-keys the container;
 *   - the Python snippet of docs/platforms.md, as it stands there;
 *   - a concurrent start (`registration: "concurrent"`): registered and
 *     ended, and its refusal reported to the caller. The daemon takes one
 *     open invocation (`--max-open-invocations 1`), so a held one makes it
 *     refuse the next start (503 open_limit); the other tests open one at a
 *     time.
 * Needs `npm run build` first.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiRequest } from "../../src/frontend/api/client.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { CgroupFixture, waitFor } from "../frontend/platforms/cgroup-fixture.js";
import { FakeDockerEngine } from "../frontend/platforms/fake-docker.js";

const ROOT = join(import.meta.dirname, "../..");
const CLI = join(ROOT, "dist/cli.js");
const HOOK = join(ROOT, "clients/alps-hook.cjs");
const ROUTES = join(ROOT, "clients/examples/openwhisk-nodejs/openwhisk.js");
const runs =
  requireHost("root (cgroups, pid namespaces)", isRoot()) &&
  requireHost("a built CLI (npm run build)", existsSync(CLI)) &&
  requireHost("unshare (util-linux)", existsSync("/usr/bin/unshare"));

interface Status {
  sandboxes: number;
  counters: Record<string, number>;
}

/** A child's output as JSON, with a bound on its run time. */
function runJson(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { env: { ...process.env, ...env }, encoding: "utf8", timeout: 20_000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`${cmd} failed: ${err.message}\n${stderr}`));
        try {
          resolve(JSON.parse(stdout) as Record<string, unknown>);
        } catch {
          reject(new Error(`${cmd}: not JSON: ${stdout}\n${stderr}`));
        }
      },
    );
  });
}

// The client, one invocation, and what the process knows of itself: its pid
// here, and its pids in every namespace (NSpid, from the host's /proc).
const CLIENT = `
const alps = require(process.env.ALPS_HOOK);
(async () => {
  const nspid = require("node:fs").readFileSync("/proc/self/status", "utf8").match(/^NSpid:\\s+(.*)$/m)[1].split(/\\s+/).map(Number);
  const handle = await alps.begin("guest_hello");
  const record = await alps.end(handle);
  process.stdout.write(JSON.stringify({ pid: process.pid, nspid, handle, record }));
  process.exit(0);
})();`;

// A concurrent start: the function runs at once (~20 ms of CPU, bounded by
// its CPU time), the start on its way; what the caller learns of it, from
// the hook's promise and its onError.
const CONCURRENT_CLIENT = `
const alps = require(process.env.ALPS_HOOK);
const errors = [];
const hook = alps.createHook({ onError: (e) => errors.push(e.message) });
(async () => {
  const start = hook.begin("guest_concurrent", { registration: "concurrent" });
  const first = await Promise.race([start.registered.then(() => "answer", () => "answer"), Promise.resolve("body")]);
  const t = process.cpuUsage(); let x = 0;
  while (process.cpuUsage(t).user < 20000) for (let i = 0; i < 10000; i++) x += i;
  const record = await hook.end(start);
  let handle, error;
  try { handle = await start.registered; } catch (e) { error = e.message; }
  process.stdout.write(JSON.stringify({ pid: process.pid, first, handle, error, record, errors, x: x > 0 }));
  process.exit(0);
})();`;

// A stand-in for the runtime's app.js: the routing file under test, given
// the factory interface the runtime's platform.js provides (service,
// wrapEndpoint), and one /run per line read on stdin.
const PROXY = `
const Routes = require(process.argv[2]);
const routes = {};
const app = { post: (path, handler) => { routes[path] = handler; } };
const service = {
  initCode: async () => ({ code: 200, response: { OK: true } }),
  runCode: async (req) => {
    const t = process.cpuUsage(); let x = 0;
    while (process.cpuUsage(t).user < 20000) for (let i = 0; i < 10000; i++) x += i; // ~20 ms of CPU
    return { code: 200, response: { greeting: "hello " + req.body.value.name, x: x > 0 } };
  },
};
const factory = {
  service,
  wrapEndpoint: (ep) => (req, res) => {
    ep(req).then((r) => res.status(r.code).json(r.response), (e) => res.status(e.code || 500).json(e.response || { error: String(e) }));
  },
};
new Routes(factory).registerHandlers(app);
process.stdin.setEncoding("utf8");
process.stdin.on("data", () => {
  const res = {
    status(c) { this.code = c; return this; },
    json(body) { process.stdout.write(JSON.stringify({ pid: process.pid, code: this.code, body }) + "\\n"); },
  };
  routes["/run"]({ body: { action_name: "/guest/hello", namespace: "guest", activation_id: "a1", value: { name: "alps" } } }, res);
});
setTimeout(() => process.exit(0), 30000).unref();
process.stdin.on("end", () => setTimeout(() => process.exit(0), 300));`;

describe.skipIf(!runs)("hook contract against the real daemon", () => {
  const dir = mkdtempSync(join(tmpdir(), "alps-hook-k-"));
  const socket = join(dir, "alps.sock");
  const fx = new CgroupFixture("hook");
  const engine = new FakeDockerEngine(join(dir, "docker.sock"));
  let daemon: ChildProcess | undefined;
  let log = "";
  const orphans: number[] = [];

  const status = async (): Promise<Status> =>
    (await apiRequest(socket, "GET", "/v1/status")).body as Status;

  beforeAll(async () => {
    await engine.listen();
    daemon = spawn(
      process.execPath,
      [
        CLI,
        "daemon",
        "--mode",
        "auto",
        "--socket",
        socket,
        "--state-dir",
        join(dir, "state"),
        "--metrics-port",
        "0",
        "--platform",
        "openwhisk",
        "--docker-socket",
        engine.socketPath,
        "--max-open-invocations",
        "1",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    daemon.stderr?.on("data", (c: Buffer) => {
      log += c.toString("utf8");
    });
    await waitFor(
      () => log.includes("platform adapter openwhisk started"),
      20_000,
      `the daemon; log:\n${log}`,
    );
  });

  afterAll(async () => {
    for (const pid of orphans) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    const d = daemon;
    if (d && d.exitCode === null && d.signalCode === null) {
      const exited = new Promise<void>((r) => d.once("exit", () => r()));
      d.kill("SIGTERM"); // the daemon restores every task it changed
      const timer = setTimeout(() => d.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await engine.close();
    await fx.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("registers the calling process itself, from this pid namespace", async () => {
    const before = (await status()).counters;
    const out = await runJson(process.execPath, ["-e", CLIENT], {
      ALPS_HOOK: HOOK,
      ALPS_SOCKET: socket,
    });
    expect(out.handle).toEqual({ id: expect.any(String), pid: out.pid, fn: "guest_hello" });
    expect(out.record).toMatchObject({ fn: "guest_hello", pid: out.pid });
    const after = (await status()).counters;
    expect(after.invocations_started).toBe((before.invocations_started ?? 0) + 1);
    expect(after.invocations_ended).toBe((before.invocations_ended ?? 0) + 1);
  });

  it("registers the calling process itself from a separate pid namespace, by its host pid", async () => {
    const out = await runJson("unshare", ["--pid", "--fork", process.execPath, "-e", CLIENT], {
      ALPS_HOOK: HOOK,
      ALPS_SOCKET: socket,
    });
    const [hostPid, innerPid] = out.nspid as number[];
    expect(out.pid).toBe(1); // the namespace's own numbering
    expect(innerPid).toBe(1);
    expect(hostPid).toBeGreaterThan(1);
    // The daemon took the pid from the socket's peer credentials, in its own namespace.
    expect(out.handle).toEqual({ id: expect.any(String), pid: hostPid, fn: "guest_hello" });
    expect(out.record).toMatchObject({ fn: "guest_hello", pid: hostPid });
  });

  it("re-keys a prewarm_nodejs20 stem cell on the first /run of the Node.js action proxy's routes", async () => {
    // The image's platform directory: the routing file and the hook beside it.
    const platformDir = mkdtempSync(join(dir, "platform-"));
    copyFileSync(ROUTES, join(platformDir, "openwhisk.js"));
    copyFileSync(HOOK, join(platformDir, "alps-hook.cjs"));
    const proxyScript = join(platformDir, "proxy.js");
    writeFileSync(proxyScript, PROXY);

    // The container: a scope cgroup; its init is the proxy, pid 1 of its own pid namespace.
    const id = randomBytes(32).toString("hex");
    const scope = fx.mkdir(join(fx.root, "system.slice", `docker-${id}.scope`));
    const shell = spawn(
      "sh",
      [
        "-c",
        'echo $$ > "$0/cgroup.procs" && exec unshare --pid --fork "$1" "$2" "$3"',
        scope,
        process.execPath,
        proxyScript,
        join(platformDir, "openwhisk.js"),
      ],
      { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, ALPS_SOCKET: socket } },
    );
    fx.track(shell);
    const unsharePid = shell.pid ?? -1;
    let proxyPid = 0;
    await waitFor(
      () => {
        try {
          proxyPid = Number(
            readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, "utf8")
              .trim()
              .split(" ")[0],
          );
        } catch {
          proxyPid = 0;
        }
        return proxyPid > 0;
      },
      5000,
      "the proxy inside its pid namespace",
    );
    orphans.push(proxyPid);
    const c = {
      id,
      name: "wsk0_2_prewarm_nodejs20",
      pid: proxyPid,
      running: true,
      image: "openwhisk/action-nodejs-v20:nightly",
      labels: {},
      cgroupParent: "",
    };
    engine.containers.set(id, c);
    const declaredBefore = (await status()).sandboxes;
    engine.emit("start", c);
    const t0 = Date.now();
    while ((await status()).sandboxes !== declaredBefore + 1 && Date.now() - t0 < 5000) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await status()).sandboxes).toBe(declaredBefore + 1);
    expect(log).not.toContain("re-keyed");

    // The invoker's first /run to the stem cell.
    let out = "";
    shell.stdout?.on("data", (b: Buffer) => {
      out += b.toString("utf8");
    });
    const before = (await status()).counters;
    shell.stdin?.write("run\n");
    await waitFor(() => out.includes("\n"), 10_000, "the /run response");
    const response = JSON.parse(out.split("\n")[0] ?? "") as {
      pid: number;
      code: number;
      body: unknown;
    };
    expect(response).toEqual({ pid: 1, code: 200, body: { greeting: "hello alps", x: true } });
    await waitFor(
      () => log.includes(`re-keyed from prewarm_nodejs20 to guest_hello (by activation)`),
      5000,
      `the re-key; log:\n${log}`,
    );
    expect(log).toContain(
      `sandbox ${id} re-keyed from prewarm_nodejs20 to guest_hello (by activation)`,
    );
    const t1 = Date.now();
    let after = (await status()).counters;
    while (after.invocations_ended === before.invocations_ended && Date.now() - t1 < 5000) {
      await new Promise((r) => setTimeout(r, 20));
      after = (await status()).counters;
    }
    expect(after.invocations_started).toBe((before.invocations_started ?? 0) + 1);
    expect(after.invocations_ended).toBe((before.invocations_ended ?? 0) + 1);
    expect((await status()).sandboxes).toBe(declaredBefore + 1); // re-keyed, not added twice
    shell.stdin?.end();
  });

  it("a concurrent start registers the caller and ends its invocation", async () => {
    const before = (await status()).counters;
    const out = await runJson(process.execPath, ["-e", CONCURRENT_CLIENT], {
      ALPS_HOOK: HOOK,
      ALPS_SOCKET: socket,
    });
    expect(out.first).toBe("body"); // the function started before the daemon's answer
    expect(out.errors).toEqual([]);
    expect(out.handle).toEqual({ id: expect.any(String), pid: out.pid, fn: "guest_concurrent" });
    expect(out.record).toMatchObject({ fn: "guest_concurrent", pid: out.pid });
    const after = (await status()).counters;
    expect(after.invocations_started).toBe((before.invocations_started ?? 0) + 1);
    expect(after.invocations_ended).toBe((before.invocations_ended ?? 0) + 1);
  });

  it("reports a concurrent start the daemon refuses to the caller, and its end sends nothing", async () => {
    // The one open invocation the daemon takes, held by a task that does nothing.
    const holder = spawn("sleep", ["30"], { stdio: "ignore" });
    const holderPid = holder.pid ?? -1;
    let heldId: string | undefined;
    try {
      const held = await apiRequest(socket, "POST", "/v1/invocations", {
        function: "guest_hold",
        pid: holderPid,
      });
      expect(held.status).toBe(201);
      heldId = (held.body as { id: string }).id;
      const before = await status();
      const out = await runJson(process.execPath, ["-e", CONCURRENT_CLIENT], {
        ALPS_HOOK: HOOK,
        ALPS_SOCKET: socket,
      });
      expect(out.first).toBe("body"); // the function ran regardless
      expect(out.handle).toBeUndefined();
      expect(out.error).toMatch(/^start guest_concurrent: 503 open_limit: /);
      expect(out.record).toBeUndefined();
      expect(out.errors).toEqual([
        out.error,
        `end guest_concurrent: not sent, its concurrent start failed: ${String(out.error)}`,
      ]);
      const after = await status();
      expect(after.counters.invocations_started).toBe(before.counters.invocations_started);
      expect(after.counters.invocations_ended).toBe(before.counters.invocations_ended);
    } finally {
      if (heldId !== undefined)
        await apiRequest(socket, "POST", `/v1/invocations/${heldId}/end`, {});
      holder.kill("SIGKILL");
    }
  });

  it("runs the Python snippet of docs/platforms.md as it stands", async () => {
    const doc = readFileSync(join(ROOT, "docs/platforms.md"), "utf8");
    const block =
      /<!-- hook-python: begin -->\n```python\n([\s\S]*?)```\n<!-- hook-python: end -->/.exec(
        doc,
      )?.[1];
    expect(block, "the python block between the hook-python markers").toBeDefined();
    const script = `${block}
import os, sys
conn = AlpsConnection(sys.argv[1])
h = alps_begin(conn, "guest_py")
rec = alps_end(conn, h)
down = AlpsConnection(sys.argv[1] + ".missing")
print(json.dumps({"pid": os.getpid(), "id": h, "record": rec, "down": alps_begin(down, "guest_py")}))
`;
    const file = join(dir, "hook.py");
    writeFileSync(file, script);
    const out = await runJson("python3", [file, socket], {});
    expect(out.id).toEqual(expect.any(String));
    expect(out.record).toMatchObject({ fn: "guest_py", pid: out.pid });
    expect(out.down).toBeNull(); // no daemon there: None, and the caller runs on
  });
});
