import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseDecimal, parseDecimalRange } from "../../src/trace/fields.js";

describe("decimal fields", () => {
  it("the allocation-free parser is bit-identical to Number() on decimal text", () => {
    const decimalText = fc.oneof(
      fc.double({ min: 0, max: 1e12, noNaN: true }).map(String),
      fc
        .tuple(fc.double({ min: 0, max: 1e9, noNaN: true }), fc.integer({ min: 0, max: 9 }))
        .map(([v, d]) => v.toFixed(d)),
      fc.stringMatching(/^[0-9]{0,18}(\.[0-9]{0,24})?$/).filter((s) => /[0-9]/.test(s)),
    );
    fc.assert(
      fc.property(decimalText, fc.string({ maxLength: 3 }), (s, tail) => {
        const padded = `x, ${s} ,${tail}`;
        expect(parseDecimalRange(padded, 2, 2 + s.length + 2)).toBe(Number(s));
      }),
      { numRuns: 2000 },
    );
  });

  it.each(["", ".", "0x10", "Infinity", "1e999", "NaN", "1,2", "- 1", "abc"])("rejects %j", (s) => {
    expect(parseDecimal(s)).toBeNaN();
    expect(parseDecimalRange(s, 0, s.length)).toBeNaN();
  });

  it("accepts signs and exponents through the general path", () => {
    expect(parseDecimalRange("-2.5e3", 0, 6)).toBe(-2500);
    expect(parseDecimal("1e-7")).toBe(1e-7);
  });
});
