/**
 * A binary min-heap of invocation ids (dense ints) ordered by a key the
 * caller keeps in a Float64Array, ties broken by the smaller id (= earlier
 * arrival, since ids are trace positions). Storage is typed arrays that
 * double when full (a queue is usually far shorter than the trace, so they
 * start small): no allocation per push/pop in the simulator's hot loops.
 * A key must not change while its id is in the heap: the heap keeps a copy
 * of each key beside its id, so sifting compares neighbouring memory instead
 * of looking keys up all over the caller's array.
 */
export class IdHeap {
  private ids: Int32Array;
  private heapKeys: Float64Array;
  /** How many ids are in the heap. A field, not a getter: read once per event. Do not assign. */
  size = 0;

  /** `capacity`: the most ids the heap will hold at once (it grows towards that as needed). */
  constructor(
    private readonly capacity: number,
    private readonly keys: Float64Array,
  ) {
    const initial = Math.max(Math.min(capacity, 64), 1);
    this.ids = new Int32Array(initial);
    this.heapKeys = new Float64Array(initial);
  }

  #grow(): void {
    const size = Math.min(this.ids.length * 2, this.capacity);
    const ids = new Int32Array(size);
    ids.set(this.ids);
    const heapKeys = new Float64Array(size);
    heapKeys.set(this.heapKeys);
    this.ids = ids;
    this.heapKeys = heapKeys;
  }

  /** Smallest id, or -1 when empty. */
  peek(): number {
    return this.size === 0 ? -1 : (this.ids[0] as number);
  }

  push(id: number): void {
    if (this.size === this.ids.length) this.#grow();
    const ids = this.ids;
    const hk = this.heapKeys;
    const key = this.keys[id] as number;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pk = hk[parent] as number;
      const p = ids[parent] as number;
      // Stop unless (key, id) comes before (pk, p).
      if (!(key < pk || (key === pk && id < p))) break;
      ids[i] = p;
      hk[i] = pk;
      i = parent;
    }
    ids[i] = id;
    hk[i] = key;
  }

  /** Removes and returns the smallest id, or -1 when empty. */
  pop(): number {
    if (this.size === 0) return -1;
    const ids = this.ids;
    const hk = this.heapKeys;
    const top = ids[0] as number;
    const n = --this.size;
    const last = ids[n] as number;
    const lastKey = hk[n] as number;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l;
      let ck = hk[l] as number;
      let cid = ids[l] as number;
      const r = l + 1;
      if (r < n) {
        const rk = hk[r] as number;
        const rid = ids[r] as number;
        if (rk < ck || (rk === ck && rid < cid)) {
          c = r;
          ck = rk;
          cid = rid;
        }
      }
      // Stop unless the child comes before the moved element.
      if (!(ck < lastKey || (ck === lastKey && cid < last))) break;
      ids[i] = cid;
      hk[i] = ck;
      i = c;
    }
    if (n > 0) {
      ids[i] = last;
      hk[i] = lastKey;
    }
    return top;
  }
}
