/**
 * Line-by-line reading of text files in fixed-size chunks, so a trace of a
 * million lines never has to sit in memory as one string. Every trace reader
 * (native CSV and the official layouts) goes through here, which keeps line
 * numbering (1-based, counting blank and comment lines) the same everywhere.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { open } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import { InputError } from "../errors.js";

/** Bytes read per system call: large enough to be fast, small enough to stream. */
export const CHUNK_BYTES = 1 << 20;

/** Called once per line, without its line terminator (`\n` or `\r\n`). */
export type LineHandler = (line: string, lineNo: number) => void;

/**
 * Called once per line with the line as a range `[start, end)` of `text`
 * (terminator excluded). Hot parsers read fields straight out of the chunk
 * this way instead of allocating a string per line.
 */
export type LineRangeHandler = (text: string, start: number, end: number, lineNo: number) => void;

/** Adapts a per-string handler to the range form. */
export function sliceLines(onLine: LineHandler): LineRangeHandler {
  return (text, start, end, lineNo) => onLine(text.slice(start, end), lineNo);
}

/**
 * Hands every terminated line of `text` to `onLine`, numbering from
 * `firstLineNo`. Returns the unterminated tail and the number it will have.
 */
function splitLines(
  text: string,
  firstLineNo: number,
  onLine: LineRangeHandler,
): { tail: string; nextLineNo: number } {
  let lineNo = firstLineNo;
  let start = 0;
  for (;;) {
    const nl = text.indexOf("\n", start);
    if (nl < 0) break;
    const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    onLine(text, start, end, lineNo);
    lineNo++;
    start = nl + 1;
  }
  return { tail: start === 0 ? text : text.slice(start), nextLineNo: lineNo };
}

/** The last line of a file may lack a terminator; it is still a line. */
function finishTail(tail: string, lineNo: number, onLine: LineRangeHandler): void {
  if (tail.length === 0) return;
  const end = tail.charCodeAt(tail.length - 1) === 13 ? tail.length - 1 : tail.length;
  onLine(tail, 0, end, lineNo);
}

/** Every line of `text`; returns the number of the last line (0 if none). */
export function forEachLineOfText(text: string, onLine: LineRangeHandler): number {
  const { tail, nextLineNo } = splitLines(text, 1, onLine);
  finishTail(tail, nextLineNo, onLine);
  return tail.length > 0 ? nextLineNo : nextLineNo - 1;
}

/**
 * Reads `path` synchronously in CHUNK_BYTES chunks and calls `onLine` per
 * line. Returns the number of the last line (0 for an empty file).
 */
export function forEachLineSync(path: string, onLine: LineRangeHandler): number {
  const fd = explainFsErrors(path, () => openSync(path, "r"));
  try {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    // The decoder keeps a multi-byte UTF-8 character split across chunks whole.
    const decoder = new StringDecoder("utf8");
    let carry = "";
    let lineNo = 1;
    for (;;) {
      const n = explainFsErrors(path, () => readSync(fd, buf, 0, CHUNK_BYTES, null));
      if (n === 0) break;
      const r = splitLines(carry + decoder.write(buf.subarray(0, n)), lineNo, onLine);
      carry = r.tail;
      lineNo = r.nextLineNo;
    }
    const r = splitLines(carry + decoder.end(), lineNo, onLine);
    finishTail(r.tail, r.nextLineNo, onLine);
    return r.tail.length > 0 ? r.nextLineNo : r.nextLineNo - 1;
  } finally {
    closeSync(fd);
  }
}

/**
 * Called with whole lines as bytes `buf[start, end)`: each ends with `\n`
 * except, in the file's last block, a final line that has no terminator.
 * The first is line `lineNo`; returns the number the next line will have.
 * `buf` is reused: copy out what must outlive the call.
 */
export type LineBlockHandler = (buf: Buffer, start: number, end: number, lineNo: number) => number;

/**
 * `forEachLineSync` without decoding and without a call per line: the file
 * in blocks of whole lines, for a parser that walks the bytes itself (line
 * ends are `\n` or `\r\n`, numbered as everywhere else). The structural
 * bytes of a CSV (`,`, `\n`, `\r`, `#`, space, tab) never occur inside a
 * multi-byte UTF-8 character, so a parser can find fields in the bytes and
 * decode only what it keeps. Memory stays at one buffer of CHUNK_BYTES
 * (larger only for a longer line). Returns the number of the last line.
 */
export function forEachLineBlockSync(path: string, onBlock: LineBlockHandler): number {
  const fd = explainFsErrors(path, () => openSync(path, "r"));
  try {
    let buf = Buffer.allocUnsafe(CHUNK_BYTES);
    let have = 0; // bytes of buf holding data: an unfinished line, then the last read
    let lineNo = 1;
    for (;;) {
      if (have === buf.length) {
        // One line longer than the buffer: grow rather than split it.
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      const target = buf;
      const n = explainFsErrors(path, () => readSync(fd, target, have, target.length - have, null));
      if (n === 0) break;
      have += n;
      const whole = buf.lastIndexOf(10, have - 1) + 1;
      if (whole === 0) continue;
      lineNo = onBlock(buf, 0, whole, lineNo);
      buf.copy(buf, 0, whole, have);
      have -= whole;
    }
    if (have > 0) lineNo = onBlock(buf, 0, have, lineNo);
    return lineNo - 1;
  } finally {
    closeSync(fd);
  }
}

/**
 * Async chunked reading for very large files: calls `onLine` for every line
 * of each chunk, then yields, so a consumer can hand out what the chunk
 * produced before the next read. Yields once per chunk, not per line (an
 * async step per line would dominate the cost). The final value is the
 * number of the last line.
 */
export async function* forEachLineAsync(
  path: string,
  onLine: LineRangeHandler,
): AsyncGenerator<void, number> {
  const handle = await openOrExplainAsync(path);
  try {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    const decoder = new StringDecoder("utf8");
    let carry = "";
    let lineNo = 1;
    for (;;) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(buf, 0, CHUNK_BYTES, null));
      } catch (error) {
        throw explainOpenError(path, error);
      }
      if (bytesRead === 0) break;
      const r = splitLines(carry + decoder.write(buf.subarray(0, bytesRead)), lineNo, onLine);
      carry = r.tail;
      lineNo = r.nextLineNo;
      yield;
    }
    const r = splitLines(carry + decoder.end(), lineNo, onLine);
    finishTail(r.tail, r.nextLineNo, onLine);
    yield;
    return r.tail.length > 0 ? r.nextLineNo : r.nextLineNo - 1;
  } finally {
    await handle.close();
  }
}

/** A file that cannot be opened or read is bad input naming the file, not a crash with a stack. */
function explainOpenError(path: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const why: Record<string, string> = {
    ENOENT: "no such file",
    EISDIR: "is a directory, expected a file",
    EACCES: "permission denied",
    ENOTDIR: "a parent of this path is not a directory",
  };
  return code !== undefined && why[code] !== undefined
    ? new InputError(path, undefined, undefined, why[code])
    : error;
}

function explainFsErrors<T>(path: string, io: () => T): T {
  try {
    return io();
  } catch (error) {
    throw explainOpenError(path, error);
  }
}

async function openOrExplainAsync(path: string): ReturnType<typeof open> {
  try {
    return await open(path, "r");
  } catch (error) {
    throw explainOpenError(path, error);
  }
}
