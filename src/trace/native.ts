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
import { InputError, UsageError } from "../errors.js";
import { parseDecimalRange, sliceTrimmed, splitFields } from "./fields.js";
import { forEachLineAsync, forEachLineOfText, forEachLineSync } from "./lines.js";

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

/** Column kinds by position in a row, for the per-row loop. */
const KIND: Record<NativeColumn, number> = {
  arrival_ms: 0,
  function: 1,
  duration_ms: 2,
  cpu_ms: 3,
  app: 4,
};

/**
 * Line-at-a-time parser of the native CSV. Feed it every line with its
 * number; it returns the invocation a data line holds, or undefined for
 * header, comment, blank and skipped lines.
 */
export class NativeTraceParser {
  /** Bad rows skipped so far (only with `skipBad`). */
  skipped = 0;
  /** Column kind (see KIND) of each field position; undefined until the header is read. */
  #kinds: number[] | undefined;
  #hasCpu = false;
  #lastArrival = 0;
  /**
   * Function and app names seen so far, by a hash of their characters, so a
   * row whose name is already known allocates no string for it.
   */
  readonly #names = new Map<number, string[]>();

  constructor(
    readonly file: string,
    readonly options: TraceReadOptions = {},
  ) {}

  line(text: string, lineNo: number): TraceInvocation | undefined {
    return this.lineRange(text, 0, text.length, lineNo);
  }

  /** The line is `text[start, end)`: hot loops pass whole chunks and skip the slice. */
  lineRange(text: string, start: number, end: number, lineNo: number): TraceInvocation | undefined {
    if (isBlankOrComment(text, start, end)) return undefined;
    if (this.#kinds === undefined) {
      this.#readHeader(text.slice(start, end), lineNo);
      return undefined;
    }
    try {
      return this.#readRow(text, start, end, lineNo, this.#kinds);
    } catch (error) {
      if (!(error instanceof InputError) || !this.options.skipBad) throw error;
      this.skipped++;
      this.options.onSkip?.(error);
      return undefined;
    }
  }

  /** Call after the last line: a file without a header is an error. */
  finish(lastLineNo: number): void {
    if (this.#kinds === undefined) {
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
    splitFields(text, names);
    const seen = new Set<NativeColumn>();
    const unknown: string[] = [];
    const kinds: number[] = [];
    for (const name of names) {
      if (!(NATIVE_COLUMNS as readonly string[]).includes(name)) {
        unknown.push(name === "" ? "(empty)" : name);
        continue;
      }
      const col = name as NativeColumn;
      if (seen.has(col)) {
        throw new InputError(this.file, lineNo, col, "column appears twice in the header");
      }
      seen.add(col);
      kinds.push(KIND[col]);
    }
    if (unknown.length > 0) {
      throw new InputError(
        this.file,
        lineNo,
        unknown[0],
        `unknown column(s) in header: ${unknown.join(", ")} (known: ${NATIVE_COLUMNS.join(", ")})`,
      );
    }
    for (const col of REQUIRED_COLUMNS) {
      if (!seen.has(col)) {
        throw new InputError(this.file, lineNo, col, "required column missing from header");
      }
    }
    this.#hasCpu = seen.has("cpu_ms");
    this.#kinds = kinds;
  }

  #readRow(
    text: string,
    start: number,
    end: number,
    lineNo: number,
    kinds: number[],
  ): TraceInvocation {
    const width = kinds.length;
    let arrivalMs = 0;
    let fn = "";
    let durationMs = 0;
    let cpuMs: number | undefined;
    let app: string | undefined;
    let pos = start;
    for (let i = 0; i < width; i++) {
      let stop = text.indexOf(",", pos);
      if (stop < 0 || stop > end) stop = end;
      if (stop === end && i < width - 1) {
        throw new InputError(
          this.file,
          lineNo,
          undefined,
          `expected ${width} fields, got ${i + 1}`,
        );
      }
      switch (kinds[i]) {
        case 0:
          arrivalMs = this.#number(text, pos, stop, lineNo, "arrival_ms");
          break;
        case 1:
          fn = this.#name(text, pos, stop);
          break;
        case 2:
          durationMs = this.#number(text, pos, stop, lineNo, "duration_ms");
          break;
        case 3:
          // An empty cpu_ms means "all of the duration is CPU".
          if (sliceTrimmed(text, pos, stop).length > 0) {
            cpuMs = this.#number(text, pos, stop, lineNo, "cpu_ms");
          }
          break;
        default: {
          const name = this.#name(text, pos, stop);
          if (name.length > 0) app = name;
        }
      }
      pos = stop + 1;
    }
    if (pos <= end) {
      let n = width;
      for (let p = pos - 1; p >= 0 && p < end; p = text.indexOf(",", p + 1)) n++;
      throw new InputError(this.file, lineNo, undefined, `expected ${width} fields, got ${n}`);
    }
    if (arrivalMs < 0) {
      throw new InputError(this.file, lineNo, "arrival_ms", `must be >= 0, got ${arrivalMs}`);
    }
    if (arrivalMs < this.#lastArrival) {
      throw new InputError(
        this.file,
        lineNo,
        "arrival_ms",
        `decreases: ${arrivalMs} after ${this.#lastArrival}`,
      );
    }
    if (fn.length === 0) throw new InputError(this.file, lineNo, "function", "empty function name");
    if (!(durationMs > 0)) {
      throw new InputError(this.file, lineNo, "duration_ms", `must be > 0, got ${durationMs}`);
    }
    const inv: TraceInvocation = { arrivalMs, fn, durationMs };
    if (this.#hasCpu && cpuMs !== undefined) {
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
    if (app !== undefined) inv.app = app;
    // Only a row that passed every check moves the arrival clock forward, so
    // a skipped row cannot make the following good rows look out of order.
    this.#lastArrival = arrivalMs;
    return inv;
  }

  #name(text: string, start: number, end: number): string {
    let s = start;
    let e = end;
    while (s < e && (text.charCodeAt(s) === 32 || text.charCodeAt(s) === 9)) s++;
    while (e > s && (text.charCodeAt(e - 1) === 32 || text.charCodeAt(e - 1) === 9)) e--;
    let h = e - s;
    for (let i = s; i < e; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
    const bucket = this.#names.get(h);
    if (bucket !== undefined) {
      for (const name of bucket) if (name.length === e - s && text.startsWith(name, s)) return name;
    }
    // Copy out of the chunk so the kept name does not pin 1 MiB of text.
    const own = Buffer.from(text.slice(s, e), "utf8").toString("utf8");
    if (bucket === undefined) this.#names.set(h, [own]);
    else bucket.push(own);
    return own;
  }

  #number(text: string, start: number, end: number, lineNo: number, field: NativeColumn): number {
    const v = parseDecimalRange(text, start, end);
    if (Number.isNaN(v)) {
      const raw = sliceTrimmed(text, start, end);
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

function isBlankOrComment(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
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
  const last = forEachLineOfText(text, (chunk, start, end, no) => {
    const inv = parser.lineRange(chunk, start, end, no);
    if (inv !== undefined) out.push(inv);
  });
  parser.finish(last);
  return out;
}

/** Reads a native trace file (synchronously, in 1 MiB chunks). */
export function readTraceFile(path: string, options?: TraceReadOptions): TraceInvocation[] {
  const parser = new NativeTraceParser(path, options);
  const out: TraceInvocation[] = [];
  const last = forEachLineSync(path, (chunk, start, end, no) => {
    const inv = parser.lineRange(chunk, start, end, no);
    if (inv !== undefined) out.push(inv);
  });
  parser.finish(last);
  return out;
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
  let fd: number;
  try {
    fd = openSync(path, "w");
  } catch (error) {
    // The output path is a flag the user gave: say so plainly, no stack.
    throw new UsageError(
      `cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
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
