import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { InputError } from "../../src/errors.js";
import { parseTraceText, readTraceFile } from "../../src/trace/native.js";
import { formatTrace, writeTraceFile } from "../../src/trace/native-writer.js";

const name = fc.stringMatching(/^[A-Za-z0-9_./é-]{1,12}$/);
const invocationsArb = fc
  .array(
    fc.record({
      gap: fc.double({ min: 0, max: 1e6, noNaN: true }),
      fn: name,
      durationMs: fc.double({ min: 1e-6, max: 1e7, noNaN: true }),
      cpuFrac: fc.option(fc.double({ min: 0, max: 1, noNaN: true })),
      app: fc.option(name),
    }),
    { maxLength: 40 },
  )
  .map((rows) => {
    let t = 0;
    return rows.map((r): TraceInvocation => {
      t += r.gap;
      const inv: TraceInvocation = { arrivalMs: t, fn: r.fn, durationMs: r.durationMs };
      if (r.cpuFrac !== null) inv.cpuMs = Math.min(r.durationMs * r.cpuFrac, r.durationMs);
      if (r.app !== null) inv.app = r.app;
      return inv;
    });
  });

describe("native trace writer", () => {
  it("round-trips any valid trace exactly (text and file)", () => {
    fc.assert(
      fc.property(
        invocationsArb,
        fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }),
        (invs, comments) => {
          expect(parseTraceText(formatTrace(invs, comments), "rt.csv")).toEqual(invs);
        },
      ),
    );
    const dir = mkdtempSync(join(tmpdir(), "alps-trace-"));
    fc.assert(
      fc.property(invocationsArb, (invs) => {
        const path = join(dir, "rt.csv");
        writeTraceFile(path, invs, ["written by a test"]);
        expect(
          readFileSync(path, "utf8").startsWith(
            "# written by a test\narrival_ms,function,duration_ms",
          ),
        ).toBe(true);
        expect(readTraceFile(path)).toEqual(invs);
      }),
      { numRuns: 30 },
    );
  });

  it("refuses names the reader could not give back, and never drops cpu_ms silently", () => {
    expect(() => formatTrace([{ arrivalMs: 0, fn: "a,b", durationMs: 1 }])).toThrow(InputError);
    expect(() => formatTrace([{ arrivalMs: 0, fn: " a", durationMs: 1 }])).toThrow(InputError);
    function* gen(): Generator<TraceInvocation> {
      yield { arrivalMs: 0, fn: "a", durationMs: 2, cpuMs: 1 };
    }
    expect(() => formatTrace(gen())).toThrow(/cpu_ms/);
    expect(formatTrace(gen(), [], { cpu: true, app: false })).toBe(
      "arrival_ms,function,duration_ms,cpu_ms\n0,a,2,1\n",
    );
  });
});

describe("native trace parser on random and mangled input", () => {
  it("returns invocations or throws InputError, nothing else", () => {
    const mangled = invocationsArb.chain((invs) =>
      fc
        .tuple(
          fc.nat(),
          fc.nat(),
          fc.constantFrom("", ",", "x", "-", "\n", "#", "1e999", "NaN", " ", "\r", "0x1", ",,"),
        )
        .map(([at, len, junk]) => {
          const text = formatTrace(invs);
          const i = at % (text.length + 1);
          return text.slice(0, i) + junk + text.slice(i + (len % 4));
        }),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          mangled,
          fc.string({ maxLength: 200 }),
          fc.string({ unit: "binary", maxLength: 200 }),
        ),
        (text) => {
          let out: TraceInvocation[];
          try {
            out = parseTraceText(text, "m.csv");
          } catch (e) {
            expect(e).toBeInstanceOf(InputError);
            return;
          }
          // A result is only accepted if it satisfies the format's rules.
          let last = 0;
          for (const inv of out) {
            expect(inv.fn.length).toBeGreaterThan(0);
            expect(inv.arrivalMs).toBeGreaterThanOrEqual(last);
            expect(inv.durationMs).toBeGreaterThan(0);
            expect(Number.isFinite(inv.durationMs)).toBe(true);
            if (inv.cpuMs !== undefined) expect(inv.cpuMs).toBeLessThanOrEqual(inv.durationMs);
            last = inv.arrivalMs;
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
