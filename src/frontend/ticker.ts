/**
 * One timer for the daemon's periodic work. Each setInterval is a wake-up of
 * its own, and an idle daemon's CPU is mostly wake-ups: the guardian's
 * heartbeat (250 ms), the real-time cap's CPU check (250 ms), the socket
 * check (1 s) and the learner's period (2 s) were 10.5 a second, each on
 * its own phase. On one base tick whose multiples they are, they are 4.
 * `every` has DaemonClock's signature; a period that is not a multiple of
 * the base gets a timer of its own (its period is never changed).
 */
export class Ticker {
  readonly baseMs: number;
  #timer: NodeJS.Timeout | undefined;
  /** Base ticks since the timer started. */
  #count = 0;
  readonly #entries = new Set<{ every: number; phase: number; tick: () => void }>();

  constructor(baseMs: number) {
    this.baseMs = baseMs;
  }

  /** Calls `tick` every `periodMs` (a multiple of the base: on the shared tick); returns its cancel. */
  readonly every = (periodMs: number, tick: () => void): (() => void) => {
    const every = Math.round(periodMs / this.baseMs);
    if (every < 1 || every * this.baseMs !== periodMs) {
      const own = setInterval(tick, periodMs);
      own.unref();
      return () => clearInterval(own);
    }
    const entry = { every, phase: this.#count % every, tick };
    this.#entries.add(entry);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#fire(), this.baseMs);
      // The daemon's servers keep it alive, not its housekeeping.
      this.#timer.unref();
    }
    return () => {
      this.#entries.delete(entry);
      if (this.#entries.size === 0 && this.#timer !== undefined) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  };

  /** Periodic work registered now. */
  get size(): number {
    return this.#entries.size;
  }

  #fire(): void {
    this.#count++;
    for (const e of [...this.#entries])
      if ((this.#count - e.phase) % e.every === 0 && this.#entries.has(e)) e.tick();
  }
}
