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
  cleanup,
  policyOf,
  sinceRelease,
  spawnGated,
} from "../backend/fixtures/children.js";
import { isRoot, requireHost } from "../helpers/host.js";

const canRun = requireHost("root (SCHED_FIFO)", isRoot());
const SLICE_MS = 20;

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
        const demoted = report.samples.find((s) => s.policy === SCHED_OTHER);
        expect(demoted).toBeDefined();
        // Demoted once its slice of CPU is used, counted from its release as
        // the backend counts (from /proc, which never runs ahead of the task):
        // not before, and after by at most the time /proc lags (a tick), the
        // 1 ms poll and the poller's reaction (it is real-time here).
        expect(sinceRelease(report, demoted as { cpuMs: number })).toBeGreaterThanOrEqual(SLICE_MS);
        expect(demoted?.cpuMs).toBeLessThan(SLICE_MS + 30);
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
        const demoted = second.find((s, i) => s.policy === SCHED_OTHER && i > 0);
        expect(demoted).toBeDefined();
        // Counted from the release, both bursts together (see above).
        expect(sinceRelease(report, demoted as { cpuMs: number })).toBeGreaterThanOrEqual(SLICE_MS);
        expect(demoted?.cpuMs).toBeLessThan(SLICE_MS + 30);
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
