/**
 * The cgroup v2 weight test of the kernel matrix (scripts/kernel-matrix.sh
 * runs it inside each guest, which mounts cgroup v2 only, with the cpu
 * controller). Two sandboxes, each its own v2 cpu cgroup as platforms make
 * them, run one long and one short CPU-bound invocation on one CPU, the long
 * one first. Without alps the kernel splits the CPU between the two groups
 * in half, whatever the tasks' nice levels. With the daemon (the mode that
 * `auto` picks, a fixed policy that ranks the short function first) the
 * short invocation must finish within 1.5x its CPU time, i.e. get at least
 * 2/3 of the CPU while it runs. That needs the actuator to write the level
 * as the sandbox cgroup's weight (cpu.weight, and cpu.idle for the deepest
 * yields): a task's own nice does not reach across groups.
 *
 * Shares are the short task's CPU time over its turnaround, both from its
 * own samples, so the slowness of emulation cancels out.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addonSyscalls, loadAddon } from "../../src/host/addon.js";
import { apiRequest } from "../../src/frontend/api/client.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { cleanupChild, procCpuNs, spawnGatedBurner } from "../kernel/bpf-kit.js";
import { recordFact } from "./facts.js";
import { GATE_MS, burnTimes, warmPlan, warmUp } from "./guest-kit.js";

const ROOT = join(import.meta.dirname, "../..");
const CLI = join(ROOT, "dist/cli.js");
const CGROUP = "/sys/fs/cgroup";
const CAP_MS = 30_000;
const SHORT_MS = 200;
const LONG_MS = 1500;

/** Pure cgroup v2 at /sys/fs/cgroup with the cpu controller available to children. */
function pureV2WithCpu(): boolean {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8");
  if (/ - cgroup /.test(mounts)) return false; // a v1 hierarchy is mounted: hybrid host
  try {
    return readFileSync(join(CGROUP, "cgroup.subtree_control"), "utf8")
      .split(/\s+/)
      .includes("cpu");
  } catch {
    return false;
  }
}

const runs = requireHost(
  "root, pure cgroup v2 with +cpu in the root's subtree_control (the kernel matrix guest)",
  isRoot() && pureV2WithCpu(),
);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!runs)("cgroup v2 weight: two sandboxes, each its own cpu cgroup", () => {
  const dir = mkdtempSync(join(tmpdir(), "alps-weight-"));
  const parent = join(CGROUP, `alps-weight-${process.pid}`);
  const sandboxes = { short: join(parent, "short"), long: join(parent, "long") };
  const syscalls = (() => {
    const a = loadAddon();
    return a.ok ? addonSyscalls(a.addon) : undefined;
  })();
  const children: ChildProcess[] = [];

  beforeAll(() => {
    warmUp();
    mkdirSync(parent);
    writeFileSync(join(parent, "cgroup.subtree_control"), "+cpu");
    mkdirSync(sandboxes.short);
    mkdirSync(sandboxes.long);
    expect(existsSync(join(sandboxes.short, "cpu.weight"))).toBe(true);
  });

  afterAll(async () => {
    for (const c of children) if (syscalls) cleanupChild(c, syscalls);
    for (const cg of [sandboxes.short, sandboxes.long, parent]) {
      for (let i = 0; i < 100 && existsSync(cg); i++) {
        try {
          rmdirSync(cg);
        } catch {
          await sleep(20);
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Long first, short once the long one has run 30 ms; both pinned to CPU 0,
   * each moved into its sandbox before its first instruction. `register`
   * declares an invocation to the daemon (with alps). Returns the short one's share.
   */
  async function race(register?: (fn: string, pid: number) => Promise<string>): Promise<number> {
    const long = await spawnGatedBurner(warmPlan(LONG_MS), CAP_MS, GATE_MS);
    children.push(long.child);
    place(long.pid, sandboxes.long);
    const longId = await register?.("long", long.pid);
    const longDone = long.release();
    const longStart = procCpuNs(long.pid);
    while (procCpuNs(long.pid) - longStart < 30e6) await sleep(5);
    const short = await spawnGatedBurner(warmPlan(SHORT_MS), CAP_MS, GATE_MS);
    children.push(short.child);
    place(short.pid, sandboxes.short);
    const shortId = await register?.("short", short.pid);
    const res = await short.release();
    const longRes = await longDone;
    if (shortId !== undefined) await end(shortId);
    if (longId !== undefined) await end(longId);
    expect(res.exitCode).toBe(0);
    expect(longRes.exitCode).toBe(0);
    const { cpuMs, share } = burnTimes(res);
    expect(cpuMs).toBeGreaterThan(SHORT_MS * 0.9);
    return share;
  }

  /** cpu.weight and cpu.idle of both sandboxes, as one line. */
  function groupWeights(): string {
    // cpu.idle exists from Linux 5.15.
    const read = (cg: string, file: string) =>
      existsSync(join(cg, file)) ? readFileSync(join(cg, file), "utf8").trim() : "absent";
    return Object.entries(sandboxes)
      .map(
        ([fn, cg]) => `${fn} cpu.weight ${read(cg, "cpu.weight")} cpu.idle ${read(cg, "cpu.idle")}`,
      )
      .join(", ");
  }

  let socket = "";
  async function end(id: string): Promise<void> {
    await apiRequest(socket, "POST", `/v1/invocations/${id}/end`, {});
  }

  it("without alps the two sandboxes split the CPU in half", async () => {
    const share = await race();
    recordFact("weight_short_share_without_alps", Number(share.toFixed(2)));
    expect(share).toBeLessThan(0.6);
  });

  it("with alps the short invocation finishes within 1.5x its CPU time", async () => {
    socket = join(dir, "alps.sock");
    const policyFile = join(dir, "policy.json");
    writeFileSync(
      policyFile,
      JSON.stringify({
        functions: {
          short: { priority: 1, predicted_ms: SHORT_MS, slice_ms: SHORT_MS * 2 },
          long: { priority: 2, predicted_ms: LONG_MS * 2, slice_ms: LONG_MS * 2 },
        },
        default: { priority: 3, predicted_ms: 50, slice_ms: 20 },
      }),
    );
    const daemon = spawn(
      process.execPath,
      [
        CLI,
        "daemon",
        "--mode",
        "auto",
        "--policy-file",
        policyFile,
        "--socket",
        socket,
        "--metrics-port",
        String(await freePort()),
        "--state-dir",
        join(dir, "state"),
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    children.push(daemon);
    let log = "";
    daemon.stderr?.on("data", (c: Buffer) => {
      log += c.toString();
    });
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (daemon.exitCode !== null)
          throw new Error(`daemon exited (${daemon.exitCode}):\n${log}`);
        const up = await apiRequest(socket, "GET", "/v1/status").then(
          (r) => r.status === 200,
          () => false,
        );
        if (up) break;
        if (Date.now() > deadline) throw new Error(`daemon did not come up:\n${log}`);
        await sleep(100);
      }
      const status = await apiRequest(socket, "GET", "/v1/status");
      recordFact("weight_daemon_mode", String((status.body as { mode?: string }).mode));
      for (const [fn, cgroup] of Object.entries(sandboxes)) {
        const res = await apiRequest(socket, "POST", "/v1/sandboxes", { function: fn, cgroup });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      }
      const share = await race(async (fn, pid) => {
        const res = await apiRequest(socket, "POST", "/v1/invocations", { function: fn, pid });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        // Both registered: what the sandboxes carry while they compete.
        if (fn === "short") recordFact("weight_while_racing", groupWeights());
        return (res.body as { id: string }).id;
      });
      recordFact("weight_short_share_with_alps", Number(share.toFixed(2)));
      expect(share).toBeGreaterThanOrEqual(1 / 1.5);
    } finally {
      if (daemon.exitCode === null) {
        const exited = new Promise((r) => daemon.once("exit", r));
        daemon.kill("SIGTERM");
        const timer = setTimeout(() => daemon.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(timer);
      }
    }
  });
});

/** Moves a task into a cgroup and pins it to CPU 0 (taskset: util-linux). */
function place(pid: number, cgroup: string): void {
  writeFileSync(join(cgroup, "cgroup.procs"), String(pid));
  const { status } = spawnSync("taskset", ["-p", "1", String(pid)], { stdio: "ignore" });
  if (status !== 0) throw new Error(`taskset -p 1 ${pid} failed`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a !== null ? a.port : 0));
    });
  });
}
