/**
 * Refusals, logged without letting a client fill the disk: the first refusal
 * of each (reason, uid) in an interval is logged as it happens, with its
 * message; the rest of that interval are counted and summed up in one line
 * when the interval ends (on the next refusal after it, or on `flush`). A
 * flood of 100,000 refusals a minute thus costs a few lines a minute, not
 * 100,000 (the issue measured 27.7 MB in 50 s).
 */

export interface RefusalLogOptions {
  log: (message: string) => void;
  /** Interval of one summary, ms. */
  intervalMs?: number;
  now?: () => number;
}

export class RefusalLog {
  readonly #log: (message: string) => void;
  readonly #intervalMs: number;
  readonly #now: () => number;
  #since: number;
  /** "reason uid" → refusals not logged in this interval. */
  readonly #held = new Map<string, number>();
  /** "reason uid" seen (logged once) in this interval. */
  readonly #seen = new Set<string>();
  /** Lines written so far (tests). */
  lines = 0;

  constructor(opts: RefusalLogOptions) {
    this.#log = opts.log;
    this.#intervalMs = opts.intervalMs ?? 10_000;
    this.#now = opts.now ?? (() => performance.now());
    this.#since = this.#now();
  }

  refused(status: number, reason: string, uid: number | undefined, message: string): void {
    const now = this.#now();
    if (now - this.#since >= this.#intervalMs) this.flush(now);
    const key = `${reason} ${uid ?? "?"}`;
    if (!this.#seen.has(key)) {
      this.#seen.add(key);
      this.#write(`api: refused (${status} ${reason}, uid ${uid ?? "unknown"}): ${message}`);
      return;
    }
    this.#held.set(key, (this.#held.get(key) ?? 0) + 1);
  }

  /** Writes the summary of the interval that ends now, if anything was held back. */
  flush(now = this.#now()): void {
    if (this.#held.size > 0) {
      const parts = [...this.#held]
        .sort((a, b) => b[1] - a[1])
        .map(([key, n]) => {
          const [reason, uid] = key.split(" ");
          return `${n} ${reason} (uid ${uid})`;
        });
      this.#write(
        `api: also refused in the last ${((now - this.#since) / 1000).toFixed(1)} s: ${parts.join(", ")}`,
      );
    }
    this.#held.clear();
    this.#seen.clear();
    this.#since = now;
  }

  #write(line: string): void {
    this.lines++;
    this.#log(line);
  }
}
