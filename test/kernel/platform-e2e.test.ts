/**
 * End to end: `alps daemon --mode alps --platform cgroup-pattern` beside a
 * "platform" that only creates a sandbox cgroup and runs a CPU-bound
 * invocation in it. Nobody calls the control API: the adapter declares the
 * sandbox, the BPF side follows the task by its cgroup, and the task is
 * promoted (nice < 0) and then demoted to nice 0 once it used its slice.
 * Then the platform removes the sandbox and the daemon forgets it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { hasBtf, isRoot, requireHost } from "../helpers/host.js";
import { CgroupFixture, waitFor } from "../frontend/platforms/cgroup-fixture.js";

const CLI = process.env.ALPS_TEST_CLI ?? "dist/cli.js";
const runs =
  requireHost("root", isRoot()) &&
  requireHost("BTF (/sys/kernel/btf/vmlinux)", hasBtf()) &&
  requireHost("the built BPF object (npm run build)", existsSync("native/build/alps.bpf.o"));

interface Status {
  sandboxes: number;
  open_invocations: number;
  counters: Record<string, number>;
  backend: Record<string, number>;
}

function getStatus(socketPath: string): Promise<Status> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: "/v1/status", method: "GET" }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c.toString("utf8");
      });
      res.on("end", () => {
        try {
          resolve(JSON.parse(body) as Status);
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on("error", reject);
    req.end();
  });
}

/** nice (field 19) and CPU ms (utime+stime) of a task, or undefined once it is gone. */
function niceAndCpu(pid: number): { nice: number; cpuMs: number } | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(")").pop()?.trim().split(" ") ?? [];
    return { nice: Number(f[16]), cpuMs: (Number(f[11]) + Number(f[12])) * 10 };
  } catch {
    return undefined;
  }
}

// Sleeps (so its burst starts inside the sandbox), then burns `argv[1]` ms of
// CPU, checking its CPU clock only every ~20k iterations (docs/architecture.md).
const WORKER = `setTimeout(() => {
  const t = process.cpuUsage(); const lim = Number(process.argv[1]) * 1000; let x = 0;
  for (;;) { for (let i = 0; i < 20000; i++) x += i; const u = process.cpuUsage(t); if (u.user + u.system >= lim) break; }
  process.exit(x > 0 ? 0 : 1);
}, 200);`;

describe.skipIf(!runs)("daemon with the cgroup-pattern adapter, no control API", () => {
  let fx: CgroupFixture | undefined;
  let daemon: ChildProcess | undefined;
  let tmp: string | undefined;

  afterEach(async () => {
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      const d = daemon;
      const exited = new Promise<void>((r) => d.once("exit", () => r()));
      d.kill("SIGTERM"); // the daemon restores every task it changed
      const timer = setTimeout(() => d.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    await fx?.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("promotes and demotes an invocation in a sandbox the platform only created", async () => {
    const f = new CgroupFixture("e2e");
    fx = f;
    tmp = mkdtempSync(join(tmpdir(), "alps-e2e-"));
    const socket = join(tmp, "alps.sock");
    const policyFile = join(tmp, "policy.json");
    writeFileSync(
      policyFile,
      JSON.stringify({
        functions: { fib: { priority: 1, predicted_ms: 80, slice_ms: 150 } },
        default: { priority: 2, predicted_ms: 50, slice_ms: 5 },
      }),
    );
    const faas = f.mkdir(join(f.root, "faas"));
    let log = "";
    daemon = spawn(
      process.execPath,
      [
        CLI,
        "daemon",
        "--mode",
        "alps",
        "--policy-file",
        policyFile,
        "--socket",
        socket,
        "--state-dir",
        join(tmp, "state"),
        "--metrics-port",
        "0",
        "--platform",
        "cgroup-pattern",
        "--pattern",
        `${faas}/{function}/*`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    daemon.stderr?.on("data", (c: Buffer) => {
      log += c.toString("utf8");
    });
    await waitFor(
      () => log.includes("platform adapter cgroup-pattern started"),
      15_000,
      `daemon start; log:\n${log}`,
    );

    // The platform creates a sandbox for "fib": nothing else.
    const sandbox = f.mkdir(join(faas, "fib", "inst-1"));
    let status = await getStatus(socket);
    const t0 = performance.now();
    while (status.sandboxes !== 1 && performance.now() - t0 < 1000) {
      await new Promise((r) => setTimeout(r, 20));
      status = await getStatus(socket);
    }
    expect(status.sandboxes).toBe(1);

    // ...and runs one CPU-bound invocation (600 ms of CPU, slice 150 ms) in it.
    const worker = spawn(process.execPath, ["-e", WORKER, "600"], { stdio: "ignore" });
    f.track(worker);
    const pid = worker.pid ?? -1;
    writeFileSync(join(sandbox, "cgroup.procs"), `${pid}\n`);
    const samples: { nice: number; cpuMs: number }[] = [];
    const deadline = performance.now() + 10_000;
    while (worker.exitCode === null && performance.now() < deadline) {
      const s = niceAndCpu(pid);
      if (s) samples.push(s);
      await new Promise((r) => setTimeout(r, 2));
    }
    if (process.env.ALPS_TEST_VERBOSE)
      console.log(samples.filter((s, i) => i === 0 || s.nice !== samples[i - 1]?.nice));
    const firstBoost = samples.findIndex((s) => s.nice < 0);
    expect(
      firstBoost,
      `nice levels seen: ${[...new Set(samples.map((s) => s.nice))]}`,
    ).toBeGreaterThanOrEqual(0);
    const demoted = samples.slice(firstBoost).find((s) => s.nice === 0);
    expect(demoted, "back to nice 0 after its slice while still running").toBeDefined();
    expect(demoted?.cpuMs ?? 0).toBeGreaterThanOrEqual(100); // it had used (about) its slice

    status = await getStatus(socket);
    expect(status.backend.nr_cgroup_matches).toBeGreaterThan(0);
    expect(status.backend.nr_expired).toBeGreaterThan(0);
    // No control API invocation was ever declared.
    expect(status.counters.invocations_started).toBe(0);
    expect(status.backend.nr_invocations).toBe(0);

    // The platform removes the sandbox: the daemon forgets it within a second.
    await f.kill(worker);
    await f.rmdir(sandbox);
    const t1 = performance.now();
    while (status.sandboxes !== 0 && performance.now() - t1 < 1000) {
      await new Promise((r) => setTimeout(r, 20));
      status = await getStatus(socket);
    }
    expect(status.sandboxes).toBe(0);
  });
});
