/**
 * SFS overload (issue 5, must-show 3): with one FIFO slot and a 10 ms slice,
 * six CPU-bound invocations arriving together cannot all enter FIFO within
 * 3 slices (30 ms): the late ones go straight to CFS and never run on FIFO.
 */
import { describe, expect, it } from "vitest";
import { createSfsBackend, type SfsPhase } from "../../src/backend/sfs/sfs-backend.js";
import { createFfiSyscalls } from "../../src/host/syscalls-ffi.js";
import { SCHED_FIFO } from "../../src/host/syscalls-types.js";
import { asDaemon, cleanup, policyOf, spawnSpinner } from "../backend/fixtures/children.js";
import { isRoot, requireHost } from "../helpers/host.js";

const canRun = requireHost("root (SCHED_FIFO)", isRoot());

describe.skipIf(!canRun)("sfs overload", () => {
  const syscalls = createFfiSyscalls();
  it("sends invocations that waited more than 3 slices straight to CFS", () =>
    asDaemon(syscalls, async () => {
      const sfs = createSfsBackend({ syscalls, cores: 1, initialSliceMs: 10, floorMs: 6 });
      const children = Array.from({ length: 6 }, () => spawnSpinner(2));
      const pids = children.map((c) => c.pid as number);
      const everFifo = new Set<number>();
      const phases = new Map<number, SfsPhase["kind"][]>();
      try {
        for (const pid of pids) sfs.startInvocation("burn", pid);
        const until = Date.now() + 400;
        while (Date.now() < until) {
          for (const pid of pids) {
            if (policyOf(pid) === SCHED_FIFO) everFifo.add(pid);
            const kind = sfs.phaseOf(pid)?.kind;
            const seen = phases.get(pid) ?? [];
            if (kind !== undefined && seen.at(-1) !== kind) seen.push(kind);
            phases.set(pid, seen);
          }
          await new Promise((r) => setTimeout(r, 1));
        }
        const first = pids[0] as number;
        const last = pids.slice(-2);
        // The first one had a slot at once, used its slice and was demoted.
        expect(everFifo.has(first)).toBe(true);
        expect(sfs.phaseOf(first)).toEqual({ kind: "cfs", why: "expired" });
        // The last two waited at least 4 slices behind the others: overload.
        for (const pid of last) {
          expect(sfs.phaseOf(pid)).toEqual({ kind: "cfs", why: "overload" });
          expect(everFifo.has(pid)).toBe(false);
          expect(phases.get(pid)).not.toContain("fifo");
        }
        const { counters } = sfs.status();
        expect(counters.nr_overload).toBeGreaterThanOrEqual(2);
        expect((counters.nr_overload ?? 0) + (counters.nr_promoted ?? 0)).toBe(6);
        expect(counters.nr_fifo).toBe(0);
      } finally {
        await sfs.close();
        cleanup(syscalls, pids);
      }
      for (const pid of pids) expect(policyOf(pid) ?? 0).not.toBe(SCHED_FIFO);
    }));
});
