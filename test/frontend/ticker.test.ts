/**
 * The daemon's shared tick (src/frontend/ticker.ts): periodic work on one
 * timer fires at its own period, in the same wake-ups, and stops with the
 * last cancel.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Ticker } from "../../src/frontend/ticker.js";

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("Ticker", () => {
  it("fires each period on the shared tick, and only then", () => {
    const ticker = new Ticker(250);
    const fired: string[] = [];
    const stopA = ticker.every(250, () => fired.push(`a${Date.now() % 10_000}`));
    const stopB = ticker.every(1000, () => fired.push(`b${Date.now() % 10_000}`));
    vi.advanceTimersByTime(2000);
    expect(fired.filter((f) => f.startsWith("a"))).toHaveLength(8);
    expect(fired.filter((f) => f.startsWith("b"))).toHaveLength(2);
    // Every b fires in the same wake-up as an a.
    for (const b of fired.filter((f) => f.startsWith("b")))
      expect(fired).toContain(`a${b.slice(1)}`);
    // One timer for both.
    expect(vi.getTimerCount()).toBe(1);
    stopA();
    stopB();
    expect(ticker.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("gives a period that is not a multiple of the base a timer of its own, unchanged", () => {
    const ticker = new Ticker(250);
    let n = 0;
    const stop = ticker.every(300, () => n++);
    vi.advanceTimersByTime(900);
    expect(n).toBe(3);
    stop();
    vi.advanceTimersByTime(900);
    expect(n).toBe(3);
  });

  it("does not run work cancelled by other work in the same tick", () => {
    const ticker = new Ticker(100);
    let ran = false;
    let stopB: () => void = () => {};
    ticker.every(100, () => stopB());
    stopB = ticker.every(100, () => {
      ran = true;
    });
    vi.advanceTimersByTime(100);
    expect(ran).toBe(false);
  });
});
