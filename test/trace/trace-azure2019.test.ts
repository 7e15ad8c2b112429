import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { InputError } from "../../src/errors.js";
import { durationAtQuantile } from "../../src/trace/azure2019.js";
import { convertTrace } from "../../src/trace/convert.js";
import {
  AZURE_MINUTES,
  type AzureFn,
  countsByFnMinute,
  expectedCounts,
  tempDir,
  writeAzure2019,
} from "./layouts.js";

const P_A: AzureFn["percentiles"] = [1, 2, 5, 10, 20, 50, 100];
const P_B: AzureFn["percentiles"] = [100, 150, 200, 300, 400, 900, 1000];

function errorOf(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error("expected an InputError");
}

const FNS: AzureFn[] = [
  { owner: "o1", app: "appA", func: "fA", counts: { 3: 4, 4: 0, 6: 9, 100: 1 }, percentiles: P_A },
  { owner: "o1", app: "appA", func: "fB", counts: { 4: 2, 6: 1 }, percentiles: P_B },
  { owner: "o2", app: "appC", func: "fC", counts: { 5: 30 }, percentiles: P_A },
];

describe("azure2019 converter", () => {
  it("keeps every invocation per function and minute, drops only leading idle minutes, sorts, names, ms durations", () => {
    const dir = tempDir("az19");
    writeAzure2019(dir, 1, FNS);
    const { invocations, notes, skipped } = convertTrace({
      from: "azure2019",
      input: dir,
      seed: 7,
    });
    expect(notes).toEqual([]);
    expect(skipped).toBe(0);
    // Arrival 0 is the start of minute 3, the first with an invocation; minute 100 keeps its place.
    expect(countsByFnMinute(invocations, 3)).toEqual(
      expectedCounts(FNS.map((f) => [f.func, f.counts] as [string, Record<number, number>])),
    );
    expect(invocations).toHaveLength(4 + 9 + 1 + 2 + 1 + 30);
    for (let i = 1; i < invocations.length; i++) {
      expect(invocations[i]!.arrivalMs).toBeGreaterThanOrEqual(invocations[i - 1]!.arrivalMs);
    }
    for (const inv of invocations) {
      const p = inv.fn === "fB" ? P_B! : P_A!;
      expect(inv.durationMs).toBeGreaterThanOrEqual(p[0]);
      expect(inv.durationMs).toBeLessThanOrEqual(p[6]);
      expect(inv.app).toBe(inv.fn === "fC" ? "appC" : "appA");
    }
    // Percentiles are in ms already: the durations of fB sit around its median of 300 ms.
    const fb = invocations.filter((i) => i.fn === "fB").map((i) => i.durationMs);
    expect(Math.max(...fb)).toBeGreaterThan(100);
  });

  it("is reproducible for a seed and spreads evenly when asked", () => {
    const dir = tempDir("az19");
    writeAzure2019(dir, 2, FNS);
    const a = convertTrace({ from: "azure2019", input: dir, day: 2, seed: 3 });
    const b = convertTrace({ from: "azure2019", input: dir, day: 2, seed: 3 });
    const c = convertTrace({ from: "azure2019", input: dir, day: 2, seed: 4 });
    expect(a.invocations).toEqual(b.invocations);
    expect(a.invocations).not.toEqual(c.invocations);
    const even = convertTrace({
      from: "azure2019",
      input: dir,
      day: 2,
      spread: "even",
      functions: 1,
    });
    // fC is the busiest (30 in minute 5, which becomes minute 0): at the centres of 2 s slots.
    expect(even.invocations.map((i) => i.arrivalMs)).toEqual(
      Array.from({ length: 30 }, (_, k) => (k + 0.5) * 2000),
    );
  });

  it("selects a window of minutes and the busiest functions", () => {
    const dir = tempDir("az19");
    writeAzure2019(dir, 1, FNS);
    const w = convertTrace({ from: "azure2019", input: dir, startMinute: 4, minutes: 2, seed: 1 });
    // Minutes 4 and 5 only; minute 4 has an invocation, so it is time 0.
    expect(countsByFnMinute(w.invocations, 4)).toEqual(
      expectedCounts([
        ["fB", { 4: 2 }],
        ["fC", { 5: 30 }],
      ]),
    );
    const top2 = convertTrace({ from: "azure2019", input: dir, functions: 2, seed: 1 });
    expect(new Set(top2.invocations.map((i) => i.fn))).toEqual(new Set(["fA", "fC"]));
  });

  it("adds up rows of one function under several triggers; reports functions without durations", () => {
    const dir = tempDir("az19");
    writeAzure2019(dir, 1, [
      { owner: "o", app: "a", func: "f", trigger: "http", counts: { 0: 2 }, percentiles: P_A },
      {
        owner: "o",
        app: "a",
        func: "f",
        trigger: "timer",
        counts: { 0: 3, 1: 1 },
        percentiles: P_A,
      },
      { owner: "o", app: "a", func: "g", counts: { 1: 5 } },
    ]);
    const r = convertTrace({ from: "azure2019", input: dir, seed: 1 });
    expect(countsByFnMinute(r.invocations)).toEqual(expectedCounts([["f", { 0: 5, 1: 1 }]]));
    expect(r.notes.join("\n")).toMatch(
      /5 invocation\(s\) of 1 function\(s\) left out: no row for them in .*function_durations_percentiles\.anon\.d01\.csv/,
    );
  });

  it("a corrupted cell in an idle minute outside the window fails with file, 1-based line and column", () => {
    const dir = tempDir("az19");
    const files = writeAzure2019(dir, 1, FNS, {
      invocations: (lines) => {
        // fB's row is line 3; minute column "1000" is field 4 + 999.
        const cells = lines[2]!.split(",");
        cells[4 + 999] = "x7";
        lines[2] = cells.join(",");
      },
    });
    const e = errorOf(() =>
      convertTrace({ from: "azure2019", input: dir, startMinute: 0, minutes: 10 }),
    );
    expect([e.file, e.line, e.field]).toEqual([files.invocations, 3, "1000"]);
    expect(e.message).toContain(`${files.invocations}:3: field '1000'`);
  });

  it.each([
    [
      "negative count",
      (l: string[]) => (l[1] = l[1]!.replace(/,0,0,/, ",-1,0,")),
      "invocations",
      2,
    ],
    [
      "fractional count",
      (l: string[]) => (l[1] = l[1]!.replace(/,0,0,/, ",1.5,0,")),
      "invocations",
      2,
    ],
    ["missing field", (l: string[]) => (l[2] = l[2]!.replace(/,0$/, "")), "invocations", 3],
    [
      "missing minute column",
      (l: string[]) => (l[0] = l[0]!.replace(",1440", ",1441")),
      "invocations",
      1,
    ],
  ])("%s is an error naming the line", (_name, edit, which, line) => {
    const dir = tempDir("az19");
    const files = writeAzure2019(dir, 1, FNS, { invocations: edit });
    const e = errorOf(() => convertTrace({ from: "azure2019", input: dir }));
    expect(e.file).toBe(files[which as "invocations"]);
    expect(e.line).toBe(line);
  });

  it("bad durations rows name the column: decreasing percentiles, non-numbers, duplicates", () => {
    const dir = tempDir("az19");
    const files = writeAzure2019(dir, 1, FNS, {
      durations: (l) => {
        l[2] = l[2]!.replace(",300,400,", ",300,250,");
      },
    });
    const e = errorOf(() => convertTrace({ from: "azure2019", input: dir }));
    expect([e.file, e.line, e.field]).toEqual([files.durations, 3, "percentile_Average_75"]);
    writeAzure2019(dir, 1, FNS, { durations: (l) => l.push(l[1]!) });
    expect(errorOf(() => convertTrace({ from: "azure2019", input: dir })).line).toBe(5);
    writeAzure2019(dir, 1, FNS, {
      durations: (l) => {
        const cells = l[1]!.split(",");
        cells[4] = "ten"; // Count
        l[1] = cells.join(",");
      },
    });
    expect(errorOf(() => convertTrace({ from: "azure2019", input: dir })).field).toBe("Count");
  });

  it("--skip-bad skips the corrupted row, counts it, and keeps the rest exactly", () => {
    const dir = tempDir("az19");
    writeAzure2019(dir, 1, FNS, {
      invocations: (lines) => {
        lines[2] = lines[2]!.replace(/,0,0,0,0,0,0,0,0,0,0,0,0$/, ",0,0,0,0,0,0,0,0,0,0,0,oops");
      },
    });
    const seen: InputError[] = [];
    const r = convertTrace({
      from: "azure2019",
      input: dir,
      skipBad: true,
      onSkip: (e) => seen.push(e),
      seed: 1,
    });
    expect(r.skipped).toBe(1);
    expect(seen.map((e) => [e.line, e.field])).toEqual([[3, "1440"]]);
    expect(countsByFnMinute(r.invocations, 3)).toEqual(
      expectedCounts([
        ["fA", FNS[0]!.counts],
        ["fC", FNS[2]!.counts],
      ]),
    );
  });

  it("draws durations inside the percentile brackets, interpolating linearly", () => {
    const p = P_B!;
    expect(durationAtQuantile(p, 0)).toBe(100);
    expect(durationAtQuantile(p, 0.5)).toBe(300);
    expect(durationAtQuantile(p, 0.625)).toBeCloseTo(350, 9);
    expect(durationAtQuantile(p, 1)).toBe(1000);
  });

  it("property: random tables convert exactly; mangled ones give a result or an InputError", () => {
    const fnArb = fc.record({
      counts: fc.dictionary(
        fc.integer({ min: 0, max: AZURE_MINUTES - 1 }).map(String),
        fc.integer({ min: 0, max: 6 }),
        { maxKeys: 5 },
      ),
      p: fc
        .array(fc.integer({ min: 0, max: 5000 }), { minLength: 7, maxLength: 7 })
        .map((a) => a.sort((x, y) => x - y)),
    });
    const junk = fc.constantFrom("", "x", "-1", "1.5", "NaN", ",", "1e3", " 2 ");
    const dir = tempDir("az19p");
    fc.assert(
      fc.property(
        fc.array(fnArb, { minLength: 1, maxLength: 4 }),
        fc.option(fc.tuple(fc.nat(), fc.nat(), junk, fc.boolean())),
        (rows, mangle) => {
          const fns: AzureFn[] = rows.map((r, i) => ({
            owner: "o",
            app: `app${i % 2}`,
            func: `f${i}`,
            counts: Object.fromEntries(Object.entries(r.counts).map(([k, v]) => [Number(k), v])),
            percentiles: r.p as AzureFn["percentiles"],
          }));
          const edit = (lines: string[]): void => {
            if (mangle === null) return;
            const [li, ci, text] = mangle;
            const line = li % lines.length;
            const cells = lines[line]!.split(",");
            cells[ci % cells.length] = text;
            lines[line] = cells.join(",");
          };
          writeAzure2019(dir, 1, fns, mangle?.[3] ? { durations: edit } : { invocations: edit });
          let out: TraceInvocation[];
          try {
            out = convertTrace({ from: "azure2019", input: dir, seed: 1 }).invocations;
          } catch (e) {
            expect(e).toBeInstanceOf(InputError);
            return;
          }
          if (mangle === null) {
            const total = fns.reduce(
              (s, f) => s + Object.values(f.counts).reduce((a, b) => a + b, 0),
              0,
            );
            expect(out).toHaveLength(total);
          }
          for (const inv of out) expect(inv.durationMs).toBeGreaterThan(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});
