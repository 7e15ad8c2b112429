/**
 * The kernel matrix's BPF smoke test (scripts/kernel-matrix.sh runs it inside
 * each guest kernel; it also runs on any host with root and BTF): the alps
 * object loads and attaches, a registered task is at its level before its
 * first instruction, the kernel posts new levels as it runs and the daemon's
 * actuator applies them, its slice expires in the kernel, and a task in a
 * declared sandbox is found by its cgroup v2 id. Under software
 * emulation every instruction is ~10x slower, so nothing here bounds a time:
 * it asserts what alps decided (levels, order, counters). It also measures
 * what the tracepoint delivers on this kernel: sched_stat_runtime for a
 * SCHED_FIFO task (strategy rt relies on it) and how often it fires for a
 * spinning fair-class task.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addonSyscalls } from "../../src/host/addon.js";
import { type BpfBackend, createBpfBackend } from "../../src/backend/bpf/bpf-backend.js";
import { createCgroup, moveToCgroup, removeCgroup } from "../../src/host/cgroups.js";
import { raiseToRealtime, restoreSelf } from "../../src/backend/actuator/self-priority.js";
import { baseAttr, SCHED_FIFO, SCHED_OTHER } from "../../src/host/syscalls-types.js";
import { dynamicLevel } from "../../src/contracts/levels.js";
import { emptyPolicy, type Policy } from "../../src/contracts/policy.js";
import {
  bpfHost,
  cleanupChild,
  procCpuNs,
  procSched,
  spawnGatedBurner,
} from "../kernel/bpf-kit.js";
import { recordFact } from "./facts.js";
import { GATE_MS, burnSamples, warmPlan, warmUp } from "./guest-kit.js";

const { loaded, ready } = bpfHost();
/** Wall-time cap of each burner: generous, because emulation is slow. */
const CAP_MS = 20_000;

function policyFor(fn: string, predicted_ms: number, slice_ms: number): Policy {
  return { ...emptyPolicy(), functions: { [fn]: { priority: 1, predicted_ms, slice_ms } } };
}

describe.skipIf(!ready)("BPF smoke test (kernel matrix)", () => {
  const syscalls = loaded.ok ? addonSyscalls(loaded.addon) : undefined;
  let backend: BpfBackend;

  beforeAll(async () => {
    warmUp();
    raiseToRealtime(50);
    backend = await createBpfBackend({ strategy: "dynamic" });
  });
  afterAll(async () => {
    await backend?.close();
    restoreSelf();
  });

  it("loads and attaches the alps programs", () => {
    const st = backend.status();
    expect(st.mode).toBe("alps");
    expect(st.sensor).toBe("bpf");
  });

  it("a registered task starts at its level, the kernel posts rising levels and they are applied", async () => {
    const policy = policyFor("spin", 80, 400);
    backend.applyPolicy(policy);
    const before = backend.status().counters;
    const burner = await spawnGatedBurner(warmPlan(150), CAP_MS, GATE_MS);
    try {
      backend.startInvocation("spin", burner.pid);
      const first = procSched(burner.pid);
      expect(first).toEqual({ nice: dynamicLevel(80, 0, 400), policy: SCHED_OTHER });
      expect(first.nice).toBeLessThan(0);
      const result = await burner.release();
      backend.endInvocation(burner.pid);
      expect(result.exitCode).toBe(0);
      // The burst after the sleep starts boosted again and rises.
      const burst = burnSamples(result);
      expect(burst.length).toBeGreaterThan(1);
      expect(burst[0]?.nice).toBeLessThan(0);
      for (let i = 1; i < burst.length; i++)
        expect(burst[i]?.nice).toBeLessThanOrEqual(burst[i - 1]?.nice ?? 0);
      expect(burst.at(-1)?.nice).toBeLessThan(burst[0]?.nice ?? 0);
      const after = backend.status().counters;
      expect((after.nr_level_changes ?? 0) - (before.nr_level_changes ?? 0)).toBeGreaterThan(0);
      expect((after.nr_applied ?? 0) - (before.nr_applied ?? 0)).toBeGreaterThan(0);
      expect(after.nr_ringbuf_drops).toBe(0);
      recordFact("smoke_levels", `${burst[0]?.nice}..${burst.at(-1)?.nice}`);
    } finally {
      if (syscalls) cleanupChild(burner.child, syscalls);
    }
  });

  it("past its slice the kernel expires the burst and the task is back at nice 0", async () => {
    backend.applyPolicy(policyFor("spin", 80, 20));
    const expiredBefore = backend.status().counters.nr_expired ?? 0;
    const burner = await spawnGatedBurner(warmPlan(80), CAP_MS, GATE_MS);
    try {
      backend.startInvocation("spin", burner.pid);
      const result = await burner.release();
      backend.endInvocation(burner.pid);
      const burst = burnSamples(result);
      expect(burst[0]?.nice).toBeLessThan(0);
      expect(burst.at(-1)).toMatchObject({ nice: 0, policy: SCHED_OTHER });
      expect(backend.status().counters.nr_expired ?? 0).toBeGreaterThan(expiredBefore);
    } finally {
      if (syscalls) cleanupChild(burner.child, syscalls);
    }
  });

  it("a task in a declared sandbox is found by its cgroup v2 id and boosted", async () => {
    const sandbox = createCgroup(`alps-smoke-${process.pid}`);
    const burner = await spawnGatedBurner(warmPlan(60), CAP_MS, GATE_MS);
    try {
      backend.applyPolicy(policyFor("spin", 80, 400));
      await backend.addSandbox("spin", sandbox);
      const before = backend.status().counters.nr_cgroup_matches ?? 0;
      // Moved in, never registered: the wake-up after its sleep finds it by
      // BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id), the directory's inode.
      moveToCgroup(sandbox, burner.pid);
      const result = await burner.release();
      expect(result.exitCode).toBe(0);
      expect(backend.status().counters.nr_cgroup_matches ?? 0).toBeGreaterThan(before);
      const burst = burnSamples(result);
      expect(burst.some((s) => s.nice < 0)).toBe(true);
    } finally {
      if (syscalls) cleanupChild(burner.child, syscalls);
      await backend.removeSandbox(sandbox);
      removeCgroup(sandbox);
    }
  });

  it("sched_stat_runtime fires for a spinning fair task (its rate recorded) and for a SCHED_FIFO one", async () => {
    if (!syscalls) throw new Error("no syscalls");
    const observer = await createBpfBackend({ strategy: "dynamic", observeOnly: true });
    try {
      // A fair-class spinner that never reads a clock (a read of a CPU-time
      // clock fires the tracepoint too): the kernel's own rate, ticks and
      // scheduling points, per 100 ms of its CPU. Bounded: 1 s of CPU (ulimit).
      const rt = await spawnGatedBurner("b100,s2000", CAP_MS, GATE_MS);
      const spinner = spawn("sh", ["-c", "ulimit -t 1; while :; do :; done"], { stdio: "ignore" });
      try {
        const pid = spinner.pid ?? 0;
        observer.startInvocation("spin", pid);
        const c0 = procCpuNs(pid);
        const u0 = observer.status().counters.nr_runtime_updates ?? 0;
        while (procCpuNs(pid) - c0 < 200e6) await new Promise((r) => setTimeout(r, 10));
        const u1 = observer.status().counters.nr_runtime_updates ?? 0;
        const cpuMs = (procCpuNs(pid) - c0) / 1e6;
        spinner.kill("SIGKILL");
        const perHundredMs = ((u1 - u0) / cpuMs) * 100;
        expect(perHundredMs).toBeGreaterThan(0);
        recordFact("runtime_updates_per_100ms_cpu", Math.round(perHundredMs));

        // The same for a SCHED_FIFO task (priority below this process's).
        observer.startInvocation("spin", rt.pid);
        syscalls.setAttr(rt.pid, { ...baseAttr(), policy: SCHED_FIFO, priority: 10 });
        // The shell's own start-up ran before the registration: not traced.
        const rtBase = procCpuNs(rt.pid);
        const rtDone = rt.release();
        await sleepingAfter(rt.pid, 100, rtBase);
        const rtTracedMs = Number(observer.taskState(rt.pid)?.totalNs ?? 0n) / 1e6;
        const rtCpuMs = (procCpuNs(rt.pid) - rtBase) / 1e6;
        expect(rtCpuMs).toBeGreaterThan(90);
        // Strategy rt (comparison only) expires its SCHED_FIFO slices from this.
        recordFact("rt_runtime_traced", rtTracedMs > rtCpuMs / 2);
        expect(rtTracedMs).toBeGreaterThan(rtCpuMs / 2);
        rt.child.kill("SIGKILL");
        await rtDone;
      } finally {
        spinner.kill("SIGKILL");
        cleanupChild(rt.child, syscalls);
      }
    } finally {
      await observer.close();
    }
  });
});

/** Waits until the burner has burnt `burnMs` of CPU since `baseNs` and sleeps (its next step), bounded by its cap. */
async function sleepingAfter(pid: number, burnMs: number, baseNs: number): Promise<void> {
  const deadline = Date.now() + CAP_MS;
  for (;;) {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "S" && (procCpuNs(pid) - baseNs) / 1e6 >= burnMs * 0.95) return;
    if (state === "Z" || Date.now() > deadline)
      throw new Error(`burner ${pid} never slept after burning ${burnMs} ms (state ${state})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
