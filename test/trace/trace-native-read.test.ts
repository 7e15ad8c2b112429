import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { InputError } from "../../src/errors.js";
import { parseTraceText, readTraceFile, streamTrace } from "../../src/trace/native.js";

function errorOf(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error("expected an InputError, nothing was thrown");
}

const H = "arrival_ms,function,duration_ms";

describe("native trace reader", () => {
  it("reads rows, skips comments and blank lines, accepts CRLF and any column order", () => {
    const text =
      "# made up\n\nfunction,cpu_ms,duration_ms,arrival_ms,app\r\nfib,,12.5,0,a1\r\n  # mid comment\npagerank,100,410,3.2,\n";
    expect(parseTraceText(text, "t.csv")).toEqual<TraceInvocation[]>([
      { arrivalMs: 0, fn: "fib", durationMs: 12.5, app: "a1" },
      { arrivalMs: 3.2, fn: "pagerank", durationMs: 410, cpuMs: 100 },
    ]);
  });

  it("accepts a last line without a terminator and equal arrivals", () => {
    expect(parseTraceText(`${H}\n1,a,2\n1,b,3`, "t.csv").map((i) => i.fn)).toEqual(["a", "b"]);
  });

  it.each([
    ["missing column", "arrival_ms,function\n0,a\n", 1, "duration_ms", /required column missing/],
    ["unknown column", `${H},cpu\n0,a,1,2\n`, 1, "cpu", /unknown column/],
    ["repeated column", `${H},function\n0,a,1,b\n`, 1, "function", /twice/],
    ["non-numeric arrival", `${H}\n0,a,1\nabc,b,2\n`, 3, "arrival_ms", /not a finite number/],
    ["hex is not decimal", `${H}\n0x10,b,2\n`, 2, "arrival_ms", /not a finite number/],
    ["empty duration", `${H}\n0,a,\n`, 2, "duration_ms", /empty/],
    ["infinite duration", `${H}\n0,a,Infinity\n`, 2, "duration_ms", /not a finite number/],
    ["decreasing arrival", `# c\n${H}\n5,a,1\n4,b,1\n`, 4, "arrival_ms", /decreases/],
    ["negative arrival", `${H}\n-1,a,1\n`, 2, "arrival_ms", />= 0/],
    ["negative duration", `${H}\n0,a,-3\n`, 2, "duration_ms", /> 0/],
    ["zero duration", `${H}\n0,a,0\n`, 2, "duration_ms", /> 0/],
    ["cpu over duration", `${H},cpu_ms\n0,a,5,6\n`, 2, "cpu_ms", /exceeds/],
    ["negative cpu", `${H},cpu_ms\n0,a,5,-1\n`, 2, "cpu_ms", />= 0/],
    ["empty function", `${H}\n0, ,5\n`, 2, "function", /empty function/],
  ])("%s names file, line and field", (_name, text, line, field, problem) => {
    const e = errorOf(() => parseTraceText(text, "bad.csv"));
    expect(e.file).toBe("bad.csv");
    expect(e.line).toBe(line);
    expect(e.field).toBe(field);
    expect(e.problem).toMatch(problem);
    expect(e.message).toContain(`bad.csv:${line}: field '${field}'`);
  });

  it("wrong number of fields names the line", () => {
    const e = errorOf(() => parseTraceText(`${H}\n0,a,1\n1,b,2,3\n`, "bad.csv"));
    expect(e.line).toBe(3);
    expect(e.problem).toMatch(/expected 3 fields, got 4/);
  });

  it("a file with no header is an error", () => {
    expect(errorOf(() => parseTraceText("# only a comment\n\n", "e.csv")).problem).toMatch(
      /no header/,
    );
    expect(errorOf(() => parseTraceText("", "e.csv")).line).toBe(1);
  });

  it("skipBad skips and counts bad rows, keeps good ones, and never skips a bad header", () => {
    const skipped: InputError[] = [];
    const text = `${H}\n1,a,1\n0,late,1\n2,b,x\n3,c,1\n`;
    const out = parseTraceText(text, "s.csv", { skipBad: true, onSkip: (e) => skipped.push(e) });
    expect(out.map((i) => i.fn)).toEqual(["a", "c"]);
    expect(skipped.map((e) => [e.line, e.field])).toEqual([
      [3, "arrival_ms"],
      [4, "duration_ms"],
    ]);
    expect(() => parseTraceText("arrival_ms,fn\n", "s.csv", { skipBad: true })).toThrow(InputError);
  });

  it("file and stream readers agree with the text parser across chunk boundaries", async () => {
    const dir = mkdtempSync(join(tmpdir(), "alps-trace-"));
    const path = join(dir, "big.csv");
    // ~2.5 MiB so the 1 MiB chunking splits lines (and a multi-byte name) across reads.
    let text = `# big\n${H},app\n`;
    const n = 60_000;
    for (let i = 0; i < n; i++)
      text += `${i * 0.5},fünction-${i % 97},${(i % 13) + 1.25},appé${i % 5}\r\n`;
    writeFileSync(path, text);
    const fromText = parseTraceText(text, path);
    const fromFile = readTraceFile(path);
    const streamed: TraceInvocation[] = [];
    for await (const inv of streamTrace(path)) streamed.push(inv);
    expect(fromText).toHaveLength(n);
    expect(fromFile).toEqual(fromText);
    expect(streamed).toEqual(fromText);
    expect(fromFile[n - 1]).toEqual({
      arrivalMs: (n - 1) * 0.5,
      fn: `fünction-${(n - 1) % 97}`,
      durationMs: ((n - 1) % 13) + 1.25,
      app: `appé${(n - 1) % 5}`,
    });
  });

  it("errors from the file reader name the real path and line", () => {
    const dir = mkdtempSync(join(tmpdir(), "alps-trace-"));
    const path = join(dir, "bad.csv");
    writeFileSync(path, `${H}\n0,a,1\n1,b,-2\n`);
    const e = errorOf(() => readTraceFile(path));
    expect([e.file, e.line, e.field]).toEqual([path, 3, "duration_ms"]);
  });
});

describe("native trace reader on unreadable paths", () => {
  it("a missing file or a directory is an InputError naming the path", async () => {
    const dir = mkdtempSync(join(tmpdir(), "alps-trace-"));
    expect(errorOf(() => readTraceFile(join(dir, "nope.csv"))).problem).toBe("no such file");
    expect(errorOf(() => readTraceFile(dir)).file).toBe(dir);
    await expect(streamTrace(join(dir, "nope.csv")).next()).rejects.toBeInstanceOf(InputError);
  });
});
