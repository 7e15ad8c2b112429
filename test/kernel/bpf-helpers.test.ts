/**
 * An invocation's other threads (a runtime's helpers) and its end: the
 * invocation's own thread gets its level and registration before
 * startInvocation returns; the helpers are registered once the caller yields
 * (off the path to the first instruction), at the level they have, and are
 * released with the invocation. The end finds them, and anything forked
 * from the invocation, by the root the task map carries (one batched read).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { type BpfBackend, createBpfBackend } from "../../src/backend/bpf/bpf-backend.js";
import { addonSyscalls } from "../../src/host/addon.js";
import { emptyPolicy } from "../../src/contracts/policy.js";
import { bpfHost, cleanupChild, levelsUpTo, procCpuNs, procSched } from "./bpf-kit.js";

const { loaded, ready } = bpfHost();
const POLICY = {
  ...emptyPolicy(),
  functions: { f: { priority: 1, predicted_ms: 80, slice_ms: 1000 } }, // a boost (nice < 0)
};

/** A sleeping Node process: a main thread and several runtime helper threads, no CPU used. */
async function sleeper(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 20000)"], {
    stdio: "ignore",
  });
  const pid = child.pid as number;
  // Node starts its helper threads before running the script (the deadline
  // only catches a node that never starts).
  const deadline = Date.now() + 20_000;
  while (threads(pid).length < 3 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 10));
  // Its helpers finish start-up work (compilation, GC) a little later: wait
  // until no thread has run for 100 ms (at most 3 s), so they are asleep.
  let before = cpuOf(pid);
  for (let i = 0; i < 30; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = cpuOf(pid);
    if (now === before) break;
    before = now;
  }
  return child;
}

/** CPU all of `pid`'s threads have used, ns. */
function cpuOf(pid: number): number {
  let sum = 0;
  for (const tid of threads(pid)) {
    try {
      sum += procCpuNs(pid, tid);
    } catch {
      // a thread that just exited
    }
  }
  return sum;
}

/** CPU one thread has used, ns (0 once it exited). */
function cpuOfThread(pid: number, tid: number): number {
  try {
    return procCpuNs(pid, tid);
  } catch {
    return 0;
  }
}

function threads(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [];
  }
}

describe.skipIf(!ready)("BPF: an invocation's helper threads", () => {
  const syscalls = loaded.ok ? addonSyscalls(loaded.addon) : undefined;
  const children: ChildProcess[] = [];
  afterEach(() => {
    if (syscalls) for (const c of children.splice(0)) cleanupChild(c, syscalls);
  });

  /** A backend with POLICY and a sleeping Node process to invoke in; the backend is closed after `body`. */
  async function withSleeper(body: (backend: BpfBackend, pid: number) => Promise<void>) {
    const backend = await createBpfBackend({ strategy: "dynamic" });
    try {
      backend.applyPolicy(POLICY);
      const child = await sleeper();
      children.push(child);
      await body(backend, child.pid as number);
    } finally {
      await backend.close();
    }
  }

  it("boosts the invocation's thread at once, registers helpers after the caller yields, releases all at the end", () =>
    withSleeper(async (backend, pid) => {
      const helpers = threads(pid).filter((tid) => tid !== pid);
      expect(helpers.length).toBeGreaterThanOrEqual(2);
      const cpuBefore = new Map(helpers.map((tid) => [tid, cpuOfThread(pid, tid)]));

      backend.startInvocation("f", pid);
      // Before the caller yields: the invocation's thread is boosted and
      // registered, no helper is registered yet.
      expect(procSched(pid).nice).toBeLessThan(0);
      expect(backend.taskState(pid)?.root).toBe(pid);
      for (const tid of helpers) expect(backend.taskState(tid)?.root).not.toBe(pid);
      await Promise.resolve();
      // After: every helper belongs to the invocation, registered at the
      // level it has (nice 0: nothing applied to it). A helper that woke
      // since then has the kernel's level for its new burst instead: the
      // fresh burst's, or one the CPU it used since has earned (a loaded
      // host may keep a helper busy longer). The daemon applies it when
      // that event arrives, not before.
      for (const tid of helpers) {
        const state = backend.taskState(tid);
        expect(state?.root).toBe(pid);
        const usedMs = (cpuOfThread(pid, tid) - (cpuBefore.get(tid) ?? 0)) / 1e6;
        const own = levelsUpTo(80, 1000, usedMs);
        if (state?.level !== 0) {
          expect(state?.level).toBeLessThanOrEqual(own.fresh);
          expect(state?.level).toBeGreaterThanOrEqual(own.earned);
        }
        expect(procSched(pid, tid)).toEqual({ nice: 0, policy: 0 });
      }

      backend.endInvocation(pid);
      expect(procSched(pid)).toEqual({ nice: 0, policy: 0 });
      for (const tid of [pid, ...helpers]) expect(backend.taskState(tid)).toBeNull();
      expect(backend.actuator.tids()).not.toContain(pid);
    }));

  it("an invocation ended before its caller yields never registers its helpers", () =>
    withSleeper(async (backend, pid) => {
      backend.startInvocation("f", pid);
      backend.endInvocation(pid);
      await Promise.resolve();
      for (const tid of threads(pid)) expect(backend.taskState(tid)).toBeNull();
      expect(procSched(pid)).toEqual({ nice: 0, policy: 0 });
    }));
});
