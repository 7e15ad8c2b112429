/**
 * The most recent bursts the backend reported, in a fixed ring (GET
 * /v1/bursts): what the daemon saw of sandboxes that nobody registers
 * invocations for, so a client can compare the invocations it inferred with
 * the real ones. Fields live in typed arrays, so recording a burst allocates
 * nothing; the oldest are overwritten, and a reader is told how many it missed.
 */
import type { BurstSample } from "../backend/types.js";

/** One burst as GET /v1/bursts returns it. */
export interface BurstRecord {
  seq: number;
  function: string;
  tid: number;
  cpu_ms: number;
  /** End of the burst, ms on the daemon's clock (wall time). */
  end_ms: number;
  /** End of the burst on CLOCK_MONOTONIC, ms, or null when the sensor does not stamp it. */
  end_mono_ms: number | null;
  /** Learned from (false: the function has explicit invocations, so its bursts are not). */
  learned: boolean;
}

export interface BurstPage {
  /** Pass as `after` to read on from here. */
  next: number;
  /** Bursts after `after` that were overwritten before this read. */
  missed: number;
  bursts: BurstRecord[];
}

export class BurstLog {
  readonly #size: number;
  readonly #fn: string[];
  readonly #tid: Int32Array;
  readonly #cpuMs: Float64Array;
  readonly #atMs: Float64Array;
  readonly #monoMs: Float64Array;
  readonly #learned: Uint8Array;
  /** Sequence number of the next burst (the first is 1). */
  #next = 1;

  constructor(size = 16_384) {
    this.#size = size;
    this.#fn = new Array<string>(size).fill("");
    this.#tid = new Int32Array(size);
    this.#cpuMs = new Float64Array(size);
    this.#atMs = new Float64Array(size);
    this.#monoMs = new Float64Array(size);
    this.#learned = new Uint8Array(size);
  }

  add(sample: BurstSample, learned: boolean): void {
    const i = this.#next % this.#size;
    this.#fn[i] = sample.fn;
    this.#tid[i] = sample.tid;
    this.#cpuMs[i] = sample.cpuMs;
    this.#atMs[i] = sample.atMs;
    this.#monoMs[i] = sample.monoMs ?? Number.NaN;
    this.#learned[i] = learned ? 1 : 0;
    this.#next++;
  }

  /** Bursts with a sequence number above `after`, oldest first, at most `limit`. */
  read(after: number, limit = this.#size): BurstPage {
    const oldest = Math.max(1, this.#next - this.#size);
    const from = Math.max(after + 1, oldest);
    const missed = Math.max(0, oldest - (after + 1));
    const to = Math.min(this.#next, from + limit);
    const bursts: BurstRecord[] = [];
    for (let seq = from; seq < to; seq++) {
      const i = seq % this.#size;
      const mono = this.#monoMs[i] as number;
      bursts.push({
        seq,
        function: this.#fn[i] as string,
        tid: this.#tid[i] as number,
        cpu_ms: this.#cpuMs[i] as number,
        end_ms: this.#atMs[i] as number,
        end_mono_ms: Number.isNaN(mono) ? null : mono,
        learned: this.#learned[i] === 1,
      });
    }
    return { next: to - 1, missed, bursts };
  }
}
