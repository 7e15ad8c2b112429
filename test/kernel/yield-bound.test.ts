/**
 * The yield bound on the real kernel: an invocation predicted long yields
 * (under SCHED_IDLE on the default band) until `yieldBound` × its predicted
 * run has passed since it started; then the backend takes its tasks back to
 * SCHED_OTHER nice 0 and caps every level the kernel posts afterwards at 0.
 *
 * What is asserted is what alps decides: the policy and nice of the task
 * before and after its bound, never earlier than the bound, one lifted
 * invocation counted, and a second invocation whose bound lies later still
 * yielding at that point. The only wait is for the backend's check (every
 * 100 ms), with a deadline that only a hang reaches.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { raiseToRealtime, restoreSelf } from "../../src/backend/actuator/self-priority.js";
import { type BpfBackend, createBpfBackend } from "../../src/backend/bpf/bpf-backend.js";
import { runsIdle, dynamicLevel } from "../../src/contracts/levels.js";
import { emptyPolicy, type Policy } from "../../src/contracts/policy.js";
import { addonSyscalls } from "../../src/host/addon.js";
import { SCHED_IDLE, SCHED_OTHER, type Syscalls } from "../../src/host/syscalls-types.js";
import { createAlpsProcBackend } from "../../src/backend/proc/alps-proc-backend.js";
import { asDaemon, cleanup, spawnGated } from "../backend/fixtures/children.js";
import { bpfHost, cleanupChild, type GatedBurner, procSched, spawnGatedBurner } from "./bpf-kit.js";

const { loaded, ready } = bpfHost();

/** 0.1 predicted runs: 120 ms for `soon` (predicted 1.2 s), 4 s for `later` (predicted 40 s). */
const BOUND = 0.1;
const POLICY: Policy = {
  ...emptyPolicy(),
  functions: {
    soon: { priority: 1, predicted_ms: 1200, slice_ms: 1000 },
    later: { priority: 2, predicted_ms: 40_000, slice_ms: 1000 },
  },
};
/** Only a hang waits this long for the lift (the check runs every 100 ms). */
const DEADLINE_MS = 5000;

/** How long after `started` task `pid` was seen back on SCHED_OTHER, ms (NaN: not within the deadline). */
async function msUntilLifted(pid: number, started: number): Promise<number> {
  while (performance.now() - started < DEADLINE_MS) {
    if (procSched(pid).policy === SCHED_OTHER) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 10));
  }
  return Number.NaN;
}

describe.skipIf(!ready)("yield bound (BPF backend, dynamic strategy)", () => {
  let backend: BpfBackend;
  const syscalls = loaded.ok ? addonSyscalls(loaded.addon) : undefined;
  const burners: GatedBurner[] = [];

  beforeAll(async () => {
    // The daemon runs above its functions; so does this test process.
    raiseToRealtime(50);
    backend = await createBpfBackend({ strategy: "dynamic", yieldBound: BOUND });
    backend.applyPolicy(POLICY);
  });
  afterAll(async () => {
    for (const b of burners) if (syscalls) cleanupChild(b.child, syscalls);
    await backend?.close();
    restoreSelf();
  });

  it("lifts a yield to nice 0 once its bound passes, and caps the levels posted after it", async () => {
    // Both start at a yield deep enough for SCHED_IDLE (1.2 s remaining: level 16).
    expect(runsIdle(dynamicLevel(1200, 0, 1000))).toBe(true);
    // 150 ms of CPU crosses the band's next threshold (1078 ms remaining, at
    // 122 ms used): the kernel posts level 15, still a SCHED_IDLE yield.
    expect(dynamicLevel(1200, 150, 1000)).toBe(15);
    const soon = await spawnGatedBurner("b150", 3000);
    burners.push(soon);
    const later = await spawnGatedBurner("b20", 3000);
    burners.push(later);
    const started = performance.now();
    backend.startInvocation("soon", soon.pid);
    backend.startInvocation("later", later.pid);
    expect(procSched(soon.pid).policy).toBe(SCHED_IDLE);
    expect(procSched(later.pid).policy).toBe(SCHED_IDLE);

    // Both wait on their gates (no CPU): only the bound can change a level now.
    const liftedAfterMs = await msUntilLifted(soon.pid, started);
    expect(procSched(soon.pid)).toEqual({ nice: 0, policy: SCHED_OTHER });
    // Not before its bound (0.1 × 1200 ms).
    expect(liftedAfterMs).toBeGreaterThanOrEqual(BOUND * 1200);
    expect(backend.status().counters.nr_yields_lifted).toBe(1);
    // The other one's bound (4 s) has not passed: it still yields.
    expect(performance.now() - started).toBeLessThan(BOUND * 40_000);
    expect(procSched(later.pid).policy).toBe(SCHED_IDLE);

    // Running, the kernel posts yields from its predicted remaining time
    // (level 16, then 15); the backend caps each at nice 0.
    const levelsBefore = backend.status().counters.nr_level_changes ?? 0;
    const result = await soon.release();
    expect(result.exitCode).toBe(0);
    expect(backend.status().counters.nr_level_changes).toBeGreaterThan(levelsBefore);
    const main = result.samples.filter((s) => s.who === "main");
    expect(main.length).toBeGreaterThan(0);
    expect(main.every((s) => s.policy === SCHED_OTHER && s.nice <= 0)).toBe(true);
    backend.endInvocation(soon.pid);
    backend.endInvocation(later.pid);
    expect(procSched(later.pid)).toEqual({ nice: 0, policy: SCHED_OTHER });
  });
});

describe.skipIf(!ready)("yield bound (proc backend, dynamic strategy)", () => {
  const syscalls = loaded.ok ? addonSyscalls(loaded.addon) : undefined;

  it("lifts a sleeping yielder to nice 0 at its bound, as the BPF backend does", () =>
    asDaemon(syscalls as Syscalls, async () => {
      const backend = createAlpsProcBackend({
        syscalls: syscalls as Syscalls,
        yieldBound: BOUND,
      });
      backend.applyPolicy(POLICY);
      const gated = await spawnGated([["spin", 5]]);
      try {
        const started = performance.now();
        backend.startInvocation("soon", gated.pid);
        expect(procSched(gated.pid).policy).toBe(SCHED_IDLE);
        const liftedAfterMs = await msUntilLifted(gated.pid, started);
        expect(procSched(gated.pid)).toEqual({ nice: 0, policy: SCHED_OTHER });
        expect(liftedAfterMs).toBeGreaterThanOrEqual(BOUND * 1200);
        expect(backend.status().counters.nr_yields_lifted).toBe(1);
        await gated.release();
      } finally {
        await backend.close();
        cleanup(syscalls as Syscalls, [gated.pid]);
      }
    }));
});
