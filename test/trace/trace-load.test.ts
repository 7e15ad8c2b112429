import { describe, expect, it } from "vitest";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { UsageError } from "../../src/errors.js";
import { convertTrace } from "../../src/trace/convert.js";
import { type AzureFn, tempDir, writeAzure2019 } from "./layouts.js";

/** Offered load computed here from its definition, independently of src/trace/load.ts. */
function loadOf(invs: readonly TraceInvocation[], cores: number): number {
  const cpu = invs.reduce((s, i) => s + (i.cpuMs ?? i.durationMs), 0);
  return cpu / (cores * (invs[invs.length - 1]!.arrivalMs - invs[0]!.arrivalMs));
}

const FNS: AzureFn[] = [
  {
    owner: "o",
    app: "a",
    func: "short",
    counts: { 0: 40, 1: 35, 3: 50 },
    percentiles: [1, 2, 5, 8, 12, 40, 90],
  },
  {
    owner: "o",
    app: "a",
    func: "long",
    counts: { 1: 3, 2: 4 },
    percentiles: [100, 200, 400, 600, 900, 2500, 4000],
  },
];

describe("trace transformations", () => {
  it.each([
    [1, 0.5],
    [2, 0.85],
    [4, 1.2],
    [16, 0.3],
  ])("--cores %d --load %d hits the load within 2%", (cores, load) => {
    const dir = tempDir("load");
    writeAzure2019(dir, 1, FNS);
    const r = convertTrace({ from: "azure2019", input: dir, cores, load, seed: 5 });
    expect(r.invocations).toHaveLength(132);
    expect(Math.abs(loadOf(r.invocations, cores) / load - 1)).toBeLessThan(0.02);
  });

  it("caps durations, then rescales, so the capped trace has the asked load", () => {
    const dir = tempDir("load");
    writeAzure2019(dir, 1, FNS);
    const r = convertTrace({
      from: "azure2019",
      input: dir,
      maxDurationMs: 500,
      cores: 2,
      load: 0.7,
      seed: 5,
    });
    expect(Math.max(...r.invocations.map((i) => i.durationMs))).toBeLessThanOrEqual(500);
    expect(r.notes.some((n) => /capped at 500 ms/.test(n))).toBe(true);
    expect(Math.abs(loadOf(r.invocations, 2) / 0.7 - 1)).toBeLessThan(0.02);
  });

  it("--time-scale multiplies every arrival", () => {
    const dir = tempDir("load");
    writeAzure2019(dir, 1, FNS);
    const base = convertTrace({ from: "azure2019", input: dir, seed: 5 }).invocations;
    const slow = convertTrace({
      from: "azure2019",
      input: dir,
      seed: 5,
      timeScale: 2.5,
    }).invocations;
    expect(slow.map((i) => i.fn)).toEqual(base.map((i) => i.fn));
    slow.forEach((inv, k) => {
      expect(inv.arrivalMs).toBeCloseTo(base[k]!.arrivalMs * 2.5, 2);
    });
  });

  it("refuses contradictory or half-given flags", () => {
    const dir = tempDir("load");
    writeAzure2019(dir, 1, FNS);
    expect(() => convertTrace({ from: "azure2019", input: dir, cores: 2 })).toThrow(UsageError);
    expect(() =>
      convertTrace({ from: "azure2019", input: dir, cores: 2, load: 0.5, timeScale: 2 }),
    ).toThrow(UsageError);
    expect(() => convertTrace({ from: "azure2019", input: dir, maxDurationMs: -1 })).toThrow(
      UsageError,
    );
    expect(() => convertTrace({ from: "azure2019", input: dir, startMinute: 5000 })).toThrow(
      UsageError,
    );
  });
});
