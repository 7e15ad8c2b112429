/**
 * Cgroup path patterns for the generic adapter.
 *
 * Syntax: an absolute path whose segments are one of
 *   - a literal name:            kubepods.slice
 *   - `*`, any one directory:     *
 *   - a glob inside a segment:    docker-*.scope   (`*` = any run of characters)
 *   - the function capture:       {function}  or with literals around it: fn-{function}.scope
 * Exactly one segment holds `{function}`, and it holds no `*`. Every matched
 * path is one sandbox; the function is what `{function}` matched. Example:
 * `/sys/fs/cgroup/kubepods.slice/*\/{function}/*` finds every directory three
 * levels below kubepods.slice and names it after the middle one.
 */
import { UsageError } from "../../errors.js";

export interface PatternSegment {
  /** The segment as written. */
  text: string;
  re: RegExp;
  /** True for the segment that names the function. */
  captures: boolean;
}

export interface CgroupPattern {
  source: string;
  /** The literal leading directories: where the walk starts. */
  root: string;
  /** The segments below `root`, at least one (the one that captures or a later one). */
  segments: PatternSegment[];
}

const FN = "{function}";

function escapeRe(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}

export function parseCgroupPattern(pattern: string): CgroupPattern {
  const bad = (why: string): never => {
    throw new UsageError(`--pattern ${JSON.stringify(pattern)}: ${why}`);
  };
  if (!pattern.startsWith("/")) bad("must be an absolute path (start with /)");
  const parts = pattern.replace(/\/+$/, "").split("/").slice(1);
  if (parts.length === 0) bad("names no directory");
  const literal: string[] = [];
  const segments: PatternSegment[] = [];
  let captures = 0;
  for (const part of parts) {
    if (part === "") bad("has an empty segment (//)");
    if (part === "." || part === "..") bad(`segment '${part}' is not allowed`);
    const hasFn = part.includes(FN);
    if (hasFn) {
      captures += 1;
      if (part.includes("*")) bad(`segment '${part}' mixes {function} and *`);
      if (part.split(FN).length > 2) bad(`segment '${part}' holds {function} twice`);
    }
    const rest = part.replaceAll(FN, "");
    if (/[{}]/.test(rest)) bad(`segment '${part}' has a brace that is not {function}`);
    const isLiteral = !hasFn && !part.includes("*");
    if (isLiteral && segments.length === 0) {
      literal.push(part);
      continue;
    }
    const [before = "", after = ""] = part.split(FN);
    const re = hasFn
      ? new RegExp(`^${escapeRe(before)}(.+)${escapeRe(after)}$`)
      : new RegExp(`^${part.split("*").map(escapeRe).join(".*")}$`);
    segments.push({ text: part, re, captures: hasFn });
  }
  if (captures === 0) bad("has no {function} segment");
  if (captures > 1) bad("has more than one {function} segment");
  return { source: pattern, root: `/${literal.join("/")}`, segments };
}

/** Matches one directory name against a segment; returns the captured function name (or "" for non-capturing), or undefined. */
export function matchSegment(seg: PatternSegment, name: string): string | undefined {
  const m = seg.re.exec(name);
  if (!m) return undefined;
  return seg.captures ? (m[1] ?? "") : "";
}
