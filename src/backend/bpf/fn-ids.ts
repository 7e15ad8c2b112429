/**
 * Function ids of the BPF maps: the policy map is an array indexed by id,
 * the cgroup and task maps carry the id, and the kernel knows functions by
 * nothing else. Id 0 is the policy's default entry; 1..capacity-1 are given
 * to functions as they appear. Pure bookkeeping: no map is read or written
 * here, the BPF backend does that with the ids this hands out.
 */
import { ALPS_MAX_FNS } from "../../host/addon-types.js";

/** What `ensure` did for a function. */
export interface FnIdGrant {
  id: number;
  /** The function had no id before this call (0 included: an overflow is new once). */
  added: boolean;
}

export class FnIds {
  readonly #capacity: number;
  readonly #ids = new Map<string, number>();
  readonly #names = new Map<number, string>();
  /** Ids given back by functions that left (`forget`), handed out again first. */
  readonly #free: number[] = [];
  /** The next id never handed out yet. */
  #next = 1;

  /** `capacity` ids in all, 0 included (the BPF policy map's size). */
  constructor(capacity: number = ALPS_MAX_FNS) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
  }

  /** The id of `fn`, if it has one (0: it overflowed and uses the default entry). */
  idOf(fn: string): number | undefined {
    return this.#ids.get(fn);
  }

  /** The function holding `id` (never for 0, which many functions may share). */
  nameOf(id: number): string | undefined {
    return this.#names.get(id);
  }

  /**
   * The id of `fn`, given one if it has none: a freed id first, else the
   * next unused; when all are taken, 0 (the default entry). A function keeps
   * its id until `forget` gives it back.
   */
  ensure(fn: string): FnIdGrant {
    const known = this.#ids.get(fn);
    if (known !== undefined) return { id: known, added: false };
    const id = this.#free.pop() ?? (this.#next < this.#capacity ? this.#next++ : 0);
    this.#ids.set(fn, id);
    if (id !== 0) this.#names.set(id, fn);
    return { id, added: true };
  }

  /**
   * Gives back the ids of functions `keep` does not hold, except ids still
   * in use by tracked tasks (`inUse`: called only when some id could be
   * given back, as it reads the kernel's task map). A function on id 0
   * (overflow) is forgotten too, so it gets an id when it is seen again.
   */
  forgetUnused(keep: (fn: string) => boolean, inUse: () => ReadonlySet<number>): void {
    const unused: [string, number][] = [];
    for (const [fn, id] of this.#ids) if (!keep(fn)) unused.push([fn, id]);
    if (unused.length === 0) return;
    const tracked = inUse();
    for (const [fn, id] of unused) {
      if (id !== 0 && tracked.has(id)) continue;
      this.#ids.delete(fn);
      if (id === 0) continue;
      this.#names.delete(id);
      this.#free.push(id);
    }
  }
}
