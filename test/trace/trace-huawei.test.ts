import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { InputError } from "../../src/errors.js";
import { convertTrace } from "../../src/trace/convert.js";
import {
  countsByFnMinute,
  expectedCounts,
  type HuaweiDay,
  tempDir,
  writeHuawei,
} from "./layouts.js";

function errorOf(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error("expected an InputError");
}

// Minutes 0 and 1 idle (dropped), minute 3 idle (kept), `NaN` and empty = no data.
const DAY: HuaweiDay = {
  functions: ["17", "42", "99"],
  requests: [
    [0, ["NaN", "", "0"]],
    [60, ["0", "0", "NaN"]],
    [120, ["3", "", "1"]],
    [180, ["", "NaN", ""]],
    [240, ["5", "2", "0.0"]],
  ],
  delays: [
    [120, ["12.5", "", "400"]],
    [240, ["7", "0.25", "NaN"]],
  ],
};

describe("huawei converter", () => {
  it("keeps every request per function and minute; duration = that minute's delay (ms)", () => {
    const dir = tempDir("hw");
    writeHuawei(dir, 0, DAY);
    const r = convertTrace({ from: "huawei", input: dir, seed: 2 });
    expect(countsByFnMinute(r.invocations, 2)).toEqual(
      expectedCounts([
        ["17", { 2: 3, 4: 5 }],
        ["42", { 4: 2 }],
        ["99", { 2: 1 }],
      ]),
    );
    for (const inv of r.invocations) {
      const minute = Math.floor(inv.arrivalMs / 60_000) + 2;
      const want = { "17": { 2: 12.5, 4: 7 }, "42": { 4: 0.25 }, "99": { 2: 400 } }[
        inv.fn
      ] as Record<number, number>;
      expect(inv.durationMs).toBe(want[minute]);
      expect(inv.app).toBeUndefined();
    }
    const sorted = [...r.invocations].sort((a, b) => a.arrivalMs - b.arrivalMs);
    expect(r.invocations).toEqual(sorted);
  });

  it("--delay-unit s converts seconds to ms; the default day is the first present", () => {
    const dir = tempDir("hw");
    writeHuawei(dir, 5, DAY);
    writeHuawei(dir, 9, {
      ...DAY,
      requests: [[0, ["1", "0", "0"]]],
      delays: [[0, ["1", "1", "1"]]],
    });
    const r = convertTrace({ from: "huawei", input: dir, delayUnit: "s", seed: 2 });
    expect(r.invocations).toHaveLength(11);
    expect(new Set(r.invocations.filter((i) => i.fn === "99").map((i) => i.durationMs))).toEqual(
      new Set([400_000]),
    );
    const day9 = convertTrace({ from: "huawei", input: dir, day: 9, delayUnit: "s" });
    expect(day9.invocations).toHaveLength(1);
    expect(day9.invocations[0]!.durationMs).toBe(1000);
  });

  it("reads per-second request tables, spreading inside each second", () => {
    const dir = tempDir("hw");
    writeHuawei(
      dir,
      1,
      {
        functions: ["a", "b"],
        requests: [
          [61, ["2", ""]],
          [62, ["", "1"]],
          [125, ["4", "1"]],
        ],
        delays: [
          [60, ["10", "20"]],
          [120, ["30", "40"]],
        ],
      },
      "second",
    );
    const r = convertTrace({ from: "huawei", input: dir, spread: "even" });
    // Second 61 is time 0.
    expect(r.invocations.map((i) => [i.arrivalMs, i.fn, i.durationMs])).toEqual([
      [250, "a", 10],
      [750, "a", 10],
      [1500, "b", 20],
      [64_125, "a", 30],
      [64_375, "a", 30],
      [64_500, "b", 40],
      [64_625, "a", 30],
      [64_875, "a", 30],
    ]);
  });

  it("selects a window and the busiest functions", () => {
    const dir = tempDir("hw");
    writeHuawei(dir, 0, DAY);
    const w = convertTrace({ from: "huawei", input: dir, startMinute: 3, minutes: 2 });
    expect(countsByFnMinute(w.invocations, 4)).toEqual(
      expectedCounts([
        ["17", { 4: 5 }],
        ["42", { 4: 2 }],
      ]),
    );
    const top = convertTrace({ from: "huawei", input: dir, functions: 1 });
    expect(new Set(top.invocations.map((i) => i.fn))).toEqual(new Set(["17"]));
  });

  it("a corrupted cell in an idle minute fails with file, 1-based line and column", () => {
    const dir = tempDir("hw");
    const files = writeHuawei(dir, 0, DAY, "minute", {
      requests: (l) => {
        l[4] = l[4]!.replace(/,NaN,$/, ",x,");
      },
    });
    const e = errorOf(() => convertTrace({ from: "huawei", input: dir }));
    expect([e.file, e.line, e.field]).toEqual([files.requests, 5, "42"]);
  });

  it("requests without a delay for that minute are an error; --skip-bad skips the row and counts it", () => {
    const dir = tempDir("hw");
    const files = writeHuawei(dir, 0, {
      ...DAY,
      delays: [
        [120, ["12.5", "", ""]],
        [240, ["7", "0.25", "NaN"]],
      ],
    });
    const e = errorOf(() => convertTrace({ from: "huawei", input: dir }));
    expect([e.file, e.line, e.field]).toEqual([files.requests, 4, "99"]);
    expect(e.problem).toMatch(/no delay for minute 2/);
    const seen: InputError[] = [];
    const r = convertTrace({
      from: "huawei",
      input: dir,
      skipBad: true,
      onSkip: (x) => seen.push(x),
    });
    expect(r.skipped).toBe(1);
    expect(seen[0]!.line).toBe(4);
    // The whole row of minute 2 is gone; minute 4 is now the first.
    expect(countsByFnMinute(r.invocations, 4)).toEqual(
      expectedCounts([
        ["17", { 4: 5 }],
        ["42", { 4: 2 }],
      ]),
    );
  });

  it.each([
    [
      "non-positive delay",
      "delays",
      (l: string[]) => (l[1] = l[1]!.replace(",12.5,", ",0,")),
      2,
      "17",
    ],
    [
      "time going back",
      "requests",
      (l: string[]) => (l[3] = l[3]!.replace(",120,", ",30,")),
      4,
      "time",
    ],
    [
      "function without delay column",
      "requests",
      (l: string[]) => (l[0] = l[0]!.replace(",99", ",98")),
      1,
      "98",
    ],
    [
      "fractional request count",
      "requests",
      (l: string[]) => (l[3] = l[3]!.replace(",3,", ",2.5,")),
      4,
      "17",
    ],
  ])("%s names file, line and column", (_n, which, edit, line, column) => {
    const dir = tempDir("hw");
    const files = writeHuawei(dir, 0, DAY, "minute", { [which]: edit });
    const e = errorOf(() => convertTrace({ from: "huawei", input: dir }));
    expect([e.file, e.line, e.field]).toEqual([
      files[which as "requests" | "delays"],
      line,
      column,
    ]);
  });

  it("property: random tables convert exactly; mangled ones give a result or an InputError", () => {
    const cell = fc.oneof(fc.integer({ min: 0, max: 5 }).map(String), fc.constantFrom("", "NaN"));
    const dir = tempDir("hwp");
    fc.assert(
      fc.property(
        fc.array(fc.tuple(cell, cell), { minLength: 1, maxLength: 8 }),
        fc.option(
          fc.tuple(
            fc.boolean(),
            fc.nat(),
            fc.nat(),
            fc.constantFrom("", "x", "-2", "1.5", "NaN", "inf", ",", "0"),
          ),
        ),
        (rows, mangle) => {
          const day: HuaweiDay = {
            functions: ["p", "q"],
            requests: rows.map((cells, i) => [i * 60, cells]),
            delays: rows.map((_, i) => [i * 60, ["3", "4.5"]]),
          };
          const edit = (lines: string[]): void => {
            if (mangle === null) return;
            const i = mangle[1] % lines.length;
            const cells = lines[i]!.split(",");
            cells[mangle[2] % cells.length] = mangle[3];
            lines[i] = cells.join(",");
          };
          writeHuawei(dir, 0, day, "minute", mangle?.[0] ? { requests: edit } : { delays: edit });
          let out: TraceInvocation[];
          try {
            out = convertTrace({ from: "huawei", input: dir }).invocations;
          } catch (e) {
            expect(e).toBeInstanceOf(InputError);
            return;
          }
          if (mangle === null) {
            const total = rows
              .flat()
              .reduce((s, c) => s + (c === "" || c === "NaN" ? 0 : Number(c)), 0);
            expect(out).toHaveLength(total);
          }
          for (const inv of out) expect(inv.durationMs).toBeGreaterThan(0);
        },
      ),
      { numRuns: 150 },
    );
  });
});
