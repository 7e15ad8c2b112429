import { describe, expect, it } from "vitest";
import { normalQuantile, Rng } from "../../src/trace/random.js";

describe("seeded random generator", () => {
  it("same seed, same stream; different seeds (numbers or strings), different streams", () => {
    const draw = (seed: number | string): number[] => {
      const r = new Rng(seed);
      return Array.from({ length: 20 }, () => r.nextUint32());
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw("abc")).toEqual(draw("abc"));
    expect(draw(1)).not.toEqual(draw(2));
    expect(draw(1)).not.toEqual(draw(1.5));
    expect(draw("abc")).not.toEqual(draw("abd"));
  });

  it("uniform, exponential and normal draws have the right moments", () => {
    const r = new Rng(123);
    const n = 200_000;
    let su = 0;
    let se = 0;
    let sn = 0;
    let sn2 = 0;
    let min = 1;
    let max = 0;
    for (let i = 0; i < n; i++) {
      const u = r.next();
      su += u;
      min = Math.min(min, u);
      max = Math.max(max, u);
      se += r.exponential(3);
      const z = r.normal();
      sn += z;
      sn2 += z * z;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    expect(su / n).toBeCloseTo(0.5, 2);
    expect(se / n).toBeGreaterThan(2.95);
    expect(se / n).toBeLessThan(3.05);
    expect(sn / n).toBeCloseTo(0, 1);
    expect(sn2 / n).toBeGreaterThan(0.98);
    expect(sn2 / n).toBeLessThan(1.02);
  });

  it("int(n) covers 0..n-1 uniformly and shuffle is a permutation", () => {
    const r = new Rng(5);
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < 50_000; i++) counts[r.int(5)]!++;
    for (const c of counts) expect(Math.abs(c / 10_000 - 1)).toBeLessThan(0.05);
    const items = Array.from({ length: 50 }, (_, i) => i);
    expect([...r.shuffle([...items])].sort((a, b) => a - b)).toEqual(items);
    expect(() => r.int(0)).toThrow(RangeError);
  });

  it("normalQuantile inverts the normal CDF", () => {
    expect(normalQuantile(0.5)).toBeCloseTo(0, 8);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326348, 5);
    expect(normalQuantile(0.8413447)).toBeCloseTo(1, 5);
  });
});
