/**
 * Reading the official trace layouts (Azure, Huawei): plain CSV with a header
 * line. This module owns the parts every one of them needs: line numbers,
 * field counts, errors that name file, 1-based line and column, and the
 * `--skip-bad` policy (skip the row, count it, tell the caller).
 */
import { InputError } from "../errors.js";
import { parseDecimal, splitFields } from "./fields.js";
import { forEachLineSync, sliceLines } from "./lines.js";

export interface SkipOptions {
  /** Skip bad data rows (counted and reported) instead of failing. */
  skipBad?: boolean;
  /** Told about each skipped row. */
  onSkip?: (error: InputError) => void;
}

export interface TableReport {
  /** Data rows accepted. */
  rows: number;
  /** Data rows skipped as bad (only with skipBad). */
  skipped: number;
  /** Number of the last line of the file. */
  lastLine: number;
}

/**
 * Reads a CSV file with a header. `onHeader` sees the column names (and may
 * throw an InputError: a bad header is always fatal); `onRow` sees each data
 * row's fields (a reused array: copy what you keep) and may throw an
 * InputError for a bad row, which `skipBad` turns into a skip. Blank lines
 * are ignored; a row with a different field count than the header is bad.
 */
export function readCsvTable(
  path: string,
  options: SkipOptions,
  onHeader: (columns: string[], lineNo: number) => void,
  onRow: (fields: string[], lineNo: number) => void,
): TableReport {
  let width = -1;
  const fields: string[] = [];
  const report: TableReport = { rows: 0, skipped: 0, lastLine: 0 };
  report.lastLine = forEachLineSync(
    path,
    sliceLines((line, lineNo) => {
      if (line.trim().length === 0) return;
      if (width < 0) {
        const header: string[] = [];
        width = splitFields(line, header);
        onHeader(header, lineNo);
        return;
      }
      try {
        const n = splitFields(line, fields);
        if (n !== width)
          throw new InputError(path, lineNo, undefined, `expected ${width} fields, got ${n}`);
        onRow(fields, lineNo);
        report.rows++;
      } catch (error) {
        if (!(error instanceof InputError) || !options.skipBad) throw error;
        report.skipped++;
        options.onSkip?.(error);
      }
    }),
  );
  if (width < 0)
    throw new InputError(
      path,
      Math.max(report.lastLine, 1),
      undefined,
      "empty file: no header line",
    );
  return report;
}

/** Index of each required column in a header; a missing one is an error on that line. */
export function requireColumns(
  path: string,
  lineNo: number,
  header: readonly string[],
  required: readonly string[],
): Map<string, number> {
  const index = new Map<string, number>();
  header.forEach((name, i) => {
    if (index.has(name))
      throw new InputError(path, lineNo, name, "column appears twice in the header");
    index.set(name, i);
  });
  for (const name of required) {
    if (!index.has(name))
      throw new InputError(path, lineNo, name, "required column missing from header");
  }
  return index;
}

/** A finite number or an InputError naming the column. */
export function numberField(path: string, lineNo: number, column: string, raw: string): number {
  const v = parseDecimal(raw);
  if (Number.isNaN(v)) {
    throw new InputError(
      path,
      lineNo,
      column,
      raw === "" ? "empty, expected a number" : `not a finite number: '${clip(raw)}'`,
    );
  }
  return v;
}

/** A count of invocations: an integer ≥ 0 (written `3` or `3.0`). */
export function countField(path: string, lineNo: number, column: string, raw: string): number {
  // Fast path: wide count tables are mostly short runs of digits ("0").
  if (raw.length > 0 && raw.length <= 9) {
    let n = 0;
    let i = 0;
    for (; i < raw.length; i++) {
      const c = raw.charCodeAt(i);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
    }
    if (i === raw.length) return n;
  }
  const v = parseDecimal(raw);
  if (!(v >= 0) || !Number.isInteger(v)) {
    throw new InputError(
      path,
      lineNo,
      column,
      raw === "" ? "empty, expected a count" : `not a count (integer >= 0): '${clip(raw)}'`,
    );
  }
  return v;
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
