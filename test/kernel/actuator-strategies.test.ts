/**
 * The actuator on real tasks: the dynamic boost carries SCHED_RESET_ON_FORK
 * and the slice request, its deepest yields run under SCHED_IDLE, strategy
 * rt uses SCHED_FIFO below the daemon,
 * restore returns SCHED_OTHER nice 0 and releases the record, a vanished
 * task is counted, not an error; after the guardian's restore or a
 * suspension, each task is asked again for the slice alps had asked for.
 * And strategy static in the kernel: a fixed level for the whole slice.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Actuator } from "../../src/backend/actuator/actuator.js";
import { createMemoryTouched } from "../../src/backend/guardian/touched-memory.js";
import { putTaskBack } from "../../src/backend/guardian/restore.js";
import { addonSyscalls, loadAddon } from "../../src/host/addon.js";
import { createBpfBackend } from "../../src/backend/bpf/bpf-backend.js";
import { probeBpf } from "../../src/backend/bpf/bpf-probe.js";
import { raiseToRealtime, restoreSelf } from "../../src/backend/actuator/self-priority.js";
import {
  SCHED_FIFO,
  SCHED_FLAG_RESET_ON_FORK,
  SCHED_IDLE,
  SCHED_OTHER,
} from "../../src/host/syscalls-types.js";
import { DEFAULT_IDLE_FROM, staticLevel } from "../../src/contracts/levels.js";
import { emptyPolicy } from "../../src/contracts/policy.js";
import { hasBtf, isRoot, requireHost } from "../helpers/host.js";
import { cleanupChild, type GatedBurner, procSched, spawnGatedBurner } from "./bpf-kit.js";

const loaded = loadAddon();
const probe = probeBpf();
const ready = requireHost(
  `root and the native addon (${loaded.ok ? "ok" : loaded.reason})`,
  isRoot() && loaded.ok,
);

describe.skipIf(!ready)("actuator strategies", () => {
  const syscalls = loaded.ok ? addonSyscalls(loaded.addon) : undefined;
  const burners: GatedBurner[] = [];
  afterEach(() => {
    if (syscalls) for (const b of burners.splice(0)) cleanupChild(b.child, syscalls);
  });

  it("dynamic: nice level with RESET_ON_FORK and a slice request; restore releases", async () => {
    if (!syscalls) return;
    const b = await spawnGatedBurner("s10", 2000);
    burners.push(b);
    const touched = createMemoryTouched();
    const act = new Actuator({ strategy: "dynamic", syscalls, touched, sliceRequest: "function" });
    expect(act.apply(b.pid, -7, 20_000_000n)).toBe(true);
    expect(touched.list()).toEqual([b.pid]);
    const attr = syscalls.getAttr(b.pid);
    expect(attr.policy).toBe(SCHED_OTHER);
    expect(attr.nice).toBe(-7);
    expect(attr.flags & SCHED_FLAG_RESET_ON_FORK).toBe(SCHED_FLAG_RESET_ON_FORK);
    // This kernel (>= 6.12) keeps the fair-class slice request.
    expect(act.sliceSupported).toBe(true);
    expect(attr.runtimeNs).toBe(20_000_000n);
    expect(act.restore(b.pid)).toBe(true);
    expect(procSched(b.pid)).toEqual({ nice: 0, policy: 0 });
    expect(syscalls.getAttr(b.pid).flags).toBe(0n);
    expect(touched.list()).toEqual([]);
  });

  it("dynamic with sliceRequest shortest: every boost asks for 0.1 ms, a yield for none, restore clears it", async () => {
    if (!syscalls) return;
    const b = await spawnGatedBurner("s10", 2000);
    burners.push(b);
    const act = new Actuator({ strategy: "dynamic", syscalls, sliceRequest: "shortest" });
    try {
      // Whatever the function's slice (20 ms here), the boost asks for the kernel's shortest.
      expect(act.apply(b.pid, -12, 20_000_000n)).toBe(true);
      expect(act.sliceSupported).toBe(true);
      expect(syscalls.getAttr(b.pid)).toMatchObject({ nice: -12, runtimeNs: 100_000n });
      // A yield asks for nothing: the kernel's default slice comes back.
      expect(act.apply(b.pid, 5, 20_000_000n)).toBe(true);
      const yielding = syscalls.getAttr(b.pid);
      expect(yielding.nice).toBe(5);
      expect(yielding.runtimeNs).not.toBe(100_000n);
      expect(act.apply(b.pid, -3, 0n)).toBe(true);
      expect(syscalls.getAttr(b.pid).runtimeNs).toBe(100_000n);
      expect(act.restore(b.pid)).toBe(true);
      expect(syscalls.getAttr(b.pid).runtimeNs).not.toBe(100_000n);
      expect(procSched(b.pid)).toEqual({ nice: 0, policy: 0 });
    } finally {
      act.restoreAll();
    }
  });

  it("dynamic with an unboosted slice: a yield and a return to base ask for it, an end for none", async () => {
    if (!syscalls) return;
    const b = await spawnGatedBurner("s10", 2000);
    burners.push(b);
    const act = new Actuator({
      strategy: "dynamic",
      syscalls,
      sliceRequest: "shortest",
      unboostedSliceNs: 20_000_000n,
    });
    const unboosted = 20_000_000n;
    try {
      // A yield first: it is what probes the kernel here. The function's
      // slice (30 ms) is not what a yield asks for.
      expect(act.apply(b.pid, 5, 30_000_000n)).toBe(true);
      expect(act.sliceSupported).toBe(true);
      expect(syscalls.getAttr(b.pid)).toMatchObject({
        policy: SCHED_OTHER,
        nice: 5,
        runtimeNs: unboosted,
      });
      // A boost still asks for the shortest.
      expect(act.apply(b.pid, -12, 20_000_000n)).toBe(true);
      expect(syscalls.getAttr(b.pid)).toMatchObject({ nice: -12, runtimeNs: 100_000n });
      // Back at base while its invocation is open (past its boost): the unboosted slice again.
      expect(act.apply(b.pid, 0, 0n)).toBe(true);
      expect(syscalls.getAttr(b.pid)).toMatchObject({
        policy: SCHED_OTHER,
        nice: 0,
        runtimeNs: unboosted,
      });
      // A deep yield runs under SCHED_IDLE, where the kernel neither takes a
      // slice nor resets the one the task had (it reads back unchanged).
      expect(act.apply(b.pid, DEFAULT_IDLE_FROM, 0n)).toBe(true);
      expect(syscalls.getAttr(b.pid).policy).toBe(SCHED_IDLE);
      expect(act.apply(b.pid, 3, 0n)).toBe(true);
      expect(syscalls.getAttr(b.pid).runtimeNs).toBe(unboosted);
      // The end asks for nothing: the kernel's default slice and nice 0.
      expect(act.restore(b.pid)).toBe(true);
      const ended = syscalls.getAttr(b.pid);
      expect(ended.runtimeNs).not.toBe(unboosted);
      expect(ended.runtimeNs).not.toBe(100_000n);
      expect(procSched(b.pid)).toEqual({ nice: 0, policy: 0 });
    } finally {
      act.restoreAll();
    }
  });

  it("reapply after the guardian's restore, and resume after suspend, ask the kernel again for each slice alps had asked for", async () => {
    if (!syscalls) return;
    const boosted = await spawnGatedBurner("s10", 2000);
    burners.push(boosted);
    const past = await spawnGatedBurner("s10", 2000);
    burners.push(past);
    const touched = createMemoryTouched();
    const act = new Actuator({
      strategy: "dynamic",
      syscalls,
      touched,
      sliceRequest: "function",
      unboostedSliceNs: 20_000_000n,
    });
    // Distinct from the unboosted slice and from the kernel's default, so
    // each read-back says whose request it is.
    const functionSlice = 50_000_000n;
    const unboosted = 20_000_000n;
    const asAlpsAsked = (): void => {
      expect(syscalls.getAttr(boosted.pid)).toMatchObject({
        policy: SCHED_OTHER,
        nice: -7,
        runtimeNs: functionSlice,
      });
      // Back at base while its invocation is open: not in the applied
      // levels, yet alps asked the kernel for the unboosted slice.
      expect(act.appliedLevel(past.pid)).toBeUndefined();
      expect(syscalls.getAttr(past.pid)).toMatchObject({
        policy: SCHED_OTHER,
        nice: 0,
        runtimeNs: unboosted,
      });
    };
    const asFound = (): void => {
      for (const pid of [boosted.pid, past.pid]) {
        const attr = syscalls.getAttr(pid);
        expect(attr).toMatchObject({ policy: SCHED_OTHER, nice: 0, flags: 0n });
        expect([functionSlice, unboosted]).not.toContain(attr.runtimeNs);
      }
    };
    try {
      expect(act.apply(boosted.pid, -7, functionSlice)).toBe(true);
      expect(act.sliceSupported).toBe(true);
      expect(act.apply(past.pid, -5, functionSlice)).toBe(true);
      expect(act.apply(past.pid, 0, functionSlice)).toBe(true);
      asAlpsAsked();

      // What the guardian does while the daemon does not answer: every
      // recorded task back to its original by syscall.
      for (const pid of [boosted.pid, past.pid])
        putTaskBack(pid, touched.taskOriginal(pid), syscalls);
      asFound();
      expect(act.reapply()).toBe(2);
      asAlpsAsked();

      // The guardian is gone: every task as found and out of the record, until resume.
      act.suspend();
      asFound();
      expect(touched.list()).toEqual([]);
      act.resume();
      asAlpsAsked();
      expect(touched.list().sort()).toEqual([boosted.pid, past.pid].sort());

      // Levels that change while suspended: the boosted task goes past its
      // boost, the other is boosted again; resume asks for what each is owed now.
      act.suspend();
      expect(act.apply(boosted.pid, 0, functionSlice)).toBe(true);
      expect(act.apply(past.pid, -3, functionSlice)).toBe(true);
      asFound();
      act.resume();
      expect(act.appliedLevel(boosted.pid)).toBeUndefined();
      expect(syscalls.getAttr(boosted.pid)).toMatchObject({ nice: 0, runtimeNs: unboosted });
      expect(syscalls.getAttr(past.pid)).toMatchObject({ nice: -3, runtimeNs: functionSlice });

      // The end asks for nothing, as before.
      act.restoreAll();
      asFound();
      expect(touched.list()).toEqual([]);
    } finally {
      act.restoreAll();
    }
  });

  it("dynamic without sliceRequest (the default): the level alone, no EEVDF slice", async () => {
    if (!syscalls) return;
    const b = await spawnGatedBurner("s10", 2000);
    burners.push(b);
    const act = new Actuator({ strategy: "dynamic", syscalls });
    try {
      expect(act.apply(b.pid, -7, 20_000_000n)).toBe(true);
      const attr = syscalls.getAttr(b.pid);
      expect(attr.nice).toBe(-7);
      expect(act.sliceSupported).toBeUndefined();
      // The kernel reports its default slice when none was requested: not ours.
      expect(attr.runtimeNs).not.toBe(20_000_000n);
    } finally {
      act.restoreAll();
    }
  });

  it("dynamic: a yield from idleFrom up runs under SCHED_IDLE, one below it at its nice; restore undoes both", async () => {
    if (!syscalls) return;
    const b = await spawnGatedBurner("s10", 2000);
    burners.push(b);
    const act = new Actuator({ strategy: "dynamic", syscalls });
    try {
      expect(act.idleFrom).toBe(DEFAULT_IDLE_FROM);
      expect(act.apply(b.pid, 14)).toBe(true);
      expect(procSched(b.pid)).toEqual({ nice: 14, policy: SCHED_OTHER });
      expect(act.apply(b.pid, DEFAULT_IDLE_FROM)).toBe(true);
      expect(procSched(b.pid).policy).toBe(SCHED_IDLE);
      expect(syscalls.getAttr(b.pid).flags & SCHED_FLAG_RESET_ON_FORK).toBe(
        SCHED_FLAG_RESET_ON_FORK,
      );
      // Back down the band: plain SCHED_OTHER at the new nice.
      expect(act.apply(b.pid, 9)).toBe(true);
      expect(procSched(b.pid)).toEqual({ nice: 9, policy: SCHED_OTHER });
      expect(act.apply(b.pid, 19)).toBe(true);
      expect(procSched(b.pid).policy).toBe(SCHED_IDLE);
    } finally {
      act.restoreAll();
    }
    expect(procSched(b.pid)).toEqual({ nice: 0, policy: SCHED_OTHER });
  });

  it("dynamic with idleFrom 20: every yield stays on SCHED_OTHER", async () => {
    if (!syscalls) return;
    const b = await spawnGatedBurner("s10", 2000);
    burners.push(b);
    const act = new Actuator({ strategy: "dynamic", syscalls, idleFrom: 20 });
    try {
      expect(act.apply(b.pid, 19)).toBe(true);
      expect(procSched(b.pid)).toEqual({ nice: 19, policy: SCHED_OTHER });
    } finally {
      act.restoreAll();
    }
    expect(procSched(b.pid)).toEqual({ nice: 0, policy: SCHED_OTHER });
  });

  it("rt: SCHED_FIFO at a priority below the daemon's, with RESET_ON_FORK", async () => {
    if (!syscalls) return;
    const b = await spawnGatedBurner("s10", 2000);
    burners.push(b);
    const act = new Actuator({ strategy: "rt", syscalls });
    try {
      expect(act.apply(b.pid, -20)).toBe(true);
      const attr = syscalls.getAttr(b.pid);
      expect(attr.policy).toBe(SCHED_FIFO);
      expect(attr.priority).toBe(act.rtPriority(-20));
      expect(attr.priority).toBeLessThanOrEqual(40);
      expect(attr.flags & SCHED_FLAG_RESET_ON_FORK).toBe(SCHED_FLAG_RESET_ON_FORK);
    } finally {
      act.restoreAll();
    }
    expect(procSched(b.pid)).toEqual({ nice: 0, policy: 0 });
  });

  it("a task that is gone is counted (ESRCH), not thrown", async () => {
    if (!syscalls) return;
    const b = await spawnGatedBurner("s1", 2000);
    const touched = createMemoryTouched();
    const act = new Actuator({ strategy: "dynamic", syscalls, touched });
    await b.release();
    expect(act.apply(b.pid, -5)).toBe(false);
    expect(act.counters.gone).toBe(1);
    expect(act.counters.errors).toBe(0);
    expect(touched.list()).toEqual([]);
  });

  it.skipIf(!(probe.ok && hasBtf()))(
    "static strategy: the function's fixed level for the whole slice",
    async () => {
      raiseToRealtime(50);
      const backend = await createBpfBackend({ strategy: "static" });
      try {
        backend.applyPolicy({
          ...emptyPolicy(),
          functions: { s: { priority: 3, predicted_ms: 300, slice_ms: 40 } },
        });
        const b = await spawnGatedBurner("b80", 3000);
        burners.push(b);
        backend.startInvocation("s", b.pid);
        const { samples, exitCode } = await b.release();
        expect(exitCode).toBe(0);
        const level = staticLevel(3, 0, 40);
        expect(level).toBeLessThan(0);
        const main = samples.filter((s) => s.who === "main");
        expect(main[0]?.nice).toBe(level);
        const drop = main.findIndex((s) => s.nice === 0);
        expect(drop).toBeGreaterThan(0);
        // Fixed level until the slice, nothing in between.
        expect(main.slice(0, drop).every((s) => s.nice === level)).toBe(true);
        backend.endInvocation(b.pid);
      } finally {
        await backend.close();
        restoreSelf();
      }
    },
  );
});
