/**
 * Field-level helpers shared by every trace parser: splitting a CSV line
 * without regular expressions (parsers run over millions of lines) and
 * strict decimal number parsing.
 */

/**
 * Splits `line` on commas into `out` (reused between calls to spare
 * allocations) and returns the field count. Fields are trimmed of
 * surrounding spaces. No quoting: none of the layouts alps reads quotes.
 */
export function splitFields(line: string, out: string[]): number {
  let n = 0;
  let start = 0;
  for (;;) {
    const comma = line.indexOf(",", start);
    const end = comma < 0 ? line.length : comma;
    out[n++] = trimSpaces(line.slice(start, end));
    if (comma < 0) break;
    start = comma + 1;
  }
  out.length = n;
  return n;
}

function trimSpaces(s: string): string {
  const len = s.length;
  if (len === 0) return s;
  const first = s.charCodeAt(0);
  const last = s.charCodeAt(len - 1);
  return first === 32 || first === 9 || last === 32 || last === 9 ? s.trim() : s;
}

/**
 * A plain decimal number (`12`, `-3.5`, `.5`, `1e-3`), or NaN for anything
 * else. `Number()` alone would accept `""`, `0x1f`, `Infinity` and spaces;
 * none of those is a value a trace means.
 */
export function parseDecimal(s: string): number {
  const len = s.length;
  if (len === 0) return Number.NaN;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    // digits, '.', 'e', 'E', '+', '-'
    if (!((c >= 48 && c <= 57) || c === 46 || c === 101 || c === 69 || c === 43 || c === 45)) {
      return Number.NaN;
    }
  }
  const v = Number(s);
  return Number.isFinite(v) ? v : Number.NaN;
}
