/**
 * The native trace CSV of DESIGN §3, the one format every alps tool reads and
 * writes:
 *
 *   # comment lines start with '#'
 *   arrival_ms,function,duration_ms[,cpu_ms][,app]
 *   0,fib,12.5
 *
 * Rules this reader enforces (each violation is an InputError naming the
 * file, the 1-based line and the field):
 * - The first line that is neither blank nor a comment is the header. Its
 *   columns may come in any order; `arrival_ms`, `function` and `duration_ms`
 *   are required. An unknown or repeated column is an error rather than being
 *   ignored: a misspelt `cpu_ms` would otherwise silently turn blocking time
 *   into CPU demand.
 * - `arrival_ms` is a finite number ≥ 0 and never decreases; `duration_ms` is
 *   finite and > 0 (slowdown divides by it); `cpu_ms`, when the column exists,
 *   is finite, ≥ 0 and ≤ `duration_ms`, or empty for "all of it is CPU";
 *   `app` may be empty; `function` may not.
 * - Every row has exactly as many fields as the header. No quoting: function
 *   and app names must not contain commas.
 * With `skipBad`, a bad data row is skipped, reported through `onSkip` and
 * counted; a bad header is always fatal.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import type { TraceInvocation } from "../contracts/trace.js";
import { InputError } from "../errors.js";
import { parseDecimal, splitFields } from "./fields.js";
import { forEachLineOfText, forEachLineSync, readLines } from "./lines.js";

export interface TraceReadOptions {
  /** Skip bad data rows instead of failing on the first one. */
  skipBad?: boolean;
  /** Told about each skipped row (e.g. to print a warning). */
  onSkip?: (error: InputError) => void;
}

/** The columns a native trace may have, in the order the writer emits them. */
export const NATIVE_COLUMNS = ["arrival_ms", "function", "duration_ms", "cpu_ms", "app"] as const;
export type NativeColumn = (typeof NATIVE_COLUMNS)[number];
const REQUIRED_COLUMNS: readonly NativeColumn[] = ["arrival_ms", "function", "duration_ms"];

/**
 * Line-at-a-time parser of the native CSV. Feed it every line with its
 * number; it returns the invocation a data line holds, or undefined for
 * header, comment, blank and skipped lines.
 */
export class NativeTraceParser {
  /** Bad rows skipped so far (only with `skipBad`). */
  skipped = 0;
  #columns: Record<NativeColumn, number> | undefined;
  #width = 0;
  #lastArrival = 0;
  readonly #fields: string[] = [];

  constructor(
    readonly file: string,
    readonly options: TraceReadOptions = {},
  ) {}

  line(text: string, lineNo: number): TraceInvocation | undefined {
    if (isBlankOrComment(text)) return undefined;
    if (this.#columns === undefined) {
      this.#readHeader(text, lineNo);
      return undefined;
    }
    try {
      return this.#readRow(text, lineNo, this.#columns);
    } catch (error) {
      if (!(error instanceof InputError) || !this.options.skipBad) throw error;
      this.skipped++;
      this.options.onSkip?.(error);
      return undefined;
    }
  }

  /** Call after the last line: a file without a header is an error. */
  finish(lastLineNo: number): void {
    if (this.#columns === undefined) {
      throw new InputError(
        this.file,
        Math.max(lastLineNo, 1),
        undefined,
        `no header line (expected ${REQUIRED_COLUMNS.join(",")})`,
      );
    }
  }

  #readHeader(text: string, lineNo: number): void {
    const names: string[] = [];
    this.#width = splitFields(text, names);
    const index: Partial<Record<NativeColumn, number>> = {};
    const unknown: string[] = [];
    names.forEach((name, i) => {
      if (!(NATIVE_COLUMNS as readonly string[]).includes(name)) {
        unknown.push(name === "" ? "(empty)" : name);
        return;
      }
      const col = name as NativeColumn;
      if (index[col] !== undefined)
        throw new InputError(this.file, lineNo, col, "column appears twice in the header");
      index[col] = i;
    });
    if (unknown.length > 0) {
      throw new InputError(
        this.file,
        lineNo,
        unknown[0],
        `unknown column(s) in header: ${unknown.join(", ")} (known: ${NATIVE_COLUMNS.join(", ")})`,
      );
    }
    for (const col of REQUIRED_COLUMNS) {
      if (index[col] === undefined)
        throw new InputError(this.file, lineNo, col, "required column missing from header");
    }
    this.#columns = {
      arrival_ms: index.arrival_ms ?? -1,
      function: index.function ?? -1,
      duration_ms: index.duration_ms ?? -1,
      cpu_ms: index.cpu_ms ?? -1,
      app: index.app ?? -1,
    };
  }

  #readRow(text: string, lineNo: number, cols: Record<NativeColumn, number>): TraceInvocation {
    const f = this.#fields;
    const n = splitFields(text, f);
    if (n !== this.#width) {
      throw new InputError(
        this.file,
        lineNo,
        undefined,
        `expected ${this.#width} fields, got ${n}`,
      );
    }
    const arrivalMs = this.#number(f[cols.arrival_ms] as string, lineNo, "arrival_ms");
    if (arrivalMs < 0)
      throw new InputError(this.file, lineNo, "arrival_ms", `must be >= 0, got ${arrivalMs}`);
    if (arrivalMs < this.#lastArrival) {
      throw new InputError(
        this.file,
        lineNo,
        "arrival_ms",
        `decreases: ${arrivalMs} after ${this.#lastArrival}`,
      );
    }
    const fn = f[cols.function] as string;
    if (fn.length === 0) throw new InputError(this.file, lineNo, "function", "empty function name");
    const durationMs = this.#number(f[cols.duration_ms] as string, lineNo, "duration_ms");
    if (!(durationMs > 0))
      throw new InputError(this.file, lineNo, "duration_ms", `must be > 0, got ${durationMs}`);
    const inv: TraceInvocation = { arrivalMs, fn, durationMs };
    if (cols.cpu_ms >= 0) {
      const raw = f[cols.cpu_ms] as string;
      if (raw.length > 0) {
        const cpuMs = this.#number(raw, lineNo, "cpu_ms");
        if (cpuMs < 0)
          throw new InputError(this.file, lineNo, "cpu_ms", `must be >= 0, got ${cpuMs}`);
        if (cpuMs > durationMs) {
          throw new InputError(
            this.file,
            lineNo,
            "cpu_ms",
            `${cpuMs} exceeds duration_ms ${durationMs}`,
          );
        }
        inv.cpuMs = cpuMs;
      }
    }
    if (cols.app >= 0) {
      const app = f[cols.app] as string;
      if (app.length > 0) inv.app = app;
    }
    // Only a row that passed every check moves the arrival clock forward, so
    // a skipped row cannot make the following good rows look out of order.
    this.#lastArrival = arrivalMs;
    return inv;
  }

  #number(raw: string, lineNo: number, field: NativeColumn): number {
    const v = parseDecimal(raw);
    if (Number.isNaN(v)) {
      throw new InputError(
        this.file,
        lineNo,
        field,
        raw === "" ? "empty, expected a number" : `not a finite number: '${clip(raw)}'`,
      );
    }
    return v;
  }
}

function isBlankOrComment(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 13) continue;
    return c === 35; // '#'
  }
  return true;
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/** Parses a whole native trace held in memory; `file` names it in errors. */
export function parseTraceText(
  text: string,
  file: string,
  options?: TraceReadOptions,
): TraceInvocation[] {
  const parser = new NativeTraceParser(file, options);
  const out: TraceInvocation[] = [];
  let last = 0;
  forEachLineOfText(text, (line, no) => {
    last = no;
    const inv = parser.line(line, no);
    if (inv !== undefined) out.push(inv);
  });
  parser.finish(last);
  return out;
}

/** Reads a native trace file (synchronously, in 1 MiB chunks). */
export function readTraceFile(path: string, options?: TraceReadOptions): TraceInvocation[] {
  const parser = new NativeTraceParser(path, options);
  const out: TraceInvocation[] = [];
  let last = 0;
  forEachLineSync(path, (line, no) => {
    last = no;
    const inv = parser.line(line, no);
    if (inv !== undefined) out.push(inv);
  });
  parser.finish(last);
  return out;
}

/** Streams a native trace file: for traces too large to hold as an array. */
export async function* streamTrace(
  path: string,
  options?: TraceReadOptions,
): AsyncGenerator<TraceInvocation> {
  const parser = new NativeTraceParser(path, options);
  let last = 0;
  for await (const [line, no] of readLines(path)) {
    last = no;
    const inv = parser.line(line, no);
    if (inv !== undefined) yield inv;
  }
  parser.finish(last);
}

/** Which optional columns a written trace carries. */
export interface TraceWriteColumns {
  cpu: boolean;
  app: boolean;
}

/**
 * The optional columns `invocations` needs. Only an array can be inspected
 * up front; any other iterable gets the three required columns, and the
 * writer refuses an invocation that would lose its `cpuMs` or `app`.
 */
function columnsFor(invocations: Iterable<TraceInvocation>): TraceWriteColumns {
  if (!Array.isArray(invocations)) return { cpu: false, app: false };
  const list = invocations as readonly TraceInvocation[];
  return {
    cpu: list.some((i) => i.cpuMs !== undefined),
    app: list.some((i) => i.app !== undefined),
  };
}

function headerLines(comments: readonly string[] | undefined, cols: TraceWriteColumns): string {
  let s = "";
  for (const c of comments ?? []) for (const l of c.split("\n")) s += `# ${l}\n`;
  s += `arrival_ms,function,duration_ms${cols.cpu ? ",cpu_ms" : ""}${cols.app ? ",app" : ""}\n`;
  return s;
}

/** A name the reader will give back unchanged: non-empty, no comma or line break, no edge spaces. */
function checkName(name: string, file: string, lineNo: number, field: string): void {
  if (name.length === 0 || /[,\r\n]/.test(name) || name.trim() !== name) {
    throw new InputError(
      file,
      lineNo,
      field,
      `cannot write name '${clip(name)}' (empty, comma, line break or edge spaces)`,
    );
  }
}

function rowFor(
  inv: TraceInvocation,
  cols: TraceWriteColumns,
  file: string,
  lineNo: number,
): string {
  checkName(inv.fn, file, lineNo, "function");
  let row = `${inv.arrivalMs},${inv.fn},${inv.durationMs}`;
  if (cols.cpu) row += `,${inv.cpuMs ?? ""}`;
  else if (inv.cpuMs !== undefined)
    throw new InputError(
      file,
      lineNo,
      "cpu_ms",
      "invocation has cpu_ms but the trace is written without that column",
    );
  if (cols.app) {
    if (inv.app !== undefined) checkName(inv.app, file, lineNo, "app");
    row += `,${inv.app ?? ""}`;
  } else if (inv.app !== undefined) {
    throw new InputError(
      file,
      lineNo,
      "app",
      "invocation has an app but the trace is written without that column",
    );
  }
  return `${row}\n`;
}

/** The native CSV text of `invocations`, with `comments` as '# ' lines first. */
export function formatTrace(
  invocations: Iterable<TraceInvocation>,
  comments?: readonly string[],
  columns?: TraceWriteColumns,
): string {
  const cols = columns ?? columnsFor(invocations);
  let text = headerLines(comments, cols);
  let lineNo = text.split("\n").length;
  for (const inv of invocations) text += rowFor(inv, cols, "(trace)", lineNo++);
  return text;
}

/**
 * Writes `invocations` to `path` as native CSV, streaming (rows are flushed
 * every ~1 MiB). `comments` become '# ' lines above the header. The writer
 * does not re-check arrival order or durations: the reader does that.
 */
export function writeTraceFile(
  path: string,
  invocations: Iterable<TraceInvocation>,
  comments?: readonly string[],
  columns?: TraceWriteColumns,
): void {
  const cols = columns ?? columnsFor(invocations);
  const fd = openSync(path, "w");
  try {
    let pending = headerLines(comments, cols);
    let lineNo = pending.split("\n").length;
    for (const inv of invocations) {
      pending += rowFor(inv, cols, path, lineNo++);
      if (pending.length >= 1 << 20) {
        writeSync(fd, pending);
        pending = "";
      }
    }
    writeSync(fd, pending);
  } finally {
    closeSync(fd);
  }
}
