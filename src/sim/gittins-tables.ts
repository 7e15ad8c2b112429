/**
 * Each invocation's Gittins level table (src/contracts/gittins.ts) under the
 * policy in force: its function's, from the runs the policy was learned from
 * (PolicyFeed.runSamples), as a learner would emit it with the policy. A
 * function without an entry of its own, or whose samples the feed does not
 * give, gets a one-point distribution at its entry's predicted run, which is
 * strategy `dynamic`'s levels exactly.
 */
import { ownEntry } from "../contracts/function-table.js";
import {
  gittinsLevelTable,
  type LevelTable,
  RunDistribution,
  type TableResolution,
} from "../contracts/gittins.js";
import type { LevelCurve } from "../contracts/levels.js";
import type { Policy } from "../contracts/policy.js";
import type { PolicyEntries } from "./entries.js";
import type { JobTable } from "./jobs.js";
import type { PolicyFeed } from "./types.js";

export class GittinsTables {
  readonly #cache = new Map<string, LevelTable>();
  #policy: Policy | undefined;
  #curve: LevelCurve | undefined;
  /** Tables built, and the entries they held in all (what a BPF map would carry). */
  built = 0;
  entries = 0;
  longest = 0;

  constructor(
    private readonly jobs: JobTable,
    private readonly policyEntries: PolicyEntries,
    private readonly feed: PolicyFeed,
    private readonly resolution: TableResolution,
    /** False: one point at the entry's predicted run for every function (`dynamic`'s levels). */
    private readonly fromRuns = true,
  ) {}

  /** Invocation j's table under the policy its entry came from and `curve`. */
  tableOf(j: number, curve: LevelCurve): LevelTable {
    const policy = this.policyEntries.policy;
    if (policy !== this.#policy || curve !== this.#curve) {
      this.#cache.clear();
      this.#policy = policy;
      this.#curve = curve;
    }
    const fn = this.jobs.fnAt(j);
    let table = this.#cache.get(fn);
    if (table === undefined) {
      const own = ownEntry(policy.functions, fn) !== undefined;
      const samples = own && this.fromRuns ? this.feed.runSamples?.(fn) : undefined;
      const runs =
        samples !== undefined && samples.length > 0
          ? samples
          : [this.policyEntries.predicted[j] as number];
      table = gittinsLevelTable(new RunDistribution(runs), curve, this.resolution);
      this.#cache.set(fn, table);
      this.built++;
      this.entries += table.fromMs.length;
      this.longest = Math.max(this.longest, table.fromMs.length);
    }
    return table;
  }
}
