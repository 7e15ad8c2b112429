import type { TraceInvocation } from "../contracts/trace.js";
import { markChecked, type TraceColumns } from "./columns.js";

/**
 * Grows the columns of a trace as rows are read, and numbers function and
 * app names: a name already seen is found by its bytes (an open-addressing
 * table over typed arrays), so a row allocates nothing.
 */
export class ColumnBuilder {
  // Every column exists from the start (cpu NaN-filled, app -1-filled) and
  // `hasCpu`/`hasApp` say whether to hand it out, so no field changes type.
  // The columns are sized for the whole file up front (see readTraceColumns)
  // rather than grown as rows come: growing copies every column each time,
  // and V8 treats a field never re-assigned as a constant, so re-assigning
  // one after it optimized the row loop throws that code away.
  length = 0;
  arrival: Float64Array<ArrayBuffer>;
  duration: Float64Array<ArrayBuffer>;
  cpu: Float64Array<ArrayBuffer>;
  fn: Int32Array<ArrayBuffer>;
  app: Int32Array<ArrayBuffer>;
  hasCpu = false;
  hasApp = false;
  readonly names: string[] = [];
  readonly #idOfName = new Map<string, number>();
  /** Hash table: entry number + 1 per slot, 0 for empty. */
  #slots = new Int32Array(16);
  /** Per entry: hash, where its bytes are in #pool, their count, the name's id. */
  #entryHash = new Int32Array(8);
  #entryAt = new Int32Array(8);
  #entryLen = new Int32Array(8);
  #entryId = new Int32Array(8);
  #entries = 0;
  #pool = new Uint8Array(256);
  #poolUsed = 0;

  constructor(capacity: number) {
    const size = Math.max(capacity, 16);
    this.arrival = new Float64Array(size);
    this.duration = new Float64Array(size);
    this.cpu = new Float64Array(size).fill(Number.NaN);
    this.fn = new Int32Array(size);
    this.app = new Int32Array(size).fill(-1);
  }

  push(arrival: number, duration: number, cpu: number, fn: number, app: number): void {
    const i = this.length;
    if (i === this.arrival.length) this.#grow();
    this.arrival[i] = arrival;
    this.duration[i] = duration;
    this.fn[i] = fn;
    if (!Number.isNaN(cpu)) {
      this.cpu[i] = cpu;
      this.hasCpu = true;
    }
    if (app >= 0) {
      this.app[i] = app;
      this.hasApp = true;
    }
    this.length = i + 1;
  }

  pushInvocation(inv: TraceInvocation): void {
    this.push(
      inv.arrivalMs,
      inv.durationMs,
      inv.cpuMs ?? Number.NaN,
      this.idOf(inv.fn),
      inv.app === undefined ? -1 : this.idOf(inv.app),
    );
  }

  idOf(name: string): number {
    let id = this.#idOfName.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.#idOfName.set(name, id);
    }
    return id;
  }

  /**
   * The id of the name held as UTF-8 in `buf[s, e)` (e > s), whose bytes
   * hash to `h` (see scanName).
   */
  idOfBytes(buf: Uint8Array, s: number, e: number, h: number): number {
    const len = e - s;
    const slots = this.#slots;
    const mask = slots.length - 1;
    let slot = (h ^ (h >>> 15)) & mask;
    for (;;) {
      const k = (slots[slot] as number) - 1;
      if (k < 0) break;
      if (this.#entryHash[k] === h && this.#entryLen[k] === len) {
        const pool = this.#pool;
        let at = this.#entryAt[k] as number;
        let i = s;
        while (i < e && pool[at] === buf[i]) {
          at++;
          i++;
        }
        if (i === e) return this.#entryId[k] as number;
      }
      slot = (slot + 1) & mask;
    }
    // A new byte sequence. Decoding copies, so the name does not pin `buf`;
    // two sequences may decode alike (invalid UTF-8), hence the string map.
    const id = this.idOf(Buffer.from(buf.buffer, buf.byteOffset + s, len).toString("utf8"));
    this.#addEntry(h, buf, s, e, id);
    return id;
  }

  #addEntry(h: number, buf: Uint8Array, s: number, e: number, id: number): void {
    const k = this.#entries++;
    if (k === this.#entryId.length) {
      this.#entryHash = grownInt32(this.#entryHash, k * 2, 0);
      this.#entryAt = grownInt32(this.#entryAt, k * 2, 0);
      this.#entryLen = grownInt32(this.#entryLen, k * 2, 0);
      this.#entryId = grownInt32(this.#entryId, k * 2, 0);
    }
    const len = e - s;
    if (this.#poolUsed + len > this.#pool.length) {
      const pool = new Uint8Array(Math.max(this.#pool.length * 2, this.#poolUsed + len));
      pool.set(this.#pool.subarray(0, this.#poolUsed));
      this.#pool = pool;
    }
    this.#pool.set(buf.subarray(s, e), this.#poolUsed);
    this.#entryHash[k] = h;
    this.#entryAt[k] = this.#poolUsed;
    this.#entryLen[k] = len;
    this.#entryId[k] = id;
    this.#poolUsed += len;
    if (this.#entries * 2 > this.#slots.length) {
      this.#slots = new Int32Array(this.#slots.length * 2);
      for (let j = 0; j < this.#entries; j++) this.#place(j);
    } else {
      this.#place(k);
    }
  }

  #place(k: number): void {
    const slots = this.#slots;
    const mask = slots.length - 1;
    const h = this.#entryHash[k] as number;
    let slot = (h ^ (h >>> 15)) & mask;
    while (slots[slot] !== 0) slot = (slot + 1) & mask;
    slots[slot] = k + 1;
  }

  #grow(): void {
    const size = this.arrival.length * 2;
    this.arrival = grownFloat64(this.arrival, size, 0);
    this.duration = grownFloat64(this.duration, size, 0);
    this.fn = grownInt32(this.fn, size, 0);
    this.cpu = grownFloat64(this.cpu, size, Number.NaN);
    this.app = grownInt32(this.app, size, -1);
  }

  /** The columns, trimmed to the rows read (every row passed the native rules). */
  finish(): TraceColumns {
    const n = this.length;
    // Views when most of each array is used; copies, freeing the rest, when not.
    const view = n * 2 >= this.arrival.length;
    const trim = <T extends Float64Array | Int32Array>(a: T): T =>
      (view ? a.subarray(0, n) : a.slice(0, n)) as T;
    return markChecked({
      length: n,
      arrival: trim(this.arrival),
      duration: trim(this.duration),
      cpu: this.hasCpu ? trim(this.cpu) : undefined,
      fn: trim(this.fn),
      app: this.hasApp ? trim(this.app) : undefined,
      names: this.names,
    });
  }
}

function grownFloat64(a: Float64Array, size: number, fill: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(size);
  if (fill !== 0) b.fill(fill, a.length);
  b.set(a);
  return b;
}

function grownInt32(a: Int32Array, size: number, fill: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(size);
  if (fill !== 0) b.fill(fill, a.length);
  b.set(a);
  return b;
}
