/**
 * The kernel matrix's short two-function run (scripts/kernel-matrix.sh runs
 * it inside each guest kernel): the daemon, on the BPF backend, learns from
 * four invocations each of a 20 ms and a 400 ms CPU-bound function, ranks the
 * short one first, and a new short invocation starts boosted above a new
 * long one. Then one of each runs at once on one CPU (tasks in one
 * scheduling group): the short one gets most of the CPU while it runs,
 * where equal weights would split it in half. The share is a ratio of the
 * short task's CPU time to its turnaround, so the slowness of emulation
 * cancels out.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addonSyscalls } from "../../src/host/addon.js";
import { type BpfBackend, createBpfBackend } from "../../src/backend/bpf/bpf-backend.js";
import { raiseToRealtime, restoreSelf } from "../../src/backend/actuator/self-priority.js";
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
import { GATE_MS, burnTimes, warmPlan, warmUp } from "./guest-kit.js";

const { loaded, ready } = bpfHost();
const CAP_MS = 20_000;
const SHORT_MS = 20;
const LONG_MS = 400;

describe.skipIf(!ready)("two functions: the shorter is ranked first and boosted", () => {
  const syscalls = loaded.ok ? addonSyscalls(loaded.addon) : undefined;
  let backend: BpfBackend;
  let daemon: Daemon;
  const started: GatedBurner[] = [];

  async function invoke(
    fn: string,
    burnMs: number,
  ): Promise<{ turnaroundMs: number; cpuMs: number }> {
    const burner = await spawnGatedBurner(warmPlan(burnMs), CAP_MS, GATE_MS);
    started.push(burner);
    const id = daemon.startInvocation(fn, burner.pid);
    const result = await burner.release();
    expect(result.exitCode).toBe(0);
    // The client reports the invocation's CPU time (its burn), as `alps invoke` does.
    const { cpuMs } = burnTimes(result);
    daemon.endInvocation(id, { cpuMs });
    return { turnaroundMs: result.wallMs, cpuMs };
  }

  beforeAll(async () => {
    warmUp();
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

  it("learns the ranking from four invocations of each", async () => {
    for (let i = 0; i < 4; i++) {
      await invoke("short", SHORT_MS);
      await invoke("long", LONG_MS);
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
    const short = await spawnGatedBurner(warmPlan(SHORT_MS), CAP_MS, GATE_MS);
    const long = await spawnGatedBurner(warmPlan(LONG_MS), CAP_MS, GATE_MS);
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
    // Both gated first: spawning under emulation is slow.
    const long = await spawnGatedBurner(warmPlan(LONG_MS * 2), CAP_MS, GATE_MS);
    const short = await spawnGatedBurner(warmPlan(SHORT_MS), CAP_MS, GATE_MS);
    started.push(long, short);
    pinToCpu0(long.pid);
    pinToCpu0(short.pid);
    const longId = daemon.startInvocation("long", long.pid);
    const longDone = long.release();
    // The short one arrives to a busy CPU: the long one has begun its burst.
    // While the short one starts up and sleeps, the long one burns on, far
    // from its predicted end (it would earn a boost near it, as SRPT wants).
    await burntInBurst(long.pid, 10);
    const shortId = daemon.startInvocation("short", short.pid);
    const shortRes = await short.release();
    daemon.endInvocation(shortId);
    const longRes = await longDone;
    daemon.endInvocation(longId);
    expect(shortRes.exitCode).toBe(0);
    expect(longRes.exitCode).toBe(0);
    const { cpuMs, share } = burnTimes(shortRes);
    recordFact("short_cpu_share_together", Number(share.toFixed(2)));
    expect(cpuMs).toBeGreaterThan(SHORT_MS * 0.9);
    expect(share).toBeGreaterThan(0.75);
  });
});

/** Waits until a warmPlan burner has slept and then burnt `ms` of CPU (a 10 s bound). */
async function burntInBurst(pid: number, ms: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  let slept = false;
  let base = 0;
  for (;;) {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (!slept && state === "S") {
      slept = true;
      base = procCpuNs(pid);
    }
    if (slept && procCpuNs(pid) - base >= ms * 1e6) return;
    if (Date.now() > deadline)
      throw new Error(`burner ${pid} did not burn ${ms} ms after its sleep`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** taskset (util-linux, present wherever the project builds) pins a gated burner before it runs. */
function pinToCpu0(pid: number): void {
  const { status } = spawnSync("taskset", ["-p", "1", String(pid)], { stdio: "ignore" });
  if (status !== 0) throw new Error(`taskset -p 1 ${pid} failed`);
}
