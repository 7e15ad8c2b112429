/**
 * A short trace (a few long and many short functions, load 0.85 on 2 cores)
 * replayed with real processes under cfs-observed and alps (sfs where BPF is
 * missing, locally only: CI must have BPF), through the in-process shortcut
 * with every function's tasks in one scheduling group (--sandbox-cgroups
 * none): the layout where nice levels decide. Short functions must finish
 * clearly sooner, and every invocation must be in each mode's CSV.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { durationGroups, meanTurnaround, replay } from "../../src/replay/index.js";
import { hasBtf, isRoot, requireHost } from "../helpers/host.js";
import {
  csvKeys,
  leftoverCgroup,
  leftoverWorkers,
  ownThreadPolicies,
  shortLongTrace,
  writeTrace,
} from "../replay/replay-fixtures.js";

const CAN_RUN =
  requireHost("root", isRoot()) && requireHost("BTF (/sys/kernel/btf/vmlinux)", hasBtf());

describe("replay of a short trace", () => {
  it.skipIf(!CAN_RUN)(
    "favours short functions over the observing daemon and records every invocation",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "alps-replay-short-"));
      const trace = shortLongTrace({ spanS: 8, load: 0.85, cores: 2, seed: 7 });
      const tracePath = writeTrace(dir, trace);
      const result = await replay({
        tracePath,
        modes: ["cfs-observed", "alps"],
        drivers: ["inprocess"],
        sandboxCgroups: "none",
        cores: 2,
        outDir: dir,
        fallback: !process.env.CI,
      });

      const keys = result.runs.map((r) => r.key);
      expect(keys[0]).toBe("cfs-observed");
      const favoured = result.runs[1];
      if (favoured === undefined) throw new Error("second mode did not run");
      if (process.env.CI) expect(favoured.key).toBe("alps");

      // Every invocation of the trace, once, in each mode's CSV.
      const expected = trace.map((i) => `${i.arrivalMs},${i.fn}`).sort();
      for (const key of keys) expect(csvKeys(join(dir, `${key}.csv`)).sort()).toEqual(expected);

      // Short = the shorter half by duration; a margin wide enough for a shared, noisy 2-core machine.
      const { short } = durationGroups(trace.map((i) => i.durationMs));
      const cfsShort = meanTurnaround(result.runs[0]?.run.invocations ?? [], short);
      const favouredShort = meanTurnaround(favoured.run.invocations, short);
      expect(
        favouredShort,
        `${favoured.key} short mean ${favouredShort} ms vs cfs ${cfsShort} ms`,
      ).toBeLessThan(0.75 * cfsShort);

      const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as {
        modes: Record<string, { invocations: number }>;
        vs_baseline: Record<string, unknown>;
        baseline: { key: string } | null;
      };
      expect(summary.modes[favoured.key]?.invocations).toBe(trace.length);
      expect(summary.baseline?.key).toBe("cfs-observed");
      expect(summary.vs_baseline[favoured.key]).toHaveProperty("mean_turnaround_ratio");
      expect(readFileSync(join(dir, "report.html"), "utf8")).toMatch(/<svg/);

      // Nothing left behind, and this process is back on SCHED_OTHER.
      expect(leftoverWorkers(process.pid)).toEqual([]);
      expect(leftoverCgroup(process.pid)).toBe(false);
      expect(ownThreadPolicies().every((p) => p === 0)).toBe(true);
    },
    120_000,
  );
});
