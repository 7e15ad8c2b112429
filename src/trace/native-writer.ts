/**
 * Writing the native trace CSV: rows the reader (native.ts) gives back
 * unchanged, or an InputError naming the row and field that could not be.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import type { TraceInvocation } from "../contracts/trace.js";
import { InputError, UsageError } from "../errors.js";
import { clip } from "./native-parser.js";

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
