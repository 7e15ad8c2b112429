/**
 * A binary min-heap of invocation ids (dense ints) ordered by a key the
 * caller keeps in a Float64Array, ties broken by the smaller id (= earlier
 * arrival, since ids are trace positions). Storage is a preallocated
 * Int32Array: no allocation per push/pop in the simulator's hot loops.
 * A key must not change while its id is in the heap.
 */
export class IdHeap {
  private readonly ids: Int32Array;
  private count = 0;

  constructor(
    capacity: number,
    private readonly keys: Float64Array,
  ) {
    this.ids = new Int32Array(Math.max(capacity, 1));
  }

  get size(): number {
    return this.count;
  }

  /** Smallest id, or -1 when empty. */
  peek(): number {
    return this.count === 0 ? -1 : (this.ids[0] as number);
  }

  /** Whether (key a, id a) comes before (key b, id b). */
  private before(a: number, b: number): boolean {
    const ka = this.keys[a] as number;
    const kb = this.keys[b] as number;
    return ka < kb || (ka === kb && a < b);
  }

  push(id: number): void {
    const ids = this.ids;
    let i = this.count++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = ids[parent] as number;
      if (!this.before(id, p)) break;
      ids[i] = p;
      i = parent;
    }
    ids[i] = id;
  }

  /** Removes and returns the smallest id, or -1 when empty. */
  pop(): number {
    if (this.count === 0) return -1;
    const ids = this.ids;
    const top = ids[0] as number;
    const last = ids[--this.count] as number;
    const n = this.count;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.before(ids[r] as number, ids[l] as number)) c = r;
      const child = ids[c] as number;
      if (!this.before(child, last)) break;
      ids[i] = child;
      i = c;
    }
    if (n > 0) ids[i] = last;
    return top;
  }
}
