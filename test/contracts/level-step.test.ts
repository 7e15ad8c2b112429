/**
 * The level step (`--level-step`): strategy dynamic uses every step-th level
 * of the band, through the same threshold table the BPF program, the
 * backends and the simulator read. Checked against the rule written
 * directly (the fine level rounded to the nearest multiple of the step),
 * not against the table's construction.
 */
import { describe, expect, it } from "vitest";
import {
  BASE_NICE,
  curveLevel,
  DEFAULT_CURVE,
  DEFAULT_LEVEL_STEP,
  dynamicLevel,
  type LevelCurve,
  levelThresholdsMs,
  steppedThresholdsMs,
} from "../../src/contracts/levels.js";
import type { Policy } from "../../src/contracts/policy.js";
import { simulate } from "../../src/sim/index.js";

const FINE: LevelCurve = { ...DEFAULT_CURVE, levelStep: 1 };
const BANDS: readonly [string, LevelCurve][] = [
  ["the fixed band", FINE],
  ["a fitted band", { ...FINE, loMs: 0.4, hiMs: 1500 }],
  ["a narrow band of boosts", { ...FINE, niceMin: -19, niceMax: -1, loMs: 2, hiMs: 80 }],
];

/** Remaining times from well below each band to well above it, 1 % apart. */
function remainingTimes(curve: LevelCurve): number[] {
  const out: number[] = [0];
  for (let r = curve.loMs / 10; r < curve.hiMs * 10; r *= 1.01) out.push(r);
  return out;
}

/**
 * The rule: above the band, its last level; within it, the fine level
 * rounded to the nearest multiple of `step` (half up), kept in the band.
 */
function expectedLevel(
  remainingMs: number,
  fine: number,
  step: number,
  curve: LevelCurve,
  lowestGroup: number,
): number {
  if (remainingMs > (levelThresholdsMs(curve).at(-1) as number)) return curve.niceMax;
  const rounded = BASE_NICE + step * Math.round((fine - BASE_NICE) / step);
  const kept = Math.min(Math.max(rounded, curve.niceMin), curve.niceMax);
  // The lowest group has no level below its centre to take its first members' times: it uses niceMin.
  return kept === lowestGroup ? curve.niceMin : kept;
}

describe("level step", () => {
  it("step 1 is every level of the band: the geometric table itself", () => {
    const t = levelThresholdsMs(FINE);
    expect(t).toHaveLength(40);
    expect(t[0]).toBeCloseTo(FINE.loMs, 9);
    expect(t.at(-1)).toBeCloseTo(FINE.hiMs, 9);
    for (let i = 1; i < t.length; i++) expect(t[i]).toBeGreaterThan(t[i - 1] as number);
    expect(steppedThresholdsMs(t, FINE.niceMin, 1)).toEqual(t);
  });

  for (const [name, band] of BANDS) {
    for (const step of [2, 3, 4, 5]) {
      it(`${name}, step ${step}: each remaining time gets its fine level rounded to the step`, () => {
        const curve = { ...band, levelStep: step };
        const stepped = levelThresholdsMs(curve);
        const fine = levelThresholdsMs(band);
        expect(stepped).toHaveLength(fine.length);
        const lowest = Math.min(
          Math.max(BASE_NICE + step * Math.round((band.niceMin - BASE_NICE) / step), band.niceMin),
          band.niceMax,
        );
        let previous = Number.NEGATIVE_INFINITY;
        for (const r of remainingTimes(band)) {
          const level = curveLevel(r, curve, stepped);
          const f = curveLevel(r, band, fine);
          expect(level, `remaining ${r} ms (fine level ${f})`).toBe(
            expectedLevel(r, f, step, band, lowest),
          );
          // Never more urgent for more remaining time.
          expect(level).toBeGreaterThanOrEqual(previous);
          previous = level;
        }
      });
    }
  }

  it("a task crossing the whole fixed band changes level about a third as often at step 3", () => {
    const distinct = (step: number): number => {
      const curve = { ...FINE, levelStep: step };
      const t = levelThresholdsMs(curve);
      const seen = new Set<number>();
      for (let used = 0; used <= 3000; used += 0.5)
        seen.add(dynamicLevel(3000, used, 1e9, curve, t));
      return seen.size;
    };
    expect(distinct(1)).toBe(40);
    // 0, ±3 .. ±18 and the ends -20 and 19.
    expect(distinct(3)).toBe(15);
    expect(distinct(2)).toBe(21);
  });

  it("the default curve carries the default step", () => {
    expect(DEFAULT_CURVE.levelStep).toBe(DEFAULT_LEVEL_STEP);
    expect(levelThresholdsMs()).toEqual(
      levelThresholdsMs({ ...FINE, levelStep: DEFAULT_LEVEL_STEP }),
    );
  });

  it("a step that is not a whole number of at least 1 is refused", () => {
    for (const step of [0, -1, 1.5, Number.NaN])
      expect(() => levelThresholdsMs({ ...FINE, levelStep: step })).toThrow(/level step/);
  });

  it("the simulator takes the step as the daemon's option, the same as a curve that carries it", () => {
    // On one core, a (predicted 100 ms) and b (80 ms). Every level: a starts
    // at 0 and b at -1, a share of 1277 : 1024. Step 3: both start at 0, but b
    // is below 79 ms remaining (-3, a share of 1.95 : 1) after 0.6 ms of CPU,
    // a only after 20.6 ms, so b ends sooner. a ends at 180 ms either way.
    const trace = [
      { arrivalMs: 0, fn: "a", durationMs: 100 },
      { arrivalMs: 0, fn: "b", durationMs: 80 },
    ];
    const entries = {
      a: { priority: 2, predicted_ms: 100, slice_ms: 1000 },
      b: { priority: 1, predicted_ms: 80, slice_ms: 1000 },
    };
    const policy: Policy = { functions: entries, default: entries.a };
    const ends = (alps: { levelStep?: number; curve?: LevelCurve }): number[] =>
      simulate(trace, { policy: "alps", cores: 1, alps: { policy, ...alps } }).outcomes.map(
        (o) => o.completionMs,
      );
    const stepped = ends({ levelStep: 3 });
    expect(stepped).toEqual(ends({ curve: { ...FINE, levelStep: 3 } }));
    const fine = ends({ levelStep: 1 });
    expect(fine).toEqual(ends({}));
    expect(stepped[0]).toBeCloseTo(180, 6);
    expect(fine[0]).toBeCloseTo(180, 6);
    expect(stepped[1]).toBeLessThan((fine[1] as number) - 1);
  });
});
