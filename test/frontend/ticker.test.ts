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

describe("Ticker, idle", () => {
  it("slows to the idle tick when not busy, fires each entry once per idle tick, and wakes at once", () => {
    let busy = false;
    const ticker = new Ticker(250, { idleMs: 2000, busy: () => busy });
    const fired = { beat: 0, learn: 0 };
    /** What each beat saw: the period that follows it (an idle beat must precede the idle gap). */
    const sawIdle: boolean[] = [];
    ticker.every(250, () => {
      fired.beat++;
      sawIdle.push(ticker.idle);
    });
    ticker.every(2000, () => fired.learn++);
    // The first base tick finds it not busy: idle from then on.
    vi.advanceTimersByTime(250);
    expect(fired.beat).toBe(1);
    expect(ticker.idle).toBe(true);
    expect(ticker.idleSwitches).toBe(1);
    // The beat on the tick that went idle already says idle.
    expect(sawIdle).toEqual([true]);
    // 8 s idle: 4 idle ticks, each firing the 250 ms entry once (not 8 times).
    vi.advanceTimersByTime(8000);
    expect(fired.beat).toBe(5);
    expect(fired.learn).toBe(4);
    expect(vi.getTimerCount()).toBe(1);
    // Woken (the record armed): the next beat is one base tick away.
    ticker.wake();
    expect(ticker.idle).toBe(false);
    busy = true;
    vi.advanceTimersByTime(250);
    expect(fired.beat).toBe(6);
    expect(sawIdle.at(-1)).toBe(false);
    vi.advanceTimersByTime(1000);
    expect(fired.beat).toBe(10);
    expect(ticker.idle).toBe(false);
    expect(ticker.wakeSwitches).toBe(1);
    // Nothing to protect again: idle after the next tick.
    busy = false;
    vi.advanceTimersByTime(250);
    expect(ticker.idle).toBe(true);
    expect(ticker.idleSwitches).toBe(2);
  });

  it("goes back to the base tick when an idle tick finds it busy", () => {
    let busy = false;
    const ticker = new Ticker(250, { idleMs: 2000, busy: () => busy });
    let beats = 0;
    ticker.every(250, () => beats++);
    vi.advanceTimersByTime(250);
    expect(ticker.idle).toBe(true);
    busy = true;
    vi.advanceTimersByTime(2000);
    expect(ticker.idle).toBe(false);
    vi.advanceTimersByTime(1000);
    expect(beats).toBe(2 + 4);
  });

  it("never goes idle without an idle period, and refuses one that is not a multiple of the base", () => {
    const ticker = new Ticker(250, { busy: () => false });
    ticker.every(250, () => {});
    vi.advanceTimersByTime(1000);
    expect(ticker.idle).toBe(false);
    expect(() => new Ticker(250, { idleMs: 1100 })).toThrow(/multiple of the base tick/);
  });
});
