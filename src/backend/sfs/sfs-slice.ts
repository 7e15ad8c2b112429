/**
 * The SFS FILTER time slice (SC'22): mean inter-arrival time × cores,
 * recomputed every N arrivals, never below a floor, starting at 20 ms.
 * At high load arrivals are close together and the slice shrinks, so the
 * FIFO level keeps admitting new invocations quickly. Pure: the caller
 * passes the clock.
 */
export interface SfsSliceOptions {
  cores: number;
  initialMs?: number;
  floorMs?: number;
  /** Arrivals between recomputations. */
  recomputeEvery?: number;
}

export const SFS_DEFAULTS = { initialMs: 20, floorMs: 6, recomputeEvery: 100 } as const;

export class SfsSlice {
  readonly #cores: number;
  readonly #floorMs: number;
  readonly #every: number;
  #ms: number;
  #lastArrivalMs: number | undefined;
  #gapSumMs = 0;
  #gaps = 0;
  #recomputations = 0;

  constructor(options: SfsSliceOptions) {
    if (!(options.cores >= 1))
      throw new RangeError(`SFS needs at least one core, got ${options.cores}`);
    this.#cores = options.cores;
    this.#floorMs = options.floorMs ?? SFS_DEFAULTS.floorMs;
    this.#every = options.recomputeEvery ?? SFS_DEFAULTS.recomputeEvery;
    if (!(this.#every >= 1))
      throw new RangeError(`recomputeEvery must be >= 1, got ${this.#every}`);
    this.#ms = Math.max(options.initialMs ?? SFS_DEFAULTS.initialMs, this.#floorMs);
  }

  /** The slice in force, ms. */
  get ms(): number {
    return this.#ms;
  }

  get recomputations(): number {
    return this.#recomputations;
  }

  /** Record an arrival at `nowMs`; returns true when the slice was recomputed. */
  arrive(nowMs: number): boolean {
    if (this.#lastArrivalMs !== undefined) {
      this.#gapSumMs += Math.max(nowMs - this.#lastArrivalMs, 0);
      this.#gaps++;
    }
    this.#lastArrivalMs = nowMs;
    if (this.#gaps < this.#every) return false;
    this.#ms = Math.max((this.#gapSumMs / this.#gaps) * this.#cores, this.#floorMs);
    this.#gapSumMs = 0;
    this.#gaps = 0;
    this.#recomputations++;
    return true;
  }
}
