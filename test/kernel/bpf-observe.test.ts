/**
 * cfs mode on the BPF sensor: the same programs as alps count each burst
 * and report it, but no task's level ever changes. The replay observes CFS
 * this way so that the baseline pays what alps pays for observation (a
 * /proc poller at the dispatcher's priority took ~0.7 of a core here).
 */
import { afterAll, describe, expect, it } from "vitest";
import { addonSyscalls } from "../../src/host/addon.js";
import { createBackend } from "../../src/backend/select.js";
import type { Backend } from "../../src/backend/types.js";
import { emptyPolicy } from "../../src/contracts/policy.js";
import { bpfHost, cleanupChild, spawnGatedBurner } from "./bpf-kit.js";

const { loaded, ready } = bpfHost();

describe.skipIf(!ready)("cfs mode on the BPF sensor", () => {
  let backend: Backend | undefined;
  afterAll(async () => {
    await backend?.close();
  });

  it("reports bursts and never changes a level, even for a policy that would boost", async () => {
    const opened = await createBackend({ mode: "cfs" });
    backend = opened.backend;
    expect([backend.mode, backend.sensor]).toEqual(["cfs", "bpf"]);
    expect(opened.reasons.join("\n")).toMatch(/observe only \(BPF sensor/);
    // Under alps this policy would start the task at nice -20.
    backend.applyPolicy({
      ...emptyPolicy(),
      functions: { spin: { priority: 1, predicted_ms: 5, slice_ms: 1000 } },
    });
    const bursts: number[] = [];
    backend.onBurst((s) => {
      if (s.fn === "spin") bursts.push(s.cpuMs);
    });
    const burner = await spawnGatedBurner("b30,s30,b30");
    try {
      backend.startInvocation("spin", burner.pid);
      const res = await burner.release();
      backend.endInvocation(burner.pid);
      expect(res.exitCode).toBe(0);
      const main = res.samples.filter((s) => s.who === "main");
      expect(main.length).toBeGreaterThan(1);
      expect(main.every((s) => s.nice === 0 && s.policy === 0)).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
      expect(bursts.some((ms) => ms >= 29 && ms < 45)).toBe(true);
      const counters = backend.status().counters;
      expect(counters.nr_level_changes).toBe(0);
      expect(counters.nr_expired).toBe(0);
      expect(counters.nr_applied).toBe(0);
    } finally {
      if (loaded.ok) cleanupChild(burner.child, addonSyscalls(loaded.addon));
    }
  });
});
