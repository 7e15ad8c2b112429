import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { InputError } from "../../src/errors.js";
import { convertTrace } from "../../src/trace/convert.js";
import { type Azure2021Row, tempDir, writeAzure2021 } from "./layouts.js";

function errorOf(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error("expected an InputError");
}

// end and duration in seconds; arrival = end − duration.
const ROWS: Azure2021Row[] = [
  { app: "a1", func: "f", end: 100.5, duration: 0.5 }, // arrival 100.0
  { app: "a2", func: "f", end: 100.25, duration: 0.125 }, // arrival 100.125, same func name, other app
  { app: "a1", func: "g", end: 230, duration: 2 }, // arrival 228
  { app: "a1", func: "f", end: 99.9, duration: 0.3 }, // arrival 99.6 (first)
  { app: "a1", func: "f", end: 190.5, duration: 10.5 }, // arrival 180
];

describe("azure2021 converter", () => {
  it("arrival = end − duration, seconds → ms, sorted, relative to the first, named app/func", () => {
    const dir = tempDir("az21");
    const path = writeAzure2021(dir, ROWS);
    const r = convertTrace({ from: "azure2021", input: path });
    expect(r.invocations).toEqual<TraceInvocation[]>([
      { arrivalMs: 0, fn: "a1/f", durationMs: 300, app: "a1" },
      { arrivalMs: 400, fn: "a1/f", durationMs: 500, app: "a1" },
      { arrivalMs: 525, fn: "a2/f", durationMs: 125, app: "a2" },
      { arrivalMs: 80_400, fn: "a1/f", durationMs: 10_500, app: "a1" },
      { arrivalMs: 128_400, fn: "a1/g", durationMs: 2000, app: "a1" },
    ]);
  });

  it("selects a window (minutes from the first arrival) and the busiest functions", () => {
    const dir = tempDir("az21");
    const path = writeAzure2021(dir, ROWS);
    const w = convertTrace({ from: "azure2021", input: path, startMinute: 1, minutes: 1 });
    // Minute 1 from the first arrival: 60 s ≤ t < 120 s → only the arrival at 80.4 s, now at 0.
    expect(w.invocations).toEqual([{ arrivalMs: 0, fn: "a1/f", durationMs: 10_500, app: "a1" }]);
    const top = convertTrace({ from: "azure2021", input: path, functions: 1 });
    expect(top.invocations.map((i) => i.fn)).toEqual(["a1/f", "a1/f", "a1/f"]);
  });

  it.each([
    ["non-numeric duration", 3, "duration", (r: string) => r.replace(/,0\.125$/, ",abc")],
    ["zero duration", 3, "duration", (r: string) => r.replace(/,0\.125$/, ",0")],
    ["empty end", 3, "end_timestamp", (r: string) => r.replace(/,100\.25,/, ",,")],
    ["empty app", 3, "app", (r: string) => r.replace(/^a2,/, ",")],
  ])("%s fails with file, 1-based line and column", (_n, line, column, edit) => {
    const dir = tempDir("az21");
    const path = writeAzure2021(dir, ROWS, (lines) => {
      lines[line - 1] = edit(lines[line - 1]!);
    });
    const e = errorOf(() => convertTrace({ from: "azure2021", input: path }));
    expect([e.file, e.line, e.field]).toEqual([path, line, column]);
  });

  it("a missing header column is an error on line 1", () => {
    const dir = tempDir("az21");
    const path = writeAzure2021(dir, ROWS, (lines) => {
      lines[0] = "app,func,end,duration";
    });
    const e = errorOf(() => convertTrace({ from: "azure2021", input: path }));
    expect([e.line, e.field]).toEqual([1, "end_timestamp"]);
  });

  it("--skip-bad skips and counts bad rows", () => {
    const dir = tempDir("az21");
    const path = writeAzure2021(dir, ROWS, (lines) => {
      lines[2] = "a2,f,100.25";
      lines[4] = "a1,f,99.9,-1";
    });
    const seen: number[] = [];
    const r = convertTrace({
      from: "azure2021",
      input: path,
      skipBad: true,
      onSkip: (e) => seen.push(e.line ?? 0),
    });
    expect(r.skipped).toBe(2);
    expect(seen).toEqual([3, 5]);
    expect(r.invocations.map((i) => [i.arrivalMs, i.fn])).toEqual([
      [0, "a1/f"],
      [80_000, "a1/f"],
      [128_000, "a1/g"],
    ]);
  });

  it("property: random rows convert exactly; mangled ones give a result or an InputError", () => {
    const rowArb = fc.record({
      app: fc.constantFrom("a", "b", "c"),
      func: fc.constantFrom("f", "g"),
      end: fc.integer({ min: 1000, max: 2_000_000 }).map((x) => x / 1000),
      duration: fc.integer({ min: 1, max: 999_999 }).map((x) => x / 1000),
    });
    const dir = tempDir("az21p");
    fc.assert(
      fc.property(
        fc.array(rowArb, { maxLength: 30 }),
        fc.option(
          fc.tuple(fc.nat(), fc.nat(), fc.constantFrom("", "x", "-", "1e400", ",,", "NaN", "0")),
        ),
        (rows, mangle) => {
          const path = writeAzure2021(dir, rows, (lines) => {
            if (mangle === null) return;
            const i = mangle[0] % lines.length;
            const cells = lines[i]!.split(",");
            cells[mangle[1] % cells.length] = mangle[2];
            lines[i] = cells.join(",");
          });
          let out: TraceInvocation[];
          try {
            out = convertTrace({ from: "azure2021", input: path }).invocations;
          } catch (e) {
            expect(e).toBeInstanceOf(InputError);
            return;
          }
          if (mangle === null) {
            expect(out).toHaveLength(rows.length);
            const arrivals = rows.map((r) => r.end - r.duration);
            const first = Math.min(...arrivals);
            const expected = arrivals
              .map((a) => Math.round((a - first) * 1e6) / 1e3)
              .sort((x, y) => x - y);
            expect(out.map((i) => i.arrivalMs)).toEqual(expected);
          }
          for (let i = 1; i < out.length; i++)
            expect(out[i]!.arrivalMs).toBeGreaterThanOrEqual(out[i - 1]!.arrivalMs);
        },
      ),
      { numRuns: 150 },
    );
  });
});
