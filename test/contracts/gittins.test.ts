import { describe, expect, it } from "vitest";
import {
  gittinsLevelTable,
  type LevelTable,
  RunDistribution,
  tableLevel,
} from "../../src/contracts/gittins.js";
import {
  curveLevel,
  DEFAULT_CURVE,
  dynamicLevel,
  levelThresholdsMs,
} from "../../src/contracts/levels.js";

/** A small deterministic generator (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r ^= r + Math.imul(r ^ (r >>> 7), 61 | r);
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/** 1/G(a) straight from the definition: the ratio summed over the samples, for each Δ tried. */
function remainingByDefinition(samples: readonly number[], a: number, deltas: number[]): number {
  const alive = samples.filter((x) => x > a);
  if (alive.length === 0) return 0;
  let best = 0;
  for (const d of deltas) {
    if (!(d > 0)) continue;
    let done = 0;
    let served = 0;
    for (const x of alive) {
      if (x - a <= d) done++;
      served += Math.min(x - a, d);
    }
    best = Math.max(best, done / alive.length / (served / alive.length));
  }
  return 1 / best;
}

function checkTableShape(table: LevelTable): void {
  expect(table.fromMs[0]).toBe(0);
  expect(table.fromMs.length).toBe(table.level.length);
  for (let i = 1; i < table.fromMs.length; i++) {
    expect(table.fromMs[i] as number).toBeGreaterThan(table.fromMs[i - 1] as number);
    expect(table.level[i]).not.toBe(table.level[i - 1]);
  }
}

describe("Gittins remaining time (1/G) of hand-worked distributions", () => {
  it("a run that is always 100 ms: exactly the remaining time, 0 once outlived", () => {
    const d = new RunDistribution([100, 100, 100]);
    for (const a of [0, 1, 37.5, 99, 99.999]) expect(d.remainingMs(a)).toBeCloseTo(100 - a, 9);
    expect(d.remainingMs(100)).toBe(0);
    expect(d.remainingMs(250)).toBe(0);
  });

  it("two points, 10 and 100 ms: the short one rules until it is outlived", () => {
    // a = 0: Δ = 10 gives P = 1/2 over E[min(X, 10)] = 10, 1/G = 20 (Δ = 100: 55/1).
    // a = 5: Δ = 5 gives 1/2 over 5, 1/G = 10. Past 10 only 100 is left: 100 − a.
    const d = new RunDistribution([100, 10]);
    expect(d.remainingMs(0)).toBeCloseTo(20, 9);
    expect(d.remainingMs(5)).toBeCloseTo(10, 9);
    expect(d.remainingMs(9)).toBeCloseTo(2, 9);
    expect(d.remainingMs(10)).toBeCloseTo(90, 9);
    expect(d.remainingMs(50)).toBeCloseTo(50, 9);
    expect(d.index(0)).toBeCloseTo(1 / 20, 12);
  });

  it("three of four runs short (10, 10, 10, 100): 40/3 ms at the start, not the mean 32.5", () => {
    // Δ = 10: P = 3/4, E[min(X, 10)] = 10, so 1/G = 10 / (3/4) = 13.33; Δ = 100: 32.5.
    const d = new RunDistribution([10, 100, 10, 10]);
    expect(d.remainingMs(0)).toBeCloseTo(40 / 3, 9);
    // Once the short ones are outlived the invocation is one of the long ones: 80 ms left at 20.
    expect(d.remainingMs(20)).toBeCloseTo(80, 9);
    // Against `dynamic` on the mean: more urgent at the start, less once past the short mode.
    const mean = 32.5;
    expect(curveLevel(d.remainingMs(0))).toBeLessThan(curveLevel(mean));
    expect(curveLevel(d.remainingMs(20))).toBeGreaterThan(curveLevel(mean - 20));
  });

  it("exponential-like runs (quantiles of an exponential, mean 200 ms): about the mean wherever it stands", () => {
    // Memoryless: the index of an exponential is its rate at every age, so 1/G = the mean.
    const mu = 200;
    const n = 2000;
    const samples = Array.from({ length: n }, (_, i) => -mu * Math.log(1 - (i + 0.5) / n));
    const d = new RunDistribution(samples);
    const sorted = [...samples].sort((x, y) => x - y);
    // Just past a sample (the top of each saw tooth), with 100+ runs still possible.
    for (const i of [0, 100, 500, 1000, 1500, 1800]) {
      const a = sorted[i] as number;
      expect(Math.abs(d.remainingMs(a) - mu) / mu).toBeLessThan(0.03);
    }
    // Before the first sample the saw tooth is half a spacing wide (quantile 0.5/n): the
    // nearest end wins, 1/G = n · x_0, about μ/2.
    expect(d.remainingMs(0)).toBeCloseTo(n * (sorted[0] as number), 6);
    expect(d.remainingMs(0)).toBeCloseTo(mu / 2, 0);
  });

  it("matches the definition (the sup over Δ summed sample by sample) on random samples", () => {
    const next = rng(7);
    for (let trial = 0; trial < 30; trial++) {
      const n = 1 + Math.floor(next() * 12);
      // Rounded so that ties occur.
      const samples = Array.from({ length: n }, () => Math.round(1 + next() * 400));
      const d = new RunDistribution(samples);
      for (let q = 0; q < 8; q++) {
        const a = next() * 420;
        const deltas = [
          ...samples.map((x) => x - a),
          ...Array.from({ length: 50 }, () => next() * 500),
        ];
        expect(d.remainingMs(a)).toBeCloseTo(remainingByDefinition(samples, a, deltas), 6);
      }
    }
  });

  it("between two samples it falls at least as fast as the attained time grows, and never exceeds the mean residual", () => {
    const next = rng(11);
    for (let trial = 0; trial < 20; trial++) {
      const samples = Array.from({ length: 2 + Math.floor(next() * 20) }, () => 1 + next() * 1000);
      const d = new RunDistribution(samples);
      const sorted = [...d.runs];
      for (let i = 0; i + 1 < sorted.length; i++) {
        const lo = sorted[i] as number;
        const hi = sorted[i + 1] as number;
        if (hi - lo < 1e-6) continue;
        const a1 = lo + (hi - lo) * 0.2;
        const a2 = lo + (hi - lo) * 0.7;
        expect(d.remainingMs(a1) - d.remainingMs(a2)).toBeGreaterThanOrEqual(a2 - a1 - 1e-9);
      }
      for (let q = 0; q < 10; q++) {
        const a = next() * 1000;
        const alive = samples.filter((x) => x > a);
        if (alive.length === 0) continue;
        const residual = alive.reduce((s, x) => s + (x - a), 0) / alive.length;
        expect(d.remainingMs(a)).toBeLessThanOrEqual(residual + 1e-9);
      }
    }
  });

  it("refuses no samples and samples that are not run lengths", () => {
    expect(() => new RunDistribution([])).toThrow(/at least one sample/);
    expect(() => new RunDistribution([5, Number.NaN])).toThrow(/finite and >= 0/);
    expect(() => new RunDistribution([-1])).toThrow(/finite and >= 0/);
  });
});

describe("the level table by attained time", () => {
  const thresholds = levelThresholdsMs(DEFAULT_CURVE);

  it("of a one-point distribution is strategy dynamic's levels, breakpoints at predicted − threshold", () => {
    for (const predicted of [3, 40, 108, 700, 1500, 5000]) {
      const table = gittinsLevelTable(new RunDistribution([predicted]), DEFAULT_CURVE);
      checkTableShape(table);
      for (let a = 0; a < predicted * 1.2; a += predicted / 97)
        expect(tableLevel(table, a)).toBe(dynamicLevel(predicted, a, Number.POSITIVE_INFINITY));
      // Every breakpoint but the first is where predicted − used crosses a threshold.
      for (const at of table.fromMs.slice(1)) {
        const crossed = thresholds.some((t) => Math.abs(predicted - t - at) < 1e-9 * predicted);
        expect(crossed || at === predicted).toBe(true);
      }
    }
  });

  it("gives curveLevel(1/G) at every attained time (exact resolution)", () => {
    const next = rng(3);
    for (let trial = 0; trial < 20; trial++) {
      const samples = Array.from({ length: 1 + Math.floor(next() * 15) }, () =>
        Math.round(1 + next() ** 2 * 3000),
      );
      const d = new RunDistribution(samples);
      const table = gittinsLevelTable(d, DEFAULT_CURVE);
      checkTableShape(table);
      for (let q = 0; q < 200; q++) {
        const a = next() * 3100;
        // Skip points within rounding of a breakpoint.
        if (table.fromMs.some((f) => Math.abs(f - a) < 1e-6)) continue;
        expect(tableLevel(table, a)).toBe(curveLevel(d.remainingMs(a)));
      }
    }
  });

  it("of two points 10 and 100 ms: boosted to the top near 10 ms, back to 90 ms left after it", () => {
    const d = new RunDistribution([10, 100]);
    const table = gittinsLevelTable(d, DEFAULT_CURVE);
    expect(tableLevel(table, 0)).toBe(curveLevel(20));
    expect(tableLevel(table, 9.9)).toBe(DEFAULT_CURVE.niceMin);
    expect(tableLevel(table, 10)).toBe(curveLevel(90));
    expect(tableLevel(table, 150)).toBe(DEFAULT_CURVE.niceMin);
  });

  it("on a grid: breakpoints only at grid points, and a length bounded by the grid", () => {
    const next = rng(5);
    const samples = Array.from({ length: 500 }, () => 1 + next() * 4000);
    const d = new RunDistribution(samples);
    const exact = gittinsLevelTable(d, DEFAULT_CURVE);
    const grid = gittinsLevelTable(d, DEFAULT_CURVE, { kind: "grid", firstMs: 1, ratio: 2 });
    checkTableShape(grid);
    const longest = d.runs[d.size - 1] as number;
    const points = [0, longest];
    for (let a = 1; a < longest; a *= 2) points.push(a);
    for (const at of grid.fromMs) expect(points).toContain(at);
    expect(grid.fromMs.length).toBeLessThanOrEqual(Math.ceil(Math.log2(longest)) + 2);
    // 500 spread samples give the exact table a saw tooth per sample.
    expect(exact.fromMs.length).toBeGreaterThan(500);
    for (const at of grid.fromMs) expect(tableLevel(grid, at)).toBe(curveLevel(d.remainingMs(at)));
  });

  it("refuses a grid that does not grow", () => {
    const d = new RunDistribution([10]);
    expect(() =>
      gittinsLevelTable(d, DEFAULT_CURVE, { kind: "grid", firstMs: 1, ratio: 1 }),
    ).toThrow(/ratio > 1/);
  });
});
