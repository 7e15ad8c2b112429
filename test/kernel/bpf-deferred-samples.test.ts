/**
 * Burst samples and exits the daemon does not need at once are posted to
 * the ring buffer without waking it (BPF_RB_NO_WAKEUP; alps.bpf.c
 * post_event): at low rates each wake-up of the daemon costs more than the
 * event it carries. They must still all arrive: at an invocation's end, at
 * the daemon's next wake-up, and at close.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createBackend } from "../../src/backend/select.js";
import type { Backend, BurstSample } from "../../src/backend/types.js";
import { emptyPolicy } from "../../src/contracts/policy.js";
import { addonSyscalls } from "../../src/host/addon.js";
import { bpfHost, cleanupChild, RING_RECORDS, spawnGatedBurner } from "./bpf-kit.js";

const { loaded, ready } = bpfHost();

/** Three bursts of 5 ms CPU, 20 ms of sleep between them, then the task exits. */
const PLAN = "b5,s20,b5,s20,b5";

/** The quarter of the ring past which a held-back record wakes the daemon all the same (alps.bpf.c post_event). */
const QUARTER = Math.ceil(RING_RECORDS / 4);

let backend: Backend | undefined;
afterEach(async () => {
  await backend?.close();
  backend = undefined;
});

/** A backend of `mode` (closed after the test) and the burst samples of `fn` it hands over. */
async function collecting(
  mode: "cfs" | "alps",
  fn: string,
): Promise<{ b: Backend; samples: BurstSample[] }> {
  const opened = await createBackend({ mode });
  backend = opened.backend;
  const samples: BurstSample[] = [];
  backend.onBurst((s) => {
    if (s.fn === fn) samples.push(s);
  });
  return { b: backend, samples };
}

describe.skipIf(!ready)("burst samples posted without a wake-up", () => {
  it("wait in the ring buffer while nothing else wakes the daemon, and all arrive at close", async () => {
    // Observe only: no level ever changes, so nothing the kernel posts for this task wakes the daemon.
    const { b, samples } = await collecting("cfs", "quiet");
    const burner = await spawnGatedBurner(PLAN);
    try {
      b.startInvocation("quiet", burner.pid);
      const res = await burner.release();
      expect(res.exitCode).toBe(0);
      // The task has exited; give the event loop time to run anything the kernel announced.
      await new Promise((r) => setTimeout(r, 200));
      expect(samples).toHaveLength(0);
    } finally {
      if (loaded.ok) cleanupChild(burner.child, addonSyscalls(loaded.addon));
    }
    // Shutdown reads what waits: every planned burst arrives.
    await b.close();
    backend = undefined;
    expect(samples.filter((s) => s.cpuMs >= 4).length).toBeGreaterThanOrEqual(3);
  });

  it("are all handed to the learner by the end of the invocation (alps mode)", async () => {
    const { b, samples } = await collecting("alps", "steady");
    b.applyPolicy({
      ...emptyPolicy(),
      // A long prediction and slice: the level stays the same through each 5 ms burst.
      functions: { steady: { priority: 1, predicted_ms: 5000, slice_ms: 10_000 } },
    });
    const before = b.status().counters;
    const burner = await spawnGatedBurner(PLAN);
    try {
      b.startInvocation("steady", burner.pid);
      const res = await burner.release();
      expect(res.exitCode).toBe(0);
      b.endInvocation(burner.pid);
      // Synchronously after the end, before the event loop turns: every burst is there.
      const got = samples.length;
      const after = b.status().counters;
      const delta = (name: string): number => (after[name] ?? 0) - (before[name] ?? 0);
      const blocked = delta("nr_blocked");
      expect(delta("nr_ringbuf_drops")).toBe(0);
      expect(blocked).toBeGreaterThanOrEqual(3);
      expect(got).toBe(blocked);
      // Some were posted without a wake-up (the bursts whose level never changed, the exit).
      expect(delta("nr_events_deferred")).toBeGreaterThanOrEqual(1);
      expect(samples.filter((s) => s.cpuMs >= 4).length).toBeGreaterThanOrEqual(3);
    } finally {
      if (loaded.ok) cleanupChild(burner.child, addonSyscalls(loaded.addon));
    }
  });

  it("wake the daemon once a quarter of the ring waits unread, so held-back records never crowd out a level", async () => {
    const { b, samples } = await collecting("cfs", "chatty");
    // A burst ended by each 1 ms sleep: a tenth more held-back samples than
    // a quarter of the ring, and nothing else that would wake the daemon.
    const sleeps = Math.ceil(QUARTER * 1.1);
    const burner = await spawnGatedBurner(Array.from({ length: sleeps }, () => "s1").join(","));
    let beforeClose: number;
    try {
      b.startInvocation("chatty", burner.pid);
      const res = await burner.release();
      expect(res.exitCode).toBe(0);
      await new Promise((r) => setTimeout(r, 200));
      // Delivered without a read by the daemon: the kernel woke it past the quarter.
      beforeClose = samples.length;
      expect(beforeClose).toBeGreaterThanOrEqual(QUARTER * 0.9);
      expect(b.status().counters.nr_ringbuf_drops ?? 0).toBe(0);
    } finally {
      if (loaded.ok) cleanupChild(burner.child, addonSyscalls(loaded.addon));
    }
    await b.close();
    backend = undefined;
    // The rest waited for close, as the first case's did; none was lost.
    expect(samples.length).toBeGreaterThan(beforeClose);
    expect(samples.length).toBeGreaterThanOrEqual(sleeps);
  });
});
