/**
 * The level step reaches the kernel: with `levelStep` 3 the BPF program
 * moves a running invocation only between every third level, so it posts
 * (and the daemon is woken for) about a third of the level changes. What
 * is asserted is what alps decides: the levels the task is seen at, and the
 * level-change counter against the changes the rule allows for the CPU the
 * burst used (its own CPU clock), never a scheduler's timing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addonSyscalls } from "../../src/host/addon.js";
import { type BpfBackend, createBpfBackend } from "../../src/backend/bpf/bpf-backend.js";
import { raiseToRealtime, restoreSelf } from "../../src/backend/actuator/self-priority.js";
import { SCHED_OTHER } from "../../src/host/syscalls-types.js";
import { DEFAULT_CURVE, dynamicLevel, levelThresholdsMs } from "../../src/contracts/levels.js";
import { emptyPolicy, type Policy } from "../../src/contracts/policy.js";
import { bpfHost, burstUsedMs, cleanupChild, procSched, spawnGatedBurner } from "./bpf-kit.js";

const { loaded, ready } = bpfHost();
const STEP = 3;
const PREDICTED_MS = 300;
const SLICE_MS = 1000;

describe.skipIf(!ready)("BPF levels with a level step", () => {
  let backend: BpfBackend;
  const syscalls = loaded.ok ? addonSyscalls(loaded.addon) : undefined;
  const curve = { ...DEFAULT_CURVE, levelStep: STEP };
  const thresholds = levelThresholdsMs(curve);
  /** The levels the rule gives a burst that has used `usedMs`, from 0 on, every 0.1 ms. */
  const levelsUpTo = (usedMs: number): number[] => {
    const levels: number[] = [];
    for (let u = 0; u <= usedMs; u += 0.1) {
      const level = dynamicLevel(PREDICTED_MS, u, SLICE_MS, curve, thresholds);
      if (levels.at(-1) !== level) levels.push(level);
    }
    return levels;
  };

  beforeAll(async () => {
    // The daemon runs above its functions; so does this test process.
    raiseToRealtime(50);
    backend = await createBpfBackend({ strategy: "dynamic", levelStep: STEP });
  });
  afterAll(async () => {
    await backend?.close();
    restoreSelf();
  });

  it("a 250 ms burst of a 300 ms function: only stepped levels, and at most one event per stepped level passed", async () => {
    const policy: Policy = {
      ...emptyPolicy(),
      functions: { spin: { priority: 1, predicted_ms: PREDICTED_MS, slice_ms: SLICE_MS } },
    };
    backend.applyPolicy(policy);
    expect(backend.curve().levelStep).toBe(STEP);
    const burner = await spawnGatedBurner("b250");
    try {
      const before = backend.status().counters.nr_level_changes ?? 0;
      backend.startInvocation("spin", burner.pid);
      // Registered at the stepped level of a fresh burst, before its first instruction.
      const start = dynamicLevel(PREDICTED_MS, 0, SLICE_MS, curve, thresholds);
      expect(start % STEP).toBe(0);
      expect(procSched(burner.pid)).toEqual({ nice: start, policy: SCHED_OTHER });
      const result = await burner.release();
      expect(result.exitCode).toBe(0);
      backend.endInvocation(burner.pid);
      const changes = (backend.status().counters.nr_level_changes ?? 0) - before;

      const main = result.samples.filter((s) => s.who === "main");
      expect(main.length).toBeGreaterThan(2);
      const usedMs = Math.max(...main.map((s) => burstUsedMs(s, result)));
      const allowed = levelsUpTo(usedMs + 5);
      // Every level it was seen at is one the stepped rule gives on the way (the last
      // samples may trail by the apply latency, never show a level in between).
      for (const s of main) expect(allowed, `nice ${s.nice}`).toContain(s.nice);
      // It did move: 300 → 50 ms remaining crosses several stepped levels.
      expect(new Set(main.map((s) => s.nice)).size).toBeGreaterThan(1);
      // One event per stepped level passed, and one more when its burst ended
      // (the next burst's starting level, posted as it exits).
      expect(changes).toBeGreaterThan(0);
      expect(changes).toBeLessThanOrEqual(allowed.length - 1 + 1);
      // The fine band would have posted about three times as many on the same way.
      const fine = { ...DEFAULT_CURVE, levelStep: 1 };
      const fineThresholds = levelThresholdsMs(fine);
      const fineLevels = new Set<number>();
      for (let u = 0; u <= usedMs; u += 0.1)
        fineLevels.add(dynamicLevel(PREDICTED_MS, u, SLICE_MS, fine, fineThresholds));
      expect(allowed.length - 1).toBeLessThan(fineLevels.size - 1);
    } finally {
      if (syscalls) cleanupChild(burner.child, syscalls);
    }
  });
});
