/**
 * The daemon's real-time CPU, capped. Its threads run SCHED_FIFO so that it
 * can always undo what it did (safety invariant 2, docs/safety.md), which also means
 * that whatever makes it busy — a flood of control API requests from a
 * socket-group member, say — runs above every function on that core. So the
 * daemon measures its own CPU every `periodMs`; when it used more than
 * `capPercent` of one core in a period it leaves SCHED_FIFO (for the fair
 * class at nice 0, where a flood gets a fair share and no more) and says so;
 * once it stayed under half the cap for `calmPeriods` periods in a row it
 * goes back to SCHED_FIFO. Parsing a flood below real time, not its
 * rate-limited answers, is what protects the host.
 */

export interface RealtimeCapOptions {
  /** % of one core above which the daemon leaves SCHED_FIFO (0 = no cap). */
  capPercent: number;
  periodMs?: number;
  /** Periods under half the cap before going back to SCHED_FIFO. */
  calmPeriods?: number;
  /** This process's CPU time, ms (user + system). */
  cpuMs?: () => number;
  now?: () => number;
  /** Leave SCHED_FIFO (every thread to the fair class). */
  demote: () => void;
  /** Back to SCHED_FIFO. */
  raise: () => void;
  log?: (message: string) => void;
  /** Runs the check every periodMs (the daemon's shared tick); default setInterval. */
  every?: (periodMs: number, tick: () => void) => () => void;
}

export class RealtimeCap {
  readonly #opts: RealtimeCapOptions;
  readonly #cpuMs: () => number;
  readonly #now: () => number;
  #lastCpu: number;
  #lastWall: number;
  #calm = 0;
  #cancel: (() => void) | undefined;
  /** On SCHED_FIFO now (as far as this cap knows). */
  realtime = true;
  demotions = 0;

  constructor(opts: RealtimeCapOptions) {
    this.#opts = opts;
    this.#cpuMs =
      opts.cpuMs ??
      (() => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1000;
      });
    this.#now = opts.now ?? (() => performance.now());
    this.#lastCpu = this.#cpuMs();
    this.#lastWall = this.#now();
  }

  start(): void {
    if (this.#opts.capPercent <= 0 || this.#cancel !== undefined) return;
    const periodMs = this.#opts.periodMs ?? 250;
    if (this.#opts.every !== undefined) {
      this.#cancel = this.#opts.every(periodMs, () => this.check());
      return;
    }
    const timer = setInterval(() => this.check(), periodMs);
    timer.unref();
    this.#cancel = () => clearInterval(timer);
  }

  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }

  /** One period: the CPU used since the last check, and what it means. */
  check(): void {
    const cpu = this.#cpuMs();
    const wall = this.#now();
    const pct = wall > this.#lastWall ? (100 * (cpu - this.#lastCpu)) / (wall - this.#lastWall) : 0;
    this.#lastCpu = cpu;
    this.#lastWall = wall;
    const cap = this.#opts.capPercent;
    if (this.realtime && pct > cap) {
      this.#opts.demote();
      this.realtime = false;
      this.demotions++;
      this.#calm = 0;
      this.#opts.log?.(
        `daemon used ${pct.toFixed(0)} % of a core (cap ${cap} %): its threads leave SCHED_FIFO for the fair class until it calms down`,
      );
    } else if (!this.realtime) {
      this.#calm = pct < cap / 2 ? this.#calm + 1 : 0;
      if (this.#calm >= (this.#opts.calmPeriods ?? 4)) {
        this.#opts.raise();
        this.realtime = true;
        this.#opts.log?.(
          `daemon CPU back to ${pct.toFixed(0)} %: its threads are on SCHED_FIFO again`,
        );
      }
    }
  }
}
