/**
 * The policy log line: what changed (added, removed, re-ranked), not the
 * whole table. A function added near the top shifts every rank below it;
 * only functions whose order among the others changed count as re-ranked.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Policy } from "../../src/contracts/policy.js";
import type { LogLevel } from "../../src/frontend/log.js";
import {
  describeChanges,
  hasChanges,
  policyChanges,
  policyLogger,
} from "../../src/frontend/policy-changes.js";

/** A policy ranking `fns` in this order (priority 1 first). */
function ranked(...fns: string[]): Policy {
  const functions: Policy["functions"] = {};
  fns.forEach((fn, i) => {
    functions[fn] = { priority: i + 1, predicted_ms: 10 * (i + 1), slice_ms: 5 };
  });
  return { functions, default: { priority: fns.length + 1, predicted_ms: 50, slice_ms: 20 } };
}

describe("policyChanges", () => {
  it("names functions added (with their rank) and removed", () => {
    const c = policyChanges(ranked("a", "b", "c"), ranked("a", "c", "d"));
    expect(c.added).toEqual([{ fn: "d", priority: 3 }]);
    expect(c.removed).toEqual(["b"]);
    expect(c.reranked).toEqual([]);
    expect(c.functions).toBe(3);
  });

  it("a function added at the top re-ranks nothing, though every rank moved", () => {
    const c = policyChanges(ranked("a", "b", "c"), ranked("new", "a", "b", "c"));
    expect(c.added).toEqual([{ fn: "new", priority: 1 }]);
    expect(c.reranked).toEqual([]);
  });

  it("one function moved down is the one re-ranked", () => {
    const c = policyChanges(ranked("a", "b", "c", "d"), ranked("b", "c", "d", "a"));
    expect(c.reranked).toEqual([{ fn: "a", from: 1, to: 4 }]);
  });

  it("the first policy: everything added", () => {
    const c = policyChanges(undefined, ranked("a", "b"));
    expect(c.added.map((a) => a.fn)).toEqual(["a", "b"]);
    expect(hasChanges(policyChanges(ranked("a"), ranked("a")))).toBe(false);
  });

  it("re-ranked is empty exactly when the common functions keep their order, and minimal", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 30 }), { maxLength: 20 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 30 }), { maxLength: 20 }),
        (before, after) => {
          const names = (xs: number[]) => xs.map((x) => `f${x}`);
          const c = policyChanges(ranked(...names(before)), ranked(...names(after)));
          const common = after.filter((x) => before.includes(x));
          const sameOrder =
            JSON.stringify(common) === JSON.stringify(before.filter((x) => after.includes(x)));
          expect(c.reranked.length === 0).toBe(sameOrder);
          // What stays, in the new order, is in the old order.
          const moved = new Set(c.reranked.map((r) => r.fn));
          const stay = names(common).filter((fn) => !moved.has(fn));
          const oldPos = stay.map((fn) => names(before).indexOf(fn));
          expect(oldPos).toEqual([...oldPos].sort((x, y) => x - y));
          expect(c.added.length + common.length).toBe(after.length);
          expect(c.removed.length + common.length).toBe(before.length);
        },
      ),
    );
  });
});

describe("describeChanges", () => {
  it("says it in one line, lists cut at ten", () => {
    const many = Array.from({ length: 14 }, (_, i) => `f${i}`);
    const line = describeChanges(policyChanges(ranked("x"), ranked("x", ...many)));
    expect(line).toBe(
      "15 functions; added f0 #2, f1 #3, f2 #4, f3 #5, f4 #6, f5 #7, f6 #8, f7 #9, f8 #10, f9 #11 and 4 more",
    );
    expect(line).not.toContain("\n");
    expect(describeChanges(policyChanges(ranked("a", "b", "c"), ranked("b", "a")))).toBe(
      "2 functions; removed c; re-ranked b #2→#1",
    );
  });
});

describe("policyLogger", () => {
  it("logs a learned policy's changes at info, the whole table at debug, nothing for a file's policy", () => {
    const lines: { message: string; level: LogLevel | undefined; fields: unknown }[] = [];
    const listener = policyLogger((message, level, fields) =>
      lines.push({ message, level, fields }),
    );
    listener(ranked("a"), null); // the initial (or file) policy
    expect(lines).toEqual([]);
    listener(ranked("a", "b"), 1.25);
    listener(ranked("a", "b"), 1.5); // same ranking, new slices: no info line
    listener(ranked("b", "a"), 2);
    const info = lines.filter((l) => l.level === "info");
    expect(info.map((l) => l.message)).toEqual([
      "policy changed (learned in 1.3 ms): 2 functions; added a #1, b #2",
      "policy changed (learned in 2.0 ms): 2 functions; re-ranked b #2→#1",
    ]);
    expect(info[1]?.fields).toMatchObject({
      policy_changes: { reranked: [{ fn: "b", from: 2, to: 1 }] },
    });
    const debug = lines.filter((l) => l.level === "debug");
    expect(debug).toHaveLength(3);
    expect(debug[0]?.message).toContain("1:a 10.0/5.0ms, 2:b 20.0/5.0ms");
  });
});
