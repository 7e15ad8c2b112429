/**
 * What changed between two policies, for the log: functions added, removed
 * and re-ranked. The whole table (up to `maxFunctions` rows) is what
 * `alps policy` shows; logging it on every change buried everything else.
 *
 * Re-ranked: a function added near the top shifts every rank below it, so
 * ranks alone would name nearly every function. A function counts as
 * re-ranked only if its order among the functions both policies hold
 * changed: those outside a longest run kept in the same order (LIS).
 */
import type { Policy } from "../contracts/policy.js";
import type { Log } from "./log.js";

export interface PolicyChanges {
  /** Functions in the new policy, with an entry of their own. */
  functions: number;
  /** `provisional`: a provisional entry (provisional.ts), not a learned one. */
  added: { fn: string; priority: number; provisional?: true }[];
  removed: string[];
  reranked: { fn: string; from: number; to: number }[];
}

const byPriority = (policy: Policy): string[] =>
  Object.entries(policy.functions)
    .sort((a, b) => a[1].priority - b[1].priority || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([fn]) => fn);

/** Indices (into `xs`) of one longest strictly increasing subsequence. */
function longestIncreasing(xs: readonly number[]): Set<number> {
  const tails: number[] = []; // index in xs of the smallest tail of each length
  const parent = new Int32Array(xs.length).fill(-1);
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i] as number;
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((xs[tails[mid] as number] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) parent[i] = tails[lo - 1] as number;
    tails[lo] = i;
  }
  const kept = new Set<number>();
  let i = tails.length > 0 ? (tails[tails.length - 1] as number) : -1;
  while (i >= 0) {
    kept.add(i);
    i = parent[i] as number;
  }
  return kept;
}

function isProvisional(entry: unknown): boolean {
  return (entry as { provisional?: unknown } | undefined)?.provisional === true;
}

export function policyChanges(previous: Policy | undefined, next: Policy): PolicyChanges {
  const before = previous === undefined ? [] : byPriority(previous);
  const after = byPriority(next);
  const beforeSet = new Set(before);
  const afterSet = new Set(after);
  const added = after
    .filter((fn) => !beforeSet.has(fn))
    .map((fn) => ({
      fn,
      priority: next.functions[fn]?.priority ?? 0,
      ...(isProvisional(next.functions[fn]) ? { provisional: true as const } : {}),
    }));
  const removed = before.filter((fn) => !afterSet.has(fn));
  // Order of the common functions: position before, listed in the new order.
  const position = new Map(before.filter((fn) => afterSet.has(fn)).map((fn, i) => [fn, i]));
  const common = after.filter((fn) => position.has(fn));
  const kept = longestIncreasing(common.map((fn) => position.get(fn) as number));
  const reranked = common
    .filter((_, i) => !kept.has(i))
    .map((fn) => ({
      fn,
      from: previous?.functions[fn]?.priority ?? 0,
      to: next.functions[fn]?.priority ?? 0,
    }));
  return { functions: after.length, added, removed, reranked };
}

export function hasChanges(c: PolicyChanges): boolean {
  return c.added.length + c.removed.length + c.reranked.length > 0;
}

const SHOWN = 10;

function list<T>(items: readonly T[], show: (item: T) => string): string {
  const head = items.slice(0, SHOWN).map(show).join(", ");
  return items.length > SHOWN ? `${head} and ${items.length - SHOWN} more` : head;
}

/** One line: "12 functions; added f #3; removed g; re-ranked h #2→#5". */
export function describeChanges(c: PolicyChanges): string {
  const parts = [`${c.functions} functions`];
  const added = (a: PolicyChanges["added"][number]): string =>
    `${a.fn} #${a.priority}${a.provisional === true ? " (provisional)" : ""}`;
  if (c.added.length > 0) parts.push(`added ${list(c.added, added)}`);
  if (c.removed.length > 0) parts.push(`removed ${list(c.removed, (fn) => fn)}`);
  if (c.reranked.length > 0)
    parts.push(`re-ranked ${list(c.reranked, (r) => `${r.fn} #${r.from}→#${r.to}`)}`);
  return parts.join("; ");
}

/** The whole ranked table on one line (debug level): rank:function predicted/slice. */
function table(policy: Policy): string {
  return (
    byPriority(policy)
      .map((fn) => {
        const e = policy.functions[fn];
        return e === undefined
          ? fn
          : `${e.priority}:${fn} ${e.predicted_ms.toFixed(1)}/${e.slice_ms.toFixed(1)}ms${isProvisional(e) ? " (provisional)" : ""}`;
      })
      .join(", ") || "(none)"
  );
}

/**
 * A listener for Daemon.onPolicy: each learned policy that adds, removes or
 * re-ranks a function is logged as that change (info); at debug level every
 * learned policy is logged whole, with its slices.
 */
export function policyLogger(log: Log): (policy: Policy, learnMs: number | null) => void {
  let previous: Policy | undefined;
  return (policy, learnMs) => {
    if (learnMs === null) return;
    const changes = policyChanges(previous, policy);
    previous = policy;
    const took = `learned in ${learnMs.toFixed(1)} ms`;
    if (hasChanges(changes))
      log(`policy changed (${took}): ${describeChanges(changes)}`, "info", {
        policy_changes: changes,
      });
    log(`policy (${took}; rank:function predicted/slice): ${table(policy)}`, "debug");
  };
}
