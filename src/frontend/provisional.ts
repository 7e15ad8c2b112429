/**
 * Provisional entries (docs/learning.md, "Provisional entries"): a function
 * the learner has no entry for runs on the default entry (50 ms predicted),
 * so once its slice is used an unseen long function sits at nice 0 above
 * every known long function, which yields, until its first invocation
 * completes and is learned. Its oldest open invocation's age is a lower
 * bound on how long it runs: it becomes the function's predicted run, at
 * most `capMs`, until the learner gives the function an entry of its own.
 *
 * Trust: the entry is the default one with a longer predicted run only. Its
 * priority and slice are the default's, so under `static` and `rt` nothing
 * changes, and under `dynamic` a longer prediction never picks a more
 * boosted level (the remaining time is longer at every CPU used) and lifts
 * the yield later. A tenant gains nothing it could not have had.
 */
import { functionTable, ownEntry } from "../contracts/function-table.js";
import type { Policy, PolicyEntry } from "../contracts/policy.js";

/** A provisional entry as applied and shown: marked, so `/v1/policy` and the log tell it from a learned one. */
export type ProvisionalEntry = PolicyEntry & { provisional: true };

export interface ProvisionalRule {
  /** Predicted run at most this, ms; 0 turns the rule off. */
  capMs: number;
  /** Entries in the policy at most this many (the policy map's size). */
  maxFunctions: number;
}

/**
 * The provisional entries at `nowMs`: one for each function of `oldestOpenMs`
 * (function → start of its oldest open invocation) without an entry of its
 * own in `learned`, whose age is above the default's predicted run (below,
 * the default entry is the same thing). Functions in start order of their
 * oldest invocation, while the policy has room.
 */
export function provisionalEntries(
  learned: Policy,
  oldestOpenMs: ReadonlyMap<string, number>,
  nowMs: number,
  rule: ProvisionalRule,
): Map<string, ProvisionalEntry> {
  const out = new Map<string, ProvisionalEntry>();
  if (!(rule.capMs > 0)) return out;
  const base = learned.default;
  let room = rule.maxFunctions - Object.keys(learned.functions).length;
  const byAge = [...oldestOpenMs].sort((a, b) => a[1] - b[1]);
  for (const [fn, startMs] of byAge) {
    if (room <= 0) break;
    if (ownEntry(learned.functions, fn) !== undefined) continue;
    const predicted = Math.min(nowMs - startMs, rule.capMs);
    if (!(predicted > base.predicted_ms)) continue;
    out.set(fn, {
      priority: base.priority,
      predicted_ms: predicted,
      slice_ms: base.slice_ms,
      provisional: true,
    });
    room--;
  }
  return out;
}

/** `learned` with `entries` added (never replacing an entry of its own). */
export function withProvisional(
  learned: Policy,
  entries: ReadonlyMap<string, ProvisionalEntry>,
): Policy {
  if (entries.size === 0) return learned;
  const functions = functionTable<PolicyEntry>();
  for (const fn of Object.keys(learned.functions))
    functions[fn] = learned.functions[fn] as PolicyEntry;
  for (const [fn, entry] of entries)
    if (ownEntry(functions, fn) === undefined) functions[fn] = entry;
  return { ...learned, functions };
}

/** Whether two sets of provisional entries are the same (no policy push needed). */
export function sameEntries(
  a: ReadonlyMap<string, ProvisionalEntry>,
  b: ReadonlyMap<string, ProvisionalEntry>,
): boolean {
  if (a.size !== b.size) return false;
  for (const [fn, e] of a) if (b.get(fn)?.predicted_ms !== e.predicted_ms) return false;
  return true;
}
