/**
 * Tables keyed by function names, and the policy schema that builds one:
 * every name is an ordinary own entry, "__proto__" included, and a lookup
 * never finds Object.prototype's members.
 */
import { describe, expect, it } from "vitest";
import { functionTable, ownEntry } from "../../src/contracts/function-table.js";
import { emptyPolicy, PolicySchema, policyEntryFor } from "../../src/contracts/policy.js";

const entry = (priority: number) => ({ priority, predicted_ms: 1, slice_ms: 2 });

describe("function tables", () => {
  it("take '__proto__' as an entry and find nothing inherited", () => {
    const table = functionTable<number>();
    for (const [i, name] of ["__proto__", "constructor"].entries()) table[name] = i + 1;
    expect(Object.keys(table)).toEqual(["__proto__", "constructor"]);
    expect(ownEntry(table, "__proto__")).toBe(1);
    expect(ownEntry(table, "toString")).toBeUndefined();
    expect(JSON.stringify(table)).toBe('{"__proto__":1,"constructor":2}');
    // A plain object's inherited members are not entries either.
    expect(ownEntry({ a: 1 } as Record<string, number>, "constructor")).toBeUndefined();
    expect(ownEntry({ a: 1 } as Record<string, number>, "__proto__")).toBeUndefined();
  });

  it("the empty policy governs Object.prototype's member names by its default", () => {
    const policy = emptyPolicy();
    for (const fn of ["__proto__", "constructor", "toString", "valueOf"])
      expect(policyEntryFor(policy, fn)).toBe(policy.default);
  });

  it("the policy schema keeps every name of a JSON.parse'd policy (the API's path)", () => {
    const text = `{"functions": {"__proto__": ${JSON.stringify(entry(1))}, "constructor": ${JSON.stringify(entry(2))}}, "default": ${JSON.stringify(entry(3))}}`;
    const policy = PolicySchema.parse(JSON.parse(text));
    expect(Object.keys(policy.functions)).toEqual(["__proto__", "constructor"]);
    expect(policyEntryFor(policy, "__proto__").priority).toBe(1);
    expect(policyEntryFor(policy, "constructor").priority).toBe(2);
    expect(policyEntryFor(policy, "toString").priority).toBe(3);
    expect(JSON.parse(JSON.stringify(policy))).toEqual(JSON.parse(text));
    expect(({} as Record<string, unknown>).priority).toBeUndefined();
  });

  it("the policy schema names the function and field of what it refuses", () => {
    const bad = (functions: unknown) =>
      PolicySchema.safeParse({ functions, default: entry(1) }).error?.issues[0];
    expect(bad({ fib: { ...entry(1), priority: 0 } })?.path).toEqual([
      "functions",
      "fib",
      "priority",
    ]);
    expect(bad({ fib: 3 })?.path).toEqual(["functions", "fib"]);
    expect(bad({ "": entry(1) })?.path).toEqual(["functions", ""]);
    expect(bad({ ["x".repeat(256)]: entry(1) })?.message).toMatch(/function name/);
    expect(bad([entry(1)])?.path).toEqual(["functions"]);
    expect(bad(null)?.path).toEqual(["functions"]);
    expect(bad(undefined)?.path).toEqual(["functions"]);
  });

  it("unknown fields of an entry ride along (a learned policy's explanation)", () => {
    const policy = PolicySchema.parse({
      functions: { fib: { ...entry(1), explain: { samples: 3 } } },
      default: entry(2),
    });
    expect(policy.functions.fib).toEqual({ ...entry(1), explain: { samples: 3 } });
  });
});
