/**
 * The kernel matrix's short two-function run (scripts/kernel-matrix.sh runs
 * it inside each guest kernel): the daemon, on the BPF backend, learns from
 * a few invocations of a short and a long CPU-bound function, ranks the
 * short one first, and a new short invocation starts boosted above a new
 * long one. Then one of each runs at once on one CPU (tasks in one
 * scheduling group): the short one gets most of the CPU while it runs,
 * where equal weights would split it in half. The share is a ratio of the
 * short task's CPU time to its turnaround, so the slowness of emulation
 * cancels out.
 */
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addonSyscalls } from "../../src/backend/addon.js";
import { type BpfBackend, createBpfBackend } from "../../src/backend/bpf-backend.js";
import { raiseToRealtime, restoreSelf } from "../../src/backend/self-priority.js";
import { Daemon } from "../../src/frontend/daemon.js";
import {
  bpfHost,
  cleanupChild,
  type GatedBurner,
  procCpuNs,
  procSched,
  spawnGatedBurner,
} from "../kernel/bpf-kit.js";
import { recordFact } from "./facts.js";

const { loaded, ready } = bpfHost();
const CAP_MS = 20_000;
const SHORT_MS = 10;
const LONG_MS = 150;

describe.skipIf(!ready)("two functions: the shorter is ranked first and boosted", () => {
  const syscalls = loaded.ok ? addonSyscalls(loaded.addon) : undefined;
  let backend: BpfBackend;
  let daemon: Daemon;
  const started: GatedBurner[] = [];

  async function invoke(
    fn: string,
    plan: string,
  ): Promise<{ turnaroundMs: number; cpuMs: number }> {
    const burner = await spawnGatedBurner(plan, CAP_MS);
    started.push(burner);
    const id = daemon.startInvocation(fn, burner.pid);
    const result = await burner.release();
    expect(result.exitCode).toBe(0);
    // The client reports the CPU time, as `alps invoke` does: the task is gone.
    const cpuMs = (result.samples.filter((s) => s.who === "main").at(-1)?.cpuUs ?? 0) / 1000;
    daemon.endInvocation(id, { cpuMs });
    return { turnaroundMs: result.wallMs, cpuMs };
  }

  beforeAll(async () => {
    raiseToRealtime(50);
    backend = await createBpfBackend({ strategy: "dynamic" });
    // The learner runs when asked (learnNow), never on a timer.
    daemon = new Daemon({ backend, utilization: null, cores: 1 });
  });
  afterAll(async () => {
    for (const b of started) if (syscalls) cleanupChild(b.child, syscalls);
    daemon?.stop();
    await backend?.close();
    restoreSelf();
  });

  it("learns the ranking from six invocations of each", async () => {
    for (let i = 0; i < 6; i++) {
      await invoke("short", `b${SHORT_MS}`);
      await invoke("long", `b${LONG_MS}`);
    }
    const policy = daemon.learnNow();
    const short = policy.functions.short;
    const long = policy.functions.long;
    expect(short?.priority).toBe(1);
    expect(long?.priority).toBe(2);
    expect(short?.predicted_ms ?? Infinity).toBeLessThan(long?.predicted_ms ?? 0);
    recordFact(
      "ranked",
      `short ${short?.predicted_ms.toFixed(1)} ms #1, long ${long?.predicted_ms.toFixed(1)} ms #2`,
    );
  });

  it("a new short invocation starts boosted, above a new long one", async () => {
    const short = await spawnGatedBurner(`b${SHORT_MS}`, CAP_MS);
    const long = await spawnGatedBurner(`b${LONG_MS}`, CAP_MS);
    started.push(short, long);
    const shortId = daemon.startInvocation("short", short.pid);
    const longId = daemon.startInvocation("long", long.pid);
    const s = procSched(short.pid);
    const l = procSched(long.pid);
    expect(s.nice).toBeLessThan(0);
    // A long one yields: a higher nice, or SCHED_IDLE (weight 3).
    expect(l.policy !== 0 || l.nice > s.nice).toBe(true);
    recordFact(
      "levels_at_start",
      `short nice ${s.nice}, long ${l.policy === 5 ? "SCHED_IDLE" : `nice ${l.nice}`}`,
    );
    daemon.endInvocation(shortId);
    daemon.endInvocation(longId);
    if (syscalls) {
      cleanupChild(short.child, syscalls);
      cleanupChild(long.child, syscalls);
    }
  });

  it("run together on one CPU, the short one gets most of it", async () => {
    // Pinned to CPU 0 by the gate shell, so the two compete even on an SMP guest.
    const long = await spawnGatedBurner(`b${LONG_MS * 4}`, CAP_MS);
    started.push(long);
    pinToCpu0(long.pid);
    const longId = daemon.startInvocation("long", long.pid);
    const longDone = long.release();
    // Let the long one run first, so the short one arrives to a busy CPU.
    while (procCpuNs(long.pid) < 30e6) await new Promise((r) => setTimeout(r, 5));
    const short = await spawnGatedBurner(`b${SHORT_MS * 4}`, CAP_MS);
    started.push(short);
    pinToCpu0(short.pid);
    const shortId = daemon.startInvocation("short", short.pid);
    const shortRes = await short.release();
    daemon.endInvocation(shortId);
    const longRes = await longDone;
    daemon.endInvocation(longId);
    expect(shortRes.exitCode).toBe(0);
    expect(longRes.exitCode).toBe(0);
    const main = shortRes.samples.filter((x) => x.who === "main");
    const cpuMs = ((main.at(-1)?.cpuUs ?? 0) - (main[0]?.cpuUs ?? 0)) / 1000;
    const wallMs = ((main.at(-1)?.monoUs ?? 0) - (main[0]?.monoUs ?? 0)) / 1000;
    const share = cpuMs / wallMs;
    recordFact("short_cpu_share_together", Number(share.toFixed(2)));
    expect(cpuMs).toBeGreaterThan(SHORT_MS * 4 * 0.9);
    expect(share).toBeGreaterThan(0.75);
  });
});

/** taskset (util-linux, present wherever the project builds) pins a gated burner before it runs. */
function pinToCpu0(pid: number): void {
  const { status } = spawnSync("taskset", ["-p", "1", String(pid)], { stdio: "ignore" });
  if (status !== 0) throw new Error(`taskset -p 1 ${pid} failed`);
}
