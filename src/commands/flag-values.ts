/**
 * Flag values of the commands besides `alps daemon` (whose options are the
 * fields of src/frontend/config.ts). A bad one is a UsageError (exit 2) in
 * the shape the daemon's options use — "flag --x: expected <what>, got
 * '<value>'" — with the same words for what is allowed. No zod here: these
 * commands must start fast.
 */
import { UsageError } from "../errors.js";

export interface NumberRule {
  integer?: boolean;
  /** Smallest value allowed. */
  min?: number;
  /** The value must be greater than this. */
  above?: number;
}

function describe(rule: NumberRule): string {
  const bound =
    rule.min !== undefined ? ` >= ${rule.min}` : rule.above !== undefined ? ` > ${rule.above}` : "";
  return `${rule.integer === true ? "integer" : "number"}${bound}`;
}

export function badFlag(flag: string, expected: string, raw: string): UsageError {
  return new UsageError(`flag ${flag}: expected ${expected}, got '${raw}'`);
}

export function numberFlag(flag: string, raw: string, rule: NumberRule = {}): number {
  const v = Number(raw);
  const ok =
    raw.trim() !== "" &&
    Number.isFinite(v) &&
    (rule.integer !== true || Number.isInteger(v)) &&
    (rule.min === undefined || v >= rule.min) &&
    (rule.above === undefined || v > rule.above);
  if (!ok) throw badFlag(flag, describe(rule), raw);
  return v;
}

export function optionalNumberFlag(
  flag: string,
  raw: string | undefined,
  rule: NumberRule = {},
): number | undefined {
  return raw === undefined ? undefined : numberFlag(flag, raw, rule);
}

export function choiceFlag<T extends string>(flag: string, raw: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw))
    throw badFlag(flag, `one of ${allowed.join(", ")}`, raw);
  return raw as T;
}

/** A comma-separated list of choices, each named once, at least one. */
export function choiceListFlag<T extends string>(
  flag: string,
  raw: string,
  allowed: readonly T[],
): T[] {
  const items = raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const expected = `a comma-separated list of ${allowed.join(", ")}, each once`;
  if (items.length === 0 || new Set(items).size !== items.length)
    throw badFlag(flag, expected, raw);
  for (const item of items)
    if (!(allowed as readonly string[]).includes(item)) throw badFlag(flag, expected, raw);
  return items as T[];
}

/** A flag that must be given (commander's requiredOption would exit with its own message). */
export function required<T>(flag: string, value: T | undefined, what = ""): T {
  if (value === undefined)
    throw new UsageError(`flag ${flag} is required${what ? ` (${what})` : ""}`);
  return value;
}

export function optionalChoiceFlag<T extends string>(
  flag: string,
  raw: string | undefined,
  allowed: readonly T[],
): T | undefined {
  return raw === undefined ? undefined : choiceFlag(flag, raw, allowed);
}
