/**
 * The file reader parses plain rows straight from the bytes and hands every
 * other line to the text parser. These tests hold it to the text parser's
 * answer on any input: the same invocations, or the same error (file, line,
 * field, message), and with skipBad the same rows skipped.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { InputError } from "../../src/errors.js";
import { toInvocations } from "../../src/trace/columns.js";
import { CHUNK_BYTES } from "../../src/trace/lines.js";
import { parseTraceText, readTraceColumns, readTraceFile } from "../../src/trace/native.js";
import type { TraceReadOptions } from "../../src/trace/native-parser.js";

const dir = mkdtempSync(join(tmpdir(), "alps-columns-"));
const path = join(dir, "t.csv");

type Outcome = { ok: TraceInvocation[]; skipped: string[] } | { error: string };

function outcome(read: (opts: TraceReadOptions) => TraceInvocation[], skipBad: boolean): Outcome {
  const skipped: string[] = [];
  try {
    const ok = read({ skipBad, onSkip: (e) => skipped.push(e.message) });
    return { ok, skipped };
  } catch (e) {
    if (e instanceof InputError) return { error: e.message };
    throw e;
  }
}

/** The file reader's outcome on `text` equals the text parser's (errors name the same path). */
function expectSameAsText(text: string | Uint8Array): void {
  writeFileSync(path, text);
  const asText = typeof text === "string" ? text : Buffer.from(text).toString("utf8");
  for (const skipBad of [false, true]) {
    const want = outcome((o) => parseTraceText(asText, path, o), skipBad);
    expect(outcome((o) => readTraceFile(path, o), skipBad)).toEqual(want);
  }
}

// Field text that is sometimes plain (the byte path), sometimes not (the text path).
const numberText = fc.oneof(
  fc.stringMatching(/^[0-9]{1,17}(\.[0-9]{0,19})?$/),
  fc.stringMatching(/^\.[0-9]{1,6}$/),
  fc.double({ min: 0, max: 1e9, noNaN: true }).map(String),
  fc.constantFrom("", ".", "-0", "-1.5", "1e3", "1E-2", "+2", "0x1f", "Infinity", "NaN", "1.2.3"),
);
const pad = fc.constantFrom("", "", "", " ", "\t", "  ");
const field = (inner: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(pad, inner, pad).map(([a, s, b]) => a + s + b);
const nameText = fc.oneof(
  fc.constantFrom("fn", "fib", "fünction", "é", "日本", "a b", ""),
  fc.stringMatching(/^[A-Za-z0-9_.é-]{1,8}$/),
);
const eol = fc.constantFrom("\n", "\n", "\n", "\r\n", "\r\r\n", "\r");

const header = fc.constantFrom(
  "arrival_ms,function,duration_ms",
  "arrival_ms,function,duration_ms,cpu_ms",
  "arrival_ms,function,duration_ms,cpu_ms,app",
  "function,cpu_ms,duration_ms,arrival_ms,app",
  "duration_ms , arrival_ms,function",
);

/** A row for `header`'s columns, sometimes with one field too many or too few. */
function rowFor(cols: string[]): fc.Arbitrary<string> {
  const fields = cols.map((c) => {
    const name = c.trim();
    if (name === "function" || name === "app") return field(nameText);
    return field(numberText);
  });
  return fc
    .tuple(fc.tuple(...fields), fc.constantFrom(0, 0, 0, 0, 1, -1))
    .map(([fs, extra]) => (extra === 1 ? [...fs, "7"] : extra === -1 ? fs.slice(1) : fs).join(","));
}

const traceText = header.chain((h) =>
  fc
    .tuple(
      fc.array(
        fc.oneof(
          { weight: 8, arbitrary: rowFor(h.split(",")) },
          { weight: 1, arbitrary: fc.constantFrom("", "  ", "# note", " \t# x,y", "\r") },
        ),
        { maxLength: 25 },
      ),
      fc.array(eol, { minLength: 26, maxLength: 26 }),
      fc.boolean(),
      fc.constantFrom("", "# lead\n", "\n\n"),
    )
    .map(([rows, ends, lastEnds, lead]) => {
      let text = `${lead}${h}\n`;
      rows.forEach((r, i) => {
        text += r + (i < rows.length - 1 || lastEnds ? ends[i] : "");
      });
      return text;
    }),
);

describe("file reader (bytes) against the text parser", () => {
  it("same invocations, errors and skips on generated traces", () => {
    fc.assert(
      fc.property(traceText, (text) => expectSameAsText(text)),
      { numRuns: 600 },
    );
  });

  it("same on arbitrary text and bytes", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 120 }).map((s) => `arrival_ms,function,duration_ms\n${s}`),
          fc.string({ unit: "binary", maxLength: 120 }),
        ),
        (text) => expectSameAsText(text),
      ),
      { numRuns: 300 },
    );
  });

  it("numbers parsed from bytes are bit-identical to the text parser's", () => {
    const rows: string[] = [];
    for (let i = 0; i < 4000; i++) {
      const a = (i * 0.1 + i / 7).toFixed(i % 10);
      const d = `${i % 3 === 0 ? "00" : ""}${((i * 7919) % 100003) / 1000}`;
      rows.push(`${a},f${i % 5},${d},${i % 4 === 0 ? "" : "0.5"}`);
    }
    expectSameAsText(`arrival_ms,function,duration_ms,cpu_ms\n${rows.join("\n")}\n`);
  });

  it("invalid UTF-8 in names decodes as the text parser's does", () => {
    const bytes = Buffer.concat([
      Buffer.from("arrival_ms,function,duration_ms,app\n0,"),
      Buffer.from([0xff, 0x61]),
      Buffer.from(",1,"),
      Buffer.from([0xe2, 0x82]),
      Buffer.from("\n1,"),
      Buffer.from([0xfe, 0x61]),
      Buffer.from(",2,x\n"),
    ]);
    expectSameAsText(bytes);
  });

  it("a line longer than the read buffer, and rows after it", () => {
    const long = `# ${"x".repeat(CHUNK_BYTES * 2 + 5)}`;
    const text = `arrival_ms,function,duration_ms\n0,a,1\n${long}\r\n1,b,2\n2,${"n".repeat(CHUNK_BYTES + 3)},3`;
    writeFileSync(path, text);
    const got = readTraceFile(path);
    expect(got.map((i) => i.arrivalMs)).toEqual([0, 1, 2]);
    expect(got[2]?.fn.length).toBe(CHUNK_BYTES + 3);
    expectSameAsText(text);
  });

  it("an error on a row past the first chunk names its line", () => {
    let text = "arrival_ms,function,duration_ms\n";
    const n = 120_000;
    for (let i = 0; i < n; i++) text += `${i},fn${i % 50},1.5\n`;
    text += `${n},fn,0\n`;
    writeFileSync(path, text);
    expect(() => readTraceFile(path)).toThrow(`${path}:${n + 2}: field 'duration_ms': must be > 0`);
  });
});

describe("readTraceColumns", () => {
  it("holds the same invocations as readTraceFile, each name once", () => {
    const text =
      "arrival_ms,function,duration_ms,cpu_ms,app\n0,fib,12.5,,a1\n3.2,pagerank,410,100,\n5,fib,1e1,2,a1\n";
    writeFileSync(path, text);
    const cols = readTraceColumns(path);
    expect(cols.length).toBe(3);
    expect([...cols.arrival]).toEqual([0, 3.2, 5]);
    expect([...cols.duration]).toEqual([12.5, 410, 10]);
    expect(cols.cpu === undefined ? [] : [...cols.cpu]).toEqual([Number.NaN, 100, 2]);
    expect(cols.names.filter((s) => s === "fib")).toHaveLength(1);
    expect(toInvocations(cols)).toEqual(readTraceFile(path));
    expect(toInvocations(cols)).toEqual(parseTraceText(text, path));
  });

  it("has no cpu or app column when no row has one", () => {
    writeFileSync(path, "arrival_ms,function,duration_ms,cpu_ms,app\n0,f,1,,\n1,g,2,,\n");
    const cols = readTraceColumns(path);
    expect(cols.cpu).toBeUndefined();
    expect(cols.app).toBeUndefined();
    expect(cols.names).toEqual(["f", "g"]);
  });
});
