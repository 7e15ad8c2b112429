/**
 * The daemon's clock, injected (tinybench's habit) so the same loop runs on
 * real time in production and on simulated time in tests.
 */
export interface DaemonClock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Call `tick` every `periodMs`; returns a function that cancels it. */
  every(periodMs: number, tick: () => void): () => void;
  /** Call `fire` once, `delayMs` from now; returns a function that cancels it. */
  after(delayMs: number, fire: () => void): () => void;
}

export const realClock: DaemonClock = {
  now: () => performance.timeOrigin + performance.now(),
  every(periodMs, tick) {
    const timer = setInterval(tick, periodMs);
    return () => clearInterval(timer);
  },
  after(delayMs, fire) {
    const timer = setTimeout(fire, delayMs);
    return () => clearTimeout(timer);
  },
};

/** A clock that only moves when told to: `advance(ms)` fires the periodic ticks due. */
export class ManualClock implements DaemonClock {
  #now: number;
  /** periodMs 0: a one-shot timer. */
  #timers: { periodMs: number; next: number; tick: () => void; live: boolean }[] = [];
  constructor(startMs = 0) {
    this.#now = startMs;
  }
  now(): number {
    return this.#now;
  }
  every(periodMs: number, tick: () => void): () => void {
    const timer = { periodMs, next: this.#now + periodMs, tick, live: true };
    this.#timers.push(timer);
    return () => {
      timer.live = false;
    };
  }
  after(delayMs: number, fire: () => void): () => void {
    const timer = { periodMs: 0, next: this.#now + delayMs, tick: fire, live: true };
    this.#timers.push(timer);
    return () => {
      timer.live = false;
    };
  }
  /** When the next tick falls (Infinity with none): a simulator advances to exactly there. */
  nextDueMs(): number {
    let due = Number.POSITIVE_INFINITY;
    for (const t of this.#timers) if (t.live && t.next < due) due = t.next;
    return due;
  }
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#timers
        .filter((t) => t.live && t.next <= end)
        .sort((a, b) => a.next - b.next)[0];
      if (due === undefined) break;
      this.#now = due.next;
      if (due.periodMs > 0) due.next += due.periodMs;
      else due.live = false;
      due.tick();
    }
    this.#now = end;
  }
}
