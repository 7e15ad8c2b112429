/**
 * One timer for the daemon's periodic work. Each setInterval is a wake-up of
 * its own, and an idle daemon's CPU is mostly wake-ups: the guardian's
 * heartbeat (250 ms), the real-time cap's CPU check (250 ms), the socket
 * check (1 s) and the learner's period (2 s) were 10.5 a second, each on
 * its own phase. On one base tick whose multiples they are, they are 4.
 * `every` has DaemonClock's signature; a period that is not a multiple of
 * the base gets a timer of its own (its period is never changed).
 *
 * Idle (docs/safety.md, "the guardian"): with nothing changed on the host
 * there is nothing for the heartbeat's 1 s bound to protect, so when
 * `busy()` says so at a tick, the tick slows to `idleMs` and every entry
 * whose period is shorter fires once per idle tick (the heartbeat among
 * them). `wake()` goes back to the base tick at once; whoever is about to
 * change the host calls it (with an immediate heartbeat, see
 * src/frontend/arming.ts) before the change.
 */
export interface TickerOptions {
  /** The slow tick while idle, ms: a multiple of the base; default the base (never idle). */
  idleMs?: number;
  /** Asked at each tick: true keeps (or puts) the base tick. Default: always busy. */
  busy?: () => boolean;
  /** Told each time the tick goes idle (true) or back to the base (false). */
  onSwitch?: (idle: boolean) => void;
}

export class Ticker {
  readonly baseMs: number;
  readonly idleMs: number;
  #busy: () => boolean;
  readonly #onSwitch: ((idle: boolean) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The period the timer runs at now: baseMs, or idleMs while idle. */
  #periodMs: number;
  /** Base ticks since the timer started (an idle tick counts idleMs / baseMs of them). */
  #count = 0;
  readonly #entries = new Set<{ every: number; next: number; tick: () => void }>();
  /** Times the tick went idle and came back (tests and the status read them). */
  idleSwitches = 0;
  wakeSwitches = 0;

  constructor(baseMs: number, opts: TickerOptions = {}) {
    this.baseMs = baseMs;
    this.idleMs = opts.idleMs ?? baseMs;
    if (this.idleMs < baseMs || this.idleMs % baseMs !== 0)
      throw new Error(
        `the idle tick (${this.idleMs} ms) must be a multiple of the base tick (${baseMs} ms)`,
      );
    this.#busy = opts.busy ?? (() => true);
    this.#periodMs = baseMs;
    this.#onSwitch = opts.onSwitch;
  }

  /** Replaces the busy test (the daemon sets it once what it asks about exists). */
  setBusy(busy: () => boolean): void {
    this.#busy = busy;
  }

  /** Whether the tick runs at the idle period now. */
  get idle(): boolean {
    return this.#periodMs !== this.baseMs;
  }

  /** Calls `tick` every `periodMs` (a multiple of the base: on the shared tick); returns its cancel. */
  readonly every = (periodMs: number, tick: () => void): (() => void) => {
    const every = Math.round(periodMs / this.baseMs);
    if (every < 1 || every * this.baseMs !== periodMs) {
      const own = setInterval(tick, periodMs);
      own.unref();
      return () => clearInterval(own);
    }
    const entry = { every, next: this.#count + every, tick };
    this.#entries.add(entry);
    if (this.#timer === undefined) this.#schedule(this.baseMs);
    return () => {
      this.#entries.delete(entry);
      if (this.#entries.size === 0 && this.#timer !== undefined) {
        clearInterval(this.#timer);
        this.#timer = undefined;
        this.#periodMs = this.baseMs;
      }
    };
  };

  /**
   * Back to the base tick now (no-op when not idle). The entries' next
   * firings stay where the idle tick left them: at most one base tick late.
   */
  wake(): void {
    if (!this.idle) return;
    this.wakeSwitches++;
    if (this.#timer !== undefined) this.#schedule(this.baseMs);
    this.#onSwitch?.(false);
  }

  /** Periodic work registered now. */
  get size(): number {
    return this.#entries.size;
  }

  #schedule(periodMs: number): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#periodMs = periodMs;
    this.#timer = setInterval(() => this.#fire(), periodMs);
    // The daemon's servers keep it alive, not its housekeeping.
    this.#timer.unref();
  }

  #fire(): void {
    this.#count += this.#periodMs / this.baseMs;
    // The period first: work on this tick sees the period until the next one
    // (a heartbeat that says "idle" must be followed by the idle gap, not precede it).
    if (this.idleMs !== this.baseMs) {
      const busy = this.#busy();
      if (busy && this.idle) {
        this.wakeSwitches++;
        this.#schedule(this.baseMs);
        this.#onSwitch?.(false);
      } else if (!busy && !this.idle) {
        this.idleSwitches++;
        this.#schedule(this.idleMs);
        this.#onSwitch?.(true);
      }
    }
    for (const e of [...this.#entries]) {
      if (e.next > this.#count || !this.#entries.has(e)) continue;
      // Once per tick, however many of its periods an idle tick spans.
      while (e.next <= this.#count) e.next += e.every;
      e.tick();
    }
  }
}
