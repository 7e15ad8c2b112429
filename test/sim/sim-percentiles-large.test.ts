/**
 * Selection on arrays long enough for Floyd–Rivest's sampling step (over 600
 * values), with heavy ties, sorted and reversed input: every requested
 * nearest-rank percentile equals the value a full sort gives.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { percentileNearestRank, percentilesNearestRank } from "../../src/sim/index.js";

const layouts = ["few values", "spread", "ascending", "descending"] as const;

function values(layout: (typeof layouts)[number], n: number, seed: number): Float64Array {
  let s = seed;
  const rand = (): number => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (layout === "few values") a[i] = Math.floor(rand() * 4);
    else if (layout === "spread") a[i] = Math.round(-Math.log(1 - rand()) * 1e6) / 1e3;
    else if (layout === "ascending") a[i] = i;
    else a[i] = n - i;
  }
  return a;
}

describe("nearest-rank percentiles on long arrays", () => {
  it("equal a full sort's, for any ranks", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...layouts),
        fc.integer({ min: 601, max: 20_000 }),
        fc.integer({ min: 1, max: 2_000_000_000 }),
        fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: 1, maxLength: 6 }),
        (layout, n, seed, ps) => {
          const a = values(layout, n, seed);
          const sorted = Array.from(a).sort((x, y) => x - y);
          const want = [...ps, 50, 90, 99, 100].map((p) => percentileNearestRank(sorted, p));
          expect(percentilesNearestRank(a, [...ps, 50, 90, 99, 100])).toEqual(want);
        },
      ),
      { numRuns: 150 },
    );
  });
});
