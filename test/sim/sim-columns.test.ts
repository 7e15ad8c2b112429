/**
 * The simulator takes a trace either as invocation objects or as the columns
 * the native reader produces (what `alps simulate` passes). Both forms of the
 * same trace must give the same result under every policy, to the bit.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Policy } from "../../src/contracts/policy.js";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { simulate } from "../../src/sim/index.js";
import { readTraceColumns, readTraceFile } from "../../src/trace/native.js";
import { writeTraceFile } from "../../src/trace/native-writer.js";
import { allConfigs } from "./sim-configs.js";

const policy: Policy = {
  functions: {
    f0: { priority: 1, predicted_ms: 2, slice_ms: 3 },
    f1: { priority: 2, predicted_ms: 20, slice_ms: 30 },
  },
  default: { priority: 3, predicted_ms: 50, slice_ms: 10 },
};

const traceArb = fc
  .array(
    fc.record({
      gap: fc.integer({ min: 0, max: 40 }).map((x) => x / 4),
      fn: fc.constantFrom("f0", "f1", "f2", "fünf"),
      duration: fc.integer({ min: 1, max: 80 }).map((x) => x / 4),
      cpuShare: fc.option(fc.constantFrom(0, 0.25, 0.5, 1), { nil: undefined }),
      app: fc.option(fc.constantFrom("a", "b"), { nil: undefined }),
    }),
    { minLength: 1, maxLength: 30 },
  )
  .map((rows) => {
    let t = 0;
    return rows.map((r): TraceInvocation => {
      t += r.gap;
      const inv: TraceInvocation = { arrivalMs: t, fn: r.fn, durationMs: r.duration };
      if (r.cpuShare !== undefined) inv.cpuMs = r.duration * r.cpuShare;
      if (r.app !== undefined) inv.app = r.app;
      return inv;
    });
  });

describe("simulate on columns", () => {
  it("equals simulate on invocation objects, for every policy", () => {
    const dir = mkdtempSync(join(tmpdir(), "alps-sim-columns-"));
    const file = join(dir, "t.csv");
    fc.assert(
      fc.property(traceArb, fc.integer({ min: 1, max: 3 }), (trace, cores) => {
        writeTraceFile(file, trace);
        const objects = readTraceFile(file);
        const columns = readTraceColumns(file);
        for (const opts of allConfigs(cores, policy)) {
          const want = simulate(objects, { ...opts, recordRuns: true });
          const got = simulate(columns, { ...opts, recordRuns: true });
          expect(got).toEqual(want);
          expect(simulate(columns, { ...opts, keepOutcomes: false }).summary).toEqual(want.summary);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("rejects columns that break the trace rules, naming the invocation", () => {
    const cols = {
      length: 2,
      arrival: Float64Array.from([5, 4]),
      duration: Float64Array.from([1, 1]),
      cpu: undefined,
      fn: Int32Array.from([0, 0]),
      app: undefined,
      names: ["f"],
    };
    expect(() => simulate(cols, { policy: "srpt", cores: 1 })).toThrow(/invocation 1: arrivalMs 4/);
    const cpu = { ...cols, arrival: Float64Array.from([0, 1]), cpu: Float64Array.from([0.5, 2]) };
    expect(() => simulate(cpu, { policy: "srpt", cores: 1 })).toThrow(/invocation 1: cpuMs 2/);
  });

  it("checks a changed copy of the reader's columns again (only the reader's own are vouched for)", () => {
    const dir = mkdtempSync(join(tmpdir(), "alps-sim-columns-"));
    const file = join(dir, "t.csv");
    writeTraceFile(file, [
      { arrivalMs: 0, fn: "f", durationMs: 1 },
      { arrivalMs: 1, fn: "g", durationMs: 2 },
    ]);
    const read = readTraceColumns(file);
    expect(simulate(read, { policy: "srpt", cores: 1 }).summary.invocations).toBe(2);
    const swapped = { ...read, arrival: Float64Array.from([1, 0]) };
    expect(() => simulate(swapped, { policy: "srpt", cores: 1 })).toThrow(
      /invocation 1: arrivalMs 0/,
    );
  });
});
