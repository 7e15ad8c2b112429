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

/** Exact powers of ten: every one up to 1e22 is a double without rounding. */
export const POW10 = Float64Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * `parseDecimal(text.slice(start, end).trim())` without allocating in the
 * common case. Plain `ddd.ddd` with at most 15 significant digits is computed
 * as integer ÷ 10^k: both operands are exact doubles and division rounds
 * correctly, so the result is bit-identical to `Number()`. Anything else
 * (sign, exponent, long mantissa) takes the general path.
 */
export function parseDecimalRange(text: string, start: number, end: number): number {
  let s = start;
  let e = end;
  while (s < e && isSpace(text.charCodeAt(s))) s++;
  while (e > s && isSpace(text.charCodeAt(e - 1))) e--;
  if (s === e) return Number.NaN;
  let mantissa = 0;
  let digits = 0;
  let fraction = -1; // digits after '.', -1 while no '.' seen
  for (let i = s; i < e; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      mantissa = mantissa * 10 + (c - 48);
      if (mantissa > 0) digits++;
      if (fraction >= 0) fraction++;
    } else if (c === 46 && fraction < 0) {
      fraction = 0;
    } else {
      return parseDecimal(text.slice(s, e));
    }
  }
  // "." alone is not a number
  if (e - s === 1 && fraction === 0) return Number.NaN;
  // Only digits and one '.', but too long for exact integer arithmetic
  // (e.g. the 17 digits JavaScript prints for 1/3): Number() is exact.
  if (digits > 15 || fraction > 22) return Number(text.slice(s, e));
  return fraction > 0 ? mantissa / (POW10[fraction] as number) : mantissa;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

/** `text.slice(start, end)` without surrounding spaces. */
export function sliceTrimmed(text: string, start: number, end: number): string {
  let s = start;
  let e = end;
  while (s < e && isSpace(text.charCodeAt(s))) s++;
  while (e > s && isSpace(text.charCodeAt(e - 1))) e--;
  return text.slice(s, e);
}
