/** The SFS slice: initial 20 ms, mean inter-arrival × cores every N arrivals, floor 6 ms. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SfsSlice } from "../../../src/backend/sfs/sfs-slice.js";

describe("SfsSlice", () => {
  it("starts at 20 ms and recomputes every N arrivals", () => {
    const slice = new SfsSlice({ cores: 2, recomputeEvery: 4 });
    expect(slice.ms).toBe(20);
    // Arrivals 15 ms apart: 4 gaps need 5 arrivals.
    const changed = [0, 15, 30, 45, 60].map((t) => slice.arrive(t));
    expect(changed).toEqual([false, false, false, false, true]);
    expect(slice.ms).toBe(30);
  });

  it("never goes below the floor", () => {
    const slice = new SfsSlice({ cores: 2, recomputeEvery: 2, floorMs: 6 });
    for (const t of [0, 1, 2]) slice.arrive(t);
    expect(slice.ms).toBe(6);
  });

  it("is max(floor, mean gap × cores) for any arrivals", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: 3, maxLength: 3 }),
        fc.integer({ min: 1, max: 8 }),
        (gaps, cores) => {
          const slice = new SfsSlice({ cores, recomputeEvery: 3 });
          let t = 0;
          slice.arrive(t);
          for (const gap of gaps) {
            t += gap;
            slice.arrive(t);
          }
          const mean = gaps.reduce((a, b) => a + b, 0) / 3;
          expect(slice.ms).toBeCloseTo(Math.max(6, mean * cores), 9);
        },
      ),
    );
  });

  it("rejects zero cores", () => {
    expect(() => new SfsSlice({ cores: 0 })).toThrow(RangeError);
  });
});
