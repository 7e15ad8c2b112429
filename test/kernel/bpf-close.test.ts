/**
 * Must-show 5 and 6 of issue 4: close() (the daemon's SIGTERM/SIGINT path)
 * leaves every task it touched at SCHED_OTHER nice 0 and releases it from
 * the touched record; probeBpf() works here and honours ALPS_NO_BPF=1.
 * Also: a task in a registered sandbox cgroup is tracked by cgroup id.
 */
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryTouched } from "../../src/backend/guardian/touched-memory.js";
import { addonSyscalls } from "../../src/host/addon.js";
import { createBpfBackend } from "../../src/backend/bpf/bpf-backend.js";
import { probeBpf } from "../../src/backend/bpf/bpf-probe.js";
import { createCgroup, moveToCgroup, removeCgroup } from "../../src/host/cgroups.js";
import { raiseToRealtime, restoreSelf } from "../../src/backend/actuator/self-priority.js";
import { SCHED_IDLE } from "../../src/host/syscalls-types.js";
import { emptyPolicy } from "../../src/contracts/policy.js";
import { bpfHost, cleanupChild, type GatedBurner, procSched, spawnGatedBurner } from "./bpf-kit.js";

const { loaded, ready } = bpfHost();
const POLICY = {
  ...emptyPolicy(),
  functions: {
    f: { priority: 1, predicted_ms: 80, slice_ms: 1000 }, // a boost (nice < 0)
    g: { priority: 2, predicted_ms: 2000, slice_ms: 1000 }, // a yield (nice 19)
  },
};

describe.skipIf(!ready)("BPF backend close and probe", () => {
  const syscalls = loaded.ok ? addonSyscalls(loaded.addon) : undefined;
  const burners: GatedBurner[] = [];
  afterEach(() => {
    if (syscalls) for (const b of burners.splice(0)) cleanupChild(b.child, syscalls);
    delete process.env.ALPS_NO_BPF;
  });

  it("probeBpf is ok here; with ALPS_NO_BPF=1 it is not, with the reason", () => {
    expect(probeBpf()).toEqual({ ok: true });
    process.env.ALPS_NO_BPF = "1";
    expect(probeBpf()).toEqual({ ok: false, reason: "disabled by ALPS_NO_BPF=1" });
  });

  it("createBpfBackend refuses with the reason under ALPS_NO_BPF=1", async () => {
    process.env.ALPS_NO_BPF = "1";
    await expect(createBpfBackend({ strategy: "dynamic" })).rejects.toThrow(/ALPS_NO_BPF=1/);
  });

  it("close() puts every touched task (and its children), boosted or yielding, back on SCHED_OTHER nice 0", async () => {
    const touched = createMemoryTouched();
    raiseToRealtime(50);
    let backend: Awaited<ReturnType<typeof createBpfBackend>> | undefined;
    let tids: number[] = [];
    try {
      backend = await createBpfBackend({ strategy: "dynamic", touched });
      backend.applyPolicy(POLICY);
      const a = await spawnGatedBurner("b30,f1500,s1500", 4000);
      const b = await spawnGatedBurner("b30,s1500", 4000);
      burners.push(a, b);
      backend.startInvocation("f", a.pid);
      backend.startInvocation("g", b.pid);
      const done = [a.release(), b.release()];
      // Wait until a's forked child has been boosted by its own account
      // (the deadline only catches a hang).
      const deadline = Date.now() + 20_000;
      while (touched.list().length < 3 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10));
      tids = touched.list();
      expect(tids.length).toBeGreaterThanOrEqual(3);
      expect(tids.some((t) => procSched(t).nice < 0)).toBe(true);
      // A yield at nice 19 runs under SCHED_IDLE (DEFAULT_IDLE_FROM).
      expect(procSched(b.pid).policy).toBe(SCHED_IDLE);
      await backend.close();
      for (const tid of tids) expect(procSched(tid)).toEqual({ nice: 0, policy: 0 });
      expect(touched.list()).toEqual([]);
      // Closed means detached: the still-running child is not boosted again.
      await new Promise((r) => setTimeout(r, 50));
      for (const tid of tids) expect(procSched(tid).nice).toBe(0);
      for (const b2 of burners) b2.child.kill("SIGKILL");
      await Promise.all(done);
    } finally {
      await backend?.close();
      restoreSelf();
      // a's forked child is ours too: kill it by its pid.
      for (const tid of tids) {
        if (burners.some((b2) => b2.pid === tid)) continue;
        try {
          process.kill(tid, "SIGKILL");
        } catch {
          // already exited
        }
      }
    }
  });

  it("a task in a registered sandbox cgroup is tracked by cgroup id, and only then", async () => {
    const backend = await createBpfBackend({ strategy: "dynamic" });
    const cg = createCgroup(`alps-test-c-${process.pid}`);
    try {
      backend.applyPolicy(POLICY);
      // They sleep far longer than the test needs them (killed afterwards).
      const inside = await spawnGatedBurner("s20000", 3000);
      const outside = await spawnGatedBurner("s20000", 3000);
      burners.push(inside, outside);
      moveToCgroup(cg, inside.pid);
      await backend.addSandbox("f", cg);
      void inside.release();
      void outside.release();
      // The wake-up that ends the gate finds it through the cgroup map (the
      // deadline only catches a wake-up that never comes).
      // Both woke from their gates once both have exec'd the burner (burn-<hash>).
      const deadline = Date.now() + 20_000;
      const woke = (pid: number) =>
        readFileSync(`/proc/${pid}/comm`, "utf8").trim().startsWith("burn");
      while (
        (backend.taskState(inside.pid) === null || !woke(outside.pid)) &&
        Date.now() < deadline
      )
        await new Promise((r) => setTimeout(r, 10));
      expect(backend.taskState(inside.pid)?.fn).toBe(backend.fnId("f"));
      expect(backend.taskState(inside.pid)?.root).toBe(0);
      expect(backend.taskState(outside.pid)).toBeNull();
      expect(backend.status().counters.nr_cgroup_matches).toBeGreaterThanOrEqual(1);
      await backend.removeSandbox(cg);
      expect(backend.taskState(inside.pid)).toBeNull();
    } finally {
      await backend.close();
      removeCgroup(cg);
    }
  });
});
