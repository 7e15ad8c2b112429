/**
 * Reading the native trace CSV: from text in memory, from a file (as
 * columns or as invocations) and as a stream. The rules, and every error,
 * are the line parser's (native-parser.ts); the writer is native-writer.ts.
 */
import { statSync } from "node:fs";
import type { TraceInvocation } from "../contracts/trace.js";
import { ColumnBuilder } from "./column-builder.js";
import { type TraceColumns, toInvocations } from "./columns.js";
import { forEachLineAsync, forEachLineBlockSync, forEachLineOfText } from "./lines.js";
import { NativeTraceParser, type TraceReadOptions } from "./native-parser.js";

/** Parses a whole native trace held in memory; `file` names it in errors. */
export function parseTraceText(
  text: string,
  file: string,
  options?: TraceReadOptions,
): TraceInvocation[] {
  const parser = new NativeTraceParser(file, options);
  const out: TraceInvocation[] = [];
  const last = forEachLineOfText(text, (chunk, start, end, no) => {
    const inv = parser.lineRange(chunk, start, end, no);
    if (inv !== undefined) out.push(inv);
  });
  parser.finish(last);
  return out;
}

/** Most rows reserved up front (~40 MB of columns); a longer file grows them. */
const MAX_RESERVED_ROWS = 1 << 20;

/**
 * Rows to reserve for the file at `path`: one per 12 bytes (native rows are
 * rarely shorter), at most MAX_RESERVED_ROWS; 0 if it cannot be stat'ed (the
 * read that follows reports why).
 */
function estimatedRows(path: string): number {
  try {
    return Math.min(Math.ceil(statSync(path).size / 12), MAX_RESERVED_ROWS);
  } catch {
    return 0;
  }
}

/**
 * Reads a native trace file as columns, streaming (one 1 MiB buffer; the
 * columns, 32 bytes a row, are reserved from the file's size). Plain rows are parsed from the
 * bytes; any other line goes through the text parser, so the result and
 * every error are the same as `parseTraceText` on the file's text.
 */
export function readTraceColumns(path: string, options?: TraceReadOptions): TraceColumns {
  const parser = new NativeTraceParser(path, options);
  const out = new ColumnBuilder(estimatedRows(path));
  const last = forEachLineBlockSync(path, (buf, start, end, no) =>
    parser.block(buf, start, end, no, out),
  );
  parser.finish(last);
  return out.finish();
}

/** Reads a native trace file (synchronously, in 1 MiB chunks). */
export function readTraceFile(path: string, options?: TraceReadOptions): TraceInvocation[] {
  return toInvocations(readTraceColumns(path, options));
}

/**
 * Streams a native trace file: for traces too large to hold as an array.
 * Memory stays at about one 1 MiB chunk and the invocations it holds.
 */
export async function* streamTrace(
  path: string,
  options?: TraceReadOptions,
): AsyncGenerator<TraceInvocation> {
  const parser = new NativeTraceParser(path, options);
  let batch: TraceInvocation[] = [];
  const chunks = forEachLineAsync(path, (chunk, start, end, no) => {
    const inv = parser.lineRange(chunk, start, end, no);
    if (inv !== undefined) batch.push(inv);
  });
  for (;;) {
    const step = await chunks.next();
    const ready = batch;
    batch = [];
    yield* ready;
    if (step.done) {
      parser.finish(step.value);
      return;
    }
  }
}
