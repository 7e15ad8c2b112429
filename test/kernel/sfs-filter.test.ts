/**
 * SFS mode on the real kernel (issue 5, must-show 2, 4 and 6): FIFO from the
 * first instruction, back on CFS after the slice, promoted again with the
 * rest of the slice after a sleep, nothing left on FIFO after close(); with
 * the native addon hidden, so the syscalls go through ffi-rs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSfsBackend } from "../../src/backend/sfs/sfs-backend.js";
import { loadSyscalls } from "../../src/host/syscalls.js";
import { SCHED_FIFO, SCHED_OTHER, type Syscalls } from "../../src/host/syscalls-types.js";
import {
  asDaemon,
  type ChildReport,
  cleanup,
  policyOf,
  sinceRelease,
  spawnGated,
} from "../backend/fixtures/children.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { kernelTick } from "./bpf-kit.js";

const canRun = requireHost("root (SCHED_FIFO)", isRoot());

/** The sample after the last one on SCHED_FIFO: where the task left FIFO for good. */
function finalDemotion<T extends { policy: number }>(samples: readonly T[]): T | undefined {
  const last = samples.map((s) => s.policy).lastIndexOf(SCHED_FIFO);
  return last < 0 ? undefined : samples[last + 1];
}
const SLICE_MS = 20;
/** CPU of one turn of the child's loop (adds and three /proc reads), generously. */
const SAMPLE_MS = 0.5;

/**
 * CPU the child ran on SCHED_FIFO, from its own samples: each sample opens a
 * stretch under the policy it saw, closed by the next sample (or its end).
 */
function fifoCpuMs(report: ChildReport): number {
  let ms = 0;
  report.samples.forEach((s, i) => {
    const next = report.samples[i + 1]?.cpuMs ?? report.cpuMs;
    if (s.policy === SCHED_FIFO) ms += next - s.cpuMs;
  });
  return ms;
}

/**
 * What FIFO may hold a task for: its slice, plus what the backend measured
 * it ran past the slice before the demotion landed, plus, per promotion, a
 * tick (the child's CPU clock is the kernel's, brought up to date at each
 * tick, and each stretch has two ends) and a turn of its sampling loop.
 * Time on the fair class between a wake-up and the promotion that follows
 * is not FIFO time and is not counted: on a loaded host it can be long.
 */
function fifoBoundMs(overshootMs: readonly number[], promotions: number, tickMs: number): number {
  return SLICE_MS + Math.max(0, ...overshootMs) + (tickMs + SAMPLE_MS) * (promotions + 1);
}

describe.skipIf(!canRun)("sfs FILTER on the real kernel, addon hidden", () => {
  let syscalls: Syscalls;
  let reason: string | undefined;
  const saved = process.env.ALPS_NO_ADDON;

  beforeAll(() => {
    process.env.ALPS_NO_ADDON = "1";
    ({ syscalls, reason } = loadSyscalls());
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.ALPS_NO_ADDON;
    else process.env.ALPS_NO_ADDON = saved;
  });

  it("uses ffi syscalls and says why", () => {
    expect(syscalls.kind).toBe("ffi");
    expect(reason).toMatch(/ALPS_NO_ADDON=1/);
  });

  it("runs a CPU-bound invocation on FIFO from its first instruction and on CFS after its slice", () =>
    asDaemon(syscalls, async () => {
      // One FIFO slot: the other core stays free for the poller and the test runner.
      const sfs = createSfsBackend({ syscalls, cores: 1, initialSliceMs: SLICE_MS });
      const gated = await spawnGated([["spin", 80]]);
      try {
        sfs.startInvocation("spin", gated.pid);
        expect(policyOf(gated.pid)).toBe(SCHED_FIFO);
        const report = await gated.release();
        expect(report.startPolicy).toBe(SCHED_FIFO);
        expect(report.endPolicy).toBe(SCHED_OTHER);
        // The expiry, not a block: a short block inside the run (node's main
        // thread waiting on a helper, more likely on a loaded host) also
        // leaves FIFO for a moment, and the rest of the slice follows the
        // wake-up.
        const demoted = finalDemotion(report.samples);
        expect(demoted).toBeDefined();
        // Demoted once its slice of CPU is used, counted from its release as
        // the backend counts. The backend reads the task's CPU from /proc,
        // which never runs ahead of the task, from a start read while it
        // slept (exact): so not before 20 ms. The child reads its own CPU
        // from /proc too, where a running task's time is brought up to date
        // at each tick: its sample may lag by one tick. Each promotion after
        // a block starts the rest of the slice from a read of the running
        // task, which may lag by a tick as well.
        const { tickMs } = await kernelTick();
        const promotions = sfs.status().counters.nr_promoted ?? 1;
        expect(sinceRelease(report, demoted as { cpuMs: number })).toBeGreaterThanOrEqual(
          SLICE_MS - tickMs * promotions,
        );
        expect(fifoCpuMs(report), JSON.stringify(report.samples)).toBeLessThanOrEqual(
          fifoBoundMs(sfs.expiryOvershootMs(), promotions, tickMs),
        );
        expect(sfs.status().counters.nr_expired).toBe(1);
      } finally {
        await sfs.close();
        cleanup(syscalls, [gated.pid]);
      }
    }));

  it("promotes an invocation that slept inside its slice again, with the rest of its slice", () =>
    asDaemon(syscalls, async () => {
      const sfs = createSfsBackend({ syscalls, cores: 1, initialSliceMs: SLICE_MS });
      const gated = await spawnGated([
        ["spin", 5],
        ["sleep", 80],
        ["spin", 60],
      ]);
      try {
        sfs.startInvocation("io", gated.pid);
        const report = await gated.release();
        expect(report.startPolicy).toBe(SCHED_FIFO);
        const second = report.samples.filter((s) => s.phase === 2);
        // Back on FIFO after the wake-up...
        expect(second.some((s) => s.policy === SCHED_FIFO)).toBe(true);
        // ...until the whole slice (first burst + rest) is used, then CFS.
        const demoted = finalDemotion(second);
        expect(demoted).toBeDefined();
        // Counted from the release, both bursts together, a tick per
        // promotion (see above): here at least two, one per burst.
        const { tickMs } = await kernelTick();
        const promotions = sfs.status().counters.nr_promoted ?? 2;
        expect(promotions).toBeGreaterThanOrEqual(2);
        expect(sinceRelease(report, demoted as { cpuMs: number })).toBeGreaterThanOrEqual(
          SLICE_MS - tickMs * promotions,
        );
        expect(fifoCpuMs(report), JSON.stringify(report.samples)).toBeLessThanOrEqual(
          fifoBoundMs(sfs.expiryOvershootMs(), promotions, tickMs),
        );
        expect(report.endPolicy).toBe(SCHED_OTHER);
        expect(sfs.status().counters.nr_blocked_in_slice).toBeGreaterThanOrEqual(1);
      } finally {
        await sfs.close();
        cleanup(syscalls, [gated.pid]);
      }
    }));

  it("close() leaves no task on SCHED_FIFO", () =>
    asDaemon(syscalls, async () => {
      const sfs = createSfsBackend({ syscalls, cores: 1, initialSliceMs: 500 });
      const gated = await spawnGated([["spin", 5]]);
      try {
        sfs.startInvocation("held", gated.pid);
        expect(policyOf(gated.pid)).toBe(SCHED_FIFO);
        await sfs.close();
        expect(policyOf(gated.pid)).toBe(SCHED_OTHER);
        const report = await gated.release();
        expect(report.startPolicy).toBe(SCHED_OTHER);
      } finally {
        await sfs.close();
        cleanup(syscalls, [gated.pid]);
      }
    }));
});
