/**
 * Each invocation's policy entry (its function's, else the default), as the
 * typed arrays the alps engines read. A fixed policy fills them at once; a
 * policy that changes during the run (PolicyFeed) fills each invocation's as
 * it arrives, and again for the running ones when the policy changes.
 */
import { ownEntry } from "../contracts/function-table.js";
import type { Policy, PolicyEntry } from "../contracts/policy.js";
import type { JobTable } from "./jobs.js";

/**
 * The policy schema (contracts/policy.ts) already demands this; the
 * simulator checks again because a caller may hand it an object that never
 * went through the schema, and a priority below 1 or a NaN would stall the
 * event loop instead of failing.
 */
function checkEntry(fn: string, e: PolicyEntry): void {
  if (!(Number.isInteger(e.priority) && e.priority >= 1))
    throw new RangeError(
      `policy entry of '${fn}': priority must be an integer >= 1, got ${e.priority}`,
    );
  if (!(e.predicted_ms >= 0 && Number.isFinite(e.predicted_ms)))
    throw new RangeError(
      `policy entry of '${fn}': predicted_ms must be finite and >= 0, got ${e.predicted_ms}`,
    );
  if (!(e.slice_ms >= 0))
    throw new RangeError(`policy entry of '${fn}': slice_ms must be >= 0, got ${e.slice_ms}`);
}

export class PolicyEntries {
  readonly predicted: Float64Array;
  readonly slice: Float64Array;
  readonly priority: Float64Array;
  /** 1 when the invocation's function has no entry of its own (it takes the default). */
  readonly unseen: Uint8Array;
  readonly #jobs: JobTable;
  #policy: Policy;
  readonly #cache = new Map<string, { entry: PolicyEntry; unseen: boolean }>();

  constructor(jobs: JobTable, policy: Policy) {
    this.#jobs = jobs;
    this.#policy = policy;
    this.predicted = new Float64Array(jobs.n);
    this.slice = new Float64Array(jobs.n);
    this.priority = new Float64Array(jobs.n);
    this.unseen = new Uint8Array(jobs.n);
  }

  get policy(): Policy {
    return this.#policy;
  }

  /** From now on, entries come from `policy`. */
  use(policy: Policy): void {
    this.#policy = policy;
    this.#cache.clear();
  }

  /** Invocation j's entry from the policy in force. */
  assign(j: number): void {
    const fn = this.#jobs.fnAt(j);
    let cached = this.#cache.get(fn);
    if (cached === undefined) {
      // Own properties only: a function named "constructor" must not find Object's.
      // (Not policyEntryFor: importing contracts/policy.js loads zod, which the
      // simulator must not pay for at CLI start-up.)
      const own = ownEntry(this.#policy.functions, fn);
      const entry = own ?? this.#policy.default;
      checkEntry(fn, entry);
      cached = { entry, unseen: own === undefined };
      this.#cache.set(fn, cached);
    }
    const entry = cached.entry;
    this.unseen[j] = cached.unseen ? 1 : 0;
    this.predicted[j] = entry.predicted_ms;
    this.slice[j] = entry.slice_ms;
    this.priority[j] = entry.priority;
  }

  assignAll(): this {
    for (let j = 0; j < this.#jobs.n; j++) this.assign(j);
    return this;
  }
}
