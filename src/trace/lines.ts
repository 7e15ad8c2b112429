/**
 * Line-by-line reading of text files in fixed-size chunks, so a trace of a
 * million lines never has to sit in memory as one string. Every trace reader
 * (native CSV and the official layouts) goes through here, which keeps line
 * numbering (1-based, counting blank and comment lines) the same everywhere.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { open } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";

/** Bytes read per system call: large enough to be fast, small enough to stream. */
export const CHUNK_BYTES = 1 << 20;

/** Called once per line, without its line terminator (`\n` or `\r\n`). */
export type LineHandler = (line: string, lineNo: number) => void;

/**
 * Splits `text` into lines and hands them to `onLine`, starting at
 * `firstLineNo`. Returns the unterminated tail (not yet a whole line) and the
 * number of the line it will be.
 */
function splitLines(
  text: string,
  firstLineNo: number,
  onLine: LineHandler,
): { tail: string; nextLineNo: number } {
  let lineNo = firstLineNo;
  let start = 0;
  for (;;) {
    const nl = text.indexOf("\n", start);
    if (nl < 0) break;
    const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    onLine(text.slice(start, end), lineNo);
    lineNo++;
    start = nl + 1;
  }
  return { tail: start === 0 ? text : text.slice(start), nextLineNo: lineNo };
}

/** Every line of `text`, the last one even when it has no terminator. */
export function forEachLineOfText(text: string, onLine: LineHandler): void {
  const { tail, nextLineNo } = splitLines(text, 1, onLine);
  if (tail.length > 0) onLine(stripCr(tail), nextLineNo);
}

/** Reads `path` synchronously in CHUNK_BYTES chunks and calls `onLine` per line. */
export function forEachLineSync(path: string, onLine: LineHandler): void {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    // The decoder keeps a multi-byte UTF-8 character split across chunks whole.
    const decoder = new StringDecoder("utf8");
    let carry = "";
    let lineNo = 1;
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK_BYTES, null);
      if (n === 0) break;
      const r = splitLines(carry + decoder.write(buf.subarray(0, n)), lineNo, onLine);
      carry = r.tail;
      lineNo = r.nextLineNo;
    }
    carry += decoder.end();
    if (carry.length > 0) {
      const r = splitLines(carry, lineNo, onLine);
      if (r.tail.length > 0) onLine(stripCr(r.tail), r.nextLineNo);
    }
  } finally {
    closeSync(fd);
  }
}

/** Async variant for very large files: yields `[line, lineNo]` pairs. */
export async function* readLines(path: string): AsyncGenerator<[string, number]> {
  const handle = await open(path, "r");
  try {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    const decoder = new StringDecoder("utf8");
    let carry = "";
    let lineNo = 1;
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) break;
      const batch: [string, number][] = [];
      const r = splitLines(carry + decoder.write(buf.subarray(0, bytesRead)), lineNo, (l, no) => {
        batch.push([l, no]);
      });
      carry = r.tail;
      lineNo = r.nextLineNo;
      yield* batch;
    }
    carry += decoder.end();
    const batch: [string, number][] = [];
    const r = splitLines(carry, lineNo, (l, no) => {
      batch.push([l, no]);
    });
    if (r.tail.length > 0) batch.push([stripCr(r.tail), r.nextLineNo]);
    yield* batch;
  } finally {
    await handle.close();
  }
}

function stripCr(s: string): string {
  return s.length > 0 && s.charCodeAt(s.length - 1) === 13 ? s.slice(0, -1) : s;
}
