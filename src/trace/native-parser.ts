/**
 * The native trace CSV (docs/formats.md), the one format every alps tool reads and
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
 *
 * This file is the line parser: a text path that decides every rule, and a
 * byte path for plain rows that hands anything else to the text path (a
 * property test in test/trace/trace-native-columns.test.ts checks that the
 * two agree). native.ts reads text, files and streams with it;
 * column-builder.ts holds what the byte path fills; native-writer.ts writes
 * the format.
 */
import type { TraceInvocation } from "../contracts/trace.js";
import { InputError } from "../errors.js";
import type { ColumnBuilder } from "./column-builder.js";
import { POW10, parseDecimalRange, sliceTrimmed, splitFields } from "./fields.js";

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
  /** -0, not 0: a field that starts as a double stays one, so V8 need not re-optimize. */
  #lastArrival = -0;
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

  /**
   * Every line of a block of whole lines as UTF-8 bytes (see
   * LineBlockHandler) into `out`; returns the number of the next line.
   */
  block(buf: Buffer, start: number, end: number, lineNo: number, out: ColumnBuilder): number {
    let no = lineNo;
    let p = start;
    while (p < end) {
      let nl = this.bytesRow(buf, p, end, out);
      if (nl < 0) {
        nl = p;
        while (nl < end && buf[nl] !== 10) nl++;
        const e = nl > p && buf[nl - 1] === 13 ? nl - 1 : nl;
        const inv = this.line(buf.toString("utf8", p, e), no);
        if (inv !== undefined) out.pushInvocation(inv);
      }
      no++;
      p = nl + 1;
    }
    return no;
  }

  /**
   * The fast path for the line starting at `buf[start]` in a block ending
   * at `end` (UTF-8 bytes): a blank or comment line is passed over, and a
   * valid data row of plain numbers (digits and one '.', at most 15 digits,
   * so the value is computed exactly as `parseDecimalRange` does) goes
   * straight into `out`; either way it returns where the line ends (its
   * '\n', or `end`). Anything else returns -1 and changes nothing: the
   * header, a sign, an exponent, a long number, a stray '\r', a wrong field
   * count or any rule broken. The caller then decodes the line and calls
   * `lineRange`, which gives the result, error or skip the text path always
   * gave, so both paths agree on every input.
   */
  bytesRow(buf: Uint8Array, start: number, end: number, out: ColumnBuilder): number {
    const kinds = this.#kinds;
    if (kinds === undefined) return -1;
    let p = start;
    while (p < end) {
      const c = buf[p] as number;
      if (c !== 32 && c !== 9 && c !== 13) break;
      p++;
    }
    if (p === end || buf[p] === 10) return p;
    if (buf[p] === 35) {
      while (p < end && buf[p] !== 10) p++;
      return p;
    }
    let arrival = Number.NaN;
    let duration = Number.NaN;
    let cpu = Number.NaN;
    let fn = -1;
    let app = -1;
    const last = kinds.length - 1;
    let pos = start;
    for (let i = 0; ; i++) {
      const kind = kinds[i] as number;
      let q: number;
      if (kind === 1 || kind === 4) {
        q = scanName(buf, pos, end);
        let s = pos;
        let e = q;
        let h = scanned;
        if (s < e && (buf[s] === 32 || buf[s] === 9 || buf[e - 1] === 32 || buf[e - 1] === 9)) {
          while (s < e && (buf[s] === 32 || buf[s] === 9)) s++;
          while (e > s && (buf[e - 1] === 32 || buf[e - 1] === 9)) e--;
          scanName(buf, s, e);
          h = scanned;
        }
        if (s < e) {
          const id = out.idOfBytes(buf, s, e, h);
          if (kind === 1) fn = id;
          else app = id;
        } else if (kind === 1) {
          return -1;
        }
      } else {
        const v = plainNumber(buf, pos, end);
        q = scanned;
        if (v >= 0) {
          if (kind === 0) arrival = v;
          else if (kind === 2) duration = v;
          else cpu = v;
        } else if (v !== EMPTY || kind !== 3) {
          // Only an empty cpu_ms is valid ("all of the duration is CPU").
          return -1;
        }
      }
      // q is at the ',' ending field i, or at the line's end: '\n', a '\r'
      // before one (or before the block's end), or the block's end.
      const c = q < end ? (buf[q] as number) : 10;
      if (c === 44) {
        if (i === last) return -1;
        pos = q + 1;
        continue;
      }
      if (c === 13) {
        q++;
        if (q < end && buf[q] !== 10) return -1;
      } else if (c !== 10) {
        return -1;
      }
      if (i !== last) return -1;
      p = q;
      break;
    }
    if (arrival < this.#lastArrival || !(duration > 0) || cpu > duration) return -1;
    this.#lastArrival = arrival;
    out.push(arrival, duration, cpu, fn, app);
    return p;
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

/**
 * The byte loops of `bytesRow`, kept small and apart so V8 optimizes them
 * within the first rows of a file, long before the whole row parser. Each
 * returns one value and leaves its second in `scanned` (no allocation).
 */
let scanned = 0;

/**
 * The end of the name starting at `q` (its ',', '\n' or '\r', or `end`);
 * its hash in `scanned`. The hash keeps 25 bits so that h * 31 + byte stays
 * a small integer for V8 whatever the names' length.
 */
function scanName(buf: Uint8Array, q: number, end: number): number {
  let h = 0;
  for (; q < end; q++) {
    const c = buf[q] as number;
    if (c === 44 || c === 10 || c === 13) break;
    h = (h * 31 + c) & 0x1ffffff;
  }
  scanned = h;
  return q;
}

/** `plainNumber`'s answer for a field of spaces only. */
const EMPTY = -1;
/** `plainNumber`'s answer for a field that is not a plain number (the text path decides). */
const NOT_PLAIN = -2;

/**
 * The plain decimal starting at `q`: spaces, at most 15 digits with at most
 * one '.', spaces, computed exactly as `parseDecimalRange` does; EMPTY or
 * NOT_PLAIN otherwise. Leaves in `scanned` where it stopped (after the
 * trailing spaces); the caller checks that a ',' or the line's end is there.
 */
function plainNumber(buf: Uint8Array, q: number, end: number): number {
  while (q < end && (buf[q] === 32 || buf[q] === 9)) q++;
  // -0 rather than 0: starting as a double, the value may outgrow a small
  // integer without making V8 de-optimize (and -0 * 10 + d = d).
  let mantissa = -0;
  let dot = -1;
  const from = q;
  for (; q < end; q++) {
    const d = (buf[q] as number) - 48; // '.' is -2
    if (d >= 0 && d <= 9) {
      mantissa = mantissa * 10 + d;
    } else if (d === -2 && dot < 0) {
      dot = q;
    } else {
      break;
    }
  }
  // (Arithmetic every number does, so no path is new to V8 mid-file.)
  let digits = q - from;
  let fraction = -1; // digits after '.'
  if (dot >= 0) {
    digits--;
    fraction = q - dot - 1;
  }
  while (q < end && (buf[q] === 32 || buf[q] === 9)) q++;
  scanned = q;
  if (digits === 0) return fraction < 0 ? EMPTY : NOT_PLAIN;
  if (digits > 15) return NOT_PLAIN;
  return fraction > 0 ? mantissa / (POW10[fraction] as number) : mantissa;
}

function isBlankOrComment(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 13) continue;
    return c === 35; // '#'
  }
  return true;
}

/** A name or field shortened for an error message. */
export function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
