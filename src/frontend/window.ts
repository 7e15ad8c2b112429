/**
 * The learner's memory: the recent invocations of each function. Bounded on
 * every axis (invocations per function, age, number of functions) so a busy
 * or hostile host cannot grow it; everything pushed out is counted, never
 * silently lost (safety invariant 5, docs/safety.md: bounds are visible in /metrics and /v1/status).
 */

/** One finished invocation (or one burst, for sandboxes without explicit boundaries). */
export interface InvocationRecord {
  fn: string;
  /** When it started, ms on the daemon's clock. */
  arrivalMs: number;
  /** CPU it used, ms. */
  cpuMs: number;
  /** Time it was runnable but not running (or its best estimate), ms. */
  waitMs: number;
  /** End − start, ms. */
  turnaroundMs: number;
}

export interface WindowOptions {
  /** Keep at most this many invocations per function (the newest). */
  maxInvocations: number;
  /** Forget invocations older than this, ms; 0 = no age limit. */
  maxAgeMs: number;
  /** A function with no invocation for this long is forgotten entirely, ms. */
  functionTtlMs: number;
  /** At most this many functions are tracked; records of further ones are refused and counted. */
  maxTrackedFunctions: number;
}

export const DEFAULT_WINDOW_OPTIONS: WindowOptions = {
  maxInvocations: 1000,
  maxAgeMs: 60_000,
  functionTtlMs: 300_000,
  maxTrackedFunctions: 4096,
};

export interface WindowCounters {
  /** Records accepted. */
  added: number;
  /** Records pushed out because a function had more than `maxInvocations`. */
  evictedByCount: number;
  /** Records that aged out (`maxAgeMs`). */
  evictedByAge: number;
  /** Records refused because `maxTrackedFunctions` functions were already tracked. */
  refusedFunctions: number;
  /** Functions forgotten after `functionTtlMs` without an invocation. */
  agedOutFunctions: number;
}

interface FunctionHistory {
  records: InvocationRecord[];
  lastSeenMs: number;
}

export class InvocationWindow {
  readonly #opts: WindowOptions;
  readonly #byFn = new Map<string, FunctionHistory>();
  readonly #counters: WindowCounters = {
    added: 0,
    evictedByCount: 0,
    evictedByAge: 0,
    refusedFunctions: 0,
    agedOutFunctions: 0,
  };

  constructor(opts: Partial<WindowOptions> = {}) {
    this.#opts = { ...DEFAULT_WINDOW_OPTIONS, ...opts };
    if (!(this.#opts.maxInvocations >= 1))
      throw new RangeError("window maxInvocations must be >= 1");
    if (!(this.#opts.maxTrackedFunctions >= 1))
      throw new RangeError("window maxTrackedFunctions must be >= 1");
  }

  /** Add one record. Returns false (and counts it) when the function limit refuses it. */
  add(record: InvocationRecord): boolean {
    let history = this.#byFn.get(record.fn);
    if (history === undefined) {
      if (this.#byFn.size >= this.#opts.maxTrackedFunctions) {
        this.#counters.refusedFunctions++;
        return false;
      }
      history = { records: [], lastSeenMs: record.arrivalMs };
      this.#byFn.set(record.fn, history);
    }
    history.records.push(record);
    history.lastSeenMs = Math.max(history.lastSeenMs, record.arrivalMs + record.turnaroundMs);
    this.#counters.added++;
    // Trim in batches (at 1.25× the limit) so adding stays O(1) amortized.
    const limit = this.#opts.maxInvocations;
    if (history.records.length > limit + Math.max(1, limit >> 2)) this.#trimCount(history);
    return true;
  }

  #trimCount(history: FunctionHistory): void {
    const excess = history.records.length - this.#opts.maxInvocations;
    if (excess > 0) {
      history.records.splice(0, excess);
      this.#counters.evictedByCount += excess;
    }
  }

  /** Drop what is too old at `nowMs`: records past `maxAgeMs`, functions past `functionTtlMs`. */
  prune(nowMs: number): void {
    for (const [fn, history] of this.#byFn) {
      this.#trimCount(history);
      if (this.#opts.maxAgeMs > 0) {
        const oldest = nowMs - this.#opts.maxAgeMs;
        let drop = 0;
        while (
          drop < history.records.length &&
          (history.records[drop] as InvocationRecord).arrivalMs < oldest
        )
          drop++;
        if (drop > 0) {
          history.records.splice(0, drop);
          this.#counters.evictedByAge += drop;
        }
      }
      if (nowMs - history.lastSeenMs > this.#opts.functionTtlMs || history.records.length === 0) {
        this.#byFn.delete(fn);
        this.#counters.agedOutFunctions++;
      }
    }
  }

  /** Every record in the window after pruning at `nowMs`, oldest arrival first. */
  records(nowMs: number): InvocationRecord[] {
    this.prune(nowMs);
    const all: InvocationRecord[] = [];
    for (const history of this.#byFn.values()) for (const r of history.records) all.push(r);
    all.sort((a, b) => a.arrivalMs - b.arrivalMs);
    return all;
  }

  functions(): string[] {
    return [...this.#byFn.keys()];
  }

  /** Drop every record of `fn` (the caller counts why). Returns how many were dropped. */
  forget(fn: string): number {
    const n = this.#byFn.get(fn)?.records.length ?? 0;
    this.#byFn.delete(fn);
    return n;
  }

  get size(): number {
    let n = 0;
    for (const history of this.#byFn.values()) n += history.records.length;
    return n;
  }

  counters(): WindowCounters {
    return { ...this.#counters };
  }
}
