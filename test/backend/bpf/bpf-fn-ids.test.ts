/**
 * FnIds without root or BPF: ids 1..capacity-1 in order, 0 on overflow
 * (once per function), given back only when nothing holds them, and handed
 * out again before fresh ones.
 */
import { describe, expect, it } from "vitest";
import { FnIds } from "../../../src/backend/bpf/fn-ids.js";

const none = (): ReadonlySet<number> => new Set();

describe("FnIds", () => {
  it("gives ids from 1 in order and keeps each function's id", () => {
    const ids = new FnIds(8);
    expect(ids.ensure("a")).toEqual({ id: 1, added: true });
    expect(ids.ensure("b")).toEqual({ id: 2, added: true });
    expect(ids.ensure("a")).toEqual({ id: 1, added: false });
    expect(ids.idOf("b")).toBe(2);
    expect(ids.nameOf(2)).toBe("b");
    expect(ids.idOf("c")).toBeUndefined();
    expect(ids.nameOf(3)).toBeUndefined();
  });

  it("overflows to 0 (the default entry) when every id is taken, once per function", () => {
    const ids = new FnIds(3);
    ids.ensure("a");
    ids.ensure("b");
    expect(ids.ensure("c")).toEqual({ id: 0, added: true });
    expect(ids.ensure("c")).toEqual({ id: 0, added: false });
    expect(ids.ensure("d")).toEqual({ id: 0, added: true });
    // 0 is shared: it names no function.
    expect(ids.nameOf(0)).toBeUndefined();
  });

  it("gives back the ids nothing keeps, and hands them out before fresh ones", () => {
    const ids = new FnIds(8);
    for (const fn of ["a", "b", "c"]) ids.ensure(fn);
    ids.forgetUnused((fn) => fn === "b", none);
    expect(ids.idOf("a")).toBeUndefined();
    expect(ids.idOf("c")).toBeUndefined();
    expect(ids.nameOf(1)).toBeUndefined();
    expect(ids.idOf("b")).toBe(2);
    // Freed ids first (last freed first), then the next never used.
    expect(ids.ensure("x").id).toBe(3);
    expect(ids.ensure("y").id).toBe(1);
    expect(ids.ensure("z").id).toBe(4);
  });

  it("keeps an id that a tracked task still carries", () => {
    const ids = new FnIds(8);
    ids.ensure("a");
    ids.ensure("b");
    ids.forgetUnused(
      () => false,
      () => new Set([1]),
    );
    expect(ids.idOf("a")).toBe(1);
    expect(ids.idOf("b")).toBeUndefined();
  });

  it("reads what is in use only when some id could be given back", () => {
    const ids = new FnIds(8);
    ids.ensure("a");
    let reads = 0;
    const inUse = (): ReadonlySet<number> => {
      reads++;
      return new Set();
    };
    ids.forgetUnused(() => true, inUse);
    expect(reads).toBe(0);
    ids.forgetUnused(() => false, inUse);
    expect(reads).toBe(1);
  });

  it("forgets an overflowed function even while tasks carry id 0, so it gets an id later", () => {
    const ids = new FnIds(2);
    ids.ensure("a");
    expect(ids.ensure("b").id).toBe(0);
    ids.forgetUnused(
      (fn) => fn === "a",
      () => new Set([0]),
    );
    expect(ids.idOf("b")).toBeUndefined();
    ids.forgetUnused(() => false, none);
    expect(ids.ensure("b")).toEqual({ id: 1, added: true });
  });

  it("refuses a capacity that holds no id", () => {
    expect(() => new FnIds(0)).toThrow(RangeError);
  });
});
