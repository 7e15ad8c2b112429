/**
 * Sandboxes as scheduling groups. The fair class shares the cores among the
 * entities of one group by weight; a cpu cgroup is one such entity for its
 * parent, and shares what it gets among its own tasks. So when the
 * invocations of a function share one sandbox (one cgroup), they share one
 * weight: alps writes its most urgent member's level on the group, and the
 * members' own levels order them inside it.
 *
 * Modelled fluidly, like the engines that use it: each group gets cores in
 * proportion to its weight, never more than one core per runnable member;
 * inside, members get the group's share in proportion to their weights,
 * never more than one core each.
 */

/**
 * Water-filling: shares `capacity` among `count` entries in proportion to
 * `weight`, none above its `cap`. Entries that would exceed their cap get
 * exactly it; the rest share what is left. `order` is scratch space.
 */
export function waterFill(
  capacity: number,
  count: number,
  weight: ArrayLike<number>,
  cap: ArrayLike<number>,
  out: Float64Array,
  order: Int32Array,
): void {
  let total = 0;
  for (let i = 0; i < count; i++) {
    order[i] = i;
    total += weight[i] as number;
  }
  // Saturation is monotone in weight per unit of cap: heaviest first.
  const ord = order.subarray(0, count);
  ord.sort(
    (a, b) =>
      (weight[b] as number) / (cap[b] as number) - (weight[a] as number) / (cap[a] as number),
  );
  let free = capacity;
  let at = 0;
  for (; at < count; at++) {
    const i = ord[at] as number;
    const w = weight[i] as number;
    const c = cap[i] as number;
    if (free * w < c * total) break;
    out[i] = c;
    free -= c;
    total -= w;
  }
  for (; at < count; at++) {
    const i = ord[at] as number;
    out[i] = total > 0 ? (free * (weight[i] as number)) / total : 0;
  }
}

/**
 * Rates of the `k` active jobs `active[0..k)` on `cores`, grouped by
 * `groupOf[job]`: a group weighs its heaviest member's weight.
 * Writes each job's rate (cores it gets, ≤ 1) into `rate[job]`.
 */
export class GroupRates {
  readonly #groupOf: Int32Array;
  /** Per group: slot in the per-call arrays (−1 when not active this call). */
  readonly #slot: Int32Array;
  #groupIds: Int32Array;
  #groupWeight: Float64Array;
  #groupCap: Float64Array;
  #groupShare: Float64Array;
  #order: Int32Array;
  #memberWeight: Float64Array;
  #memberCap: Float64Array;
  #memberShare: Float64Array;

  constructor(groupOf: Int32Array, groups: number, jobs: number) {
    this.#groupOf = groupOf;
    this.#slot = new Int32Array(groups).fill(-1);
    this.#groupIds = new Int32Array(groups);
    this.#groupWeight = new Float64Array(groups);
    this.#groupCap = new Float64Array(groups);
    this.#groupShare = new Float64Array(groups);
    this.#order = new Int32Array(Math.max(groups, jobs));
    this.#memberWeight = new Float64Array(jobs);
    this.#memberCap = new Float64Array(jobs).fill(1);
    this.#memberShare = new Float64Array(jobs);
  }

  compute(
    active: Int32Array,
    k: number,
    cores: number,
    weightOf: (job: number) => number,
    rate: Float64Array,
  ): void {
    let g = 0;
    for (let a = 0; a < k; a++) {
      const j = active[a] as number;
      const id = this.#groupOf[j] as number;
      let s = this.#slot[id] as number;
      if (s < 0) {
        s = g++;
        this.#slot[id] = s;
        this.#groupIds[s] = id;
        this.#groupWeight[s] = 0;
        this.#groupCap[s] = 0;
      }
      this.#groupCap[s] = (this.#groupCap[s] as number) + 1;
      const w = weightOf(j);
      if (w > (this.#groupWeight[s] as number)) this.#groupWeight[s] = w;
    }
    waterFill(cores, g, this.#groupWeight, this.#groupCap, this.#groupShare, this.#order);
    // Members of each group, by group: a pass per group over the active set
    // would be O(k·g); collect them once instead.
    const members: number[][] = Array.from({ length: g }, () => []);
    for (let a = 0; a < k; a++) {
      const j = active[a] as number;
      (members[this.#slot[this.#groupOf[j] as number] as number] as number[]).push(j);
    }
    for (let s = 0; s < g; s++) {
      const list = members[s] as number[];
      for (let m = 0; m < list.length; m++) this.#memberWeight[m] = weightOf(list[m] as number);
      waterFill(
        this.#groupShare[s] as number,
        list.length,
        this.#memberWeight,
        this.#memberCap,
        this.#memberShare,
        this.#order,
      );
      for (let m = 0; m < list.length; m++)
        rate[list[m] as number] = this.#memberShare[m] as number;
      this.#slot[this.#groupIds[s] as number] = -1;
    }
  }
}
