/**
 * A function is named whatever its platform names it, Object.prototype's
 * members included. Each such name gets its own policy entry and metrics
 * series, period after period, and nothing reaches Object.prototype.
 * Before: "__proto__" replaced the prototype of the learner's output instead
 * of getting an entry, and from the second period on the learner threw on
 * "constructor" (it found Object's `constructor` as the previous entry), so
 * the daemon kept its old policy for every function.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ownEntry } from "../../src/contracts/function-table.js";
import { policyEntryFor } from "../../src/contracts/policy.js";
import { defaultConfig } from "../../src/frontend/config.js";
import { type LearnedPolicy, learnerParams, learnPolicy } from "../../src/frontend/learner.js";
import { DaemonMetrics } from "../../src/frontend/metrics.js";
import type { InvocationRecord } from "../../src/frontend/window.js";
import { daemonOnSimulatedTime } from "./fixtures/simulated-daemon.js";
import { parsePrometheusText, sampleValue } from "./prom-parse.js";

/** Names that are members (or the accessor) of Object.prototype, and near misses. */
const PROTOTYPE_NAMES = [
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "isPrototypeOf",
  "__defineGetter__",
  " __proto__",
  "prototype",
] as const;

const prototypeKeys = () => Object.getOwnPropertyNames(Object.prototype).sort();
const keysBefore = prototypeKeys();
afterEach(() => {
  // Nothing was added to Object.prototype, and {} still has it as prototype.
  expect(prototypeKeys()).toEqual(keysBefore);
  expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  expect(({} as Record<string, unknown>).priority).toBeUndefined();
});

const PARAMS = learnerParams(defaultConfig(), 1);

describe("functions named like Object.prototype's members", () => {
  it("the learner gives each its own entry, and reads its previous one by own name only", () => {
    const records: InvocationRecord[] = PROTOTYPE_NAMES.map((fn, i) => ({
      fn,
      arrivalMs: i * 100,
      cpuMs: 10 * (i + 1),
      waitMs: 0,
      turnaroundMs: 10 * (i + 1),
    }));
    const first = learnPolicy(records, PARAMS);
    expect(Object.keys(first.functions).sort()).toEqual([...PROTOTYPE_NAMES].sort());
    PROTOTYPE_NAMES.forEach((fn, i) => {
      expect(ownEntry(first.functions, fn)?.predicted_ms).toBe(10 * (i + 1));
      expect(policyEntryFor(first, fn)).toBe(first.functions[fn]);
    });
    // The learned policy serializes every name.
    expect(Object.keys(JSON.parse(JSON.stringify(first)).functions).sort()).toEqual(
      [...PROTOTYPE_NAMES].sort(),
    );
    // A previous policy that has none of them: nothing is smoothed in from Object.prototype.
    const previous: LearnedPolicy = { ...first, functions: {} };
    const next = learnPolicy(records, PARAMS, previous);
    for (const fn of PROTOTYPE_NAMES)
      expect(ownEntry(next.functions, fn)?.explain.previous_slice_ms).toBeNull();
    // And one that has them all: each is smoothed against its own.
    const again = learnPolicy(records, PARAMS, first);
    for (const fn of PROTOTYPE_NAMES)
      expect(ownEntry(again.functions, fn)?.explain.previous_slice_ms).toBe(
        ownEntry(first.functions, fn)?.explain.slice_before_overload_ms,
      );
  });

  it("the daemon learns them period after period and exports a series for each", async () => {
    const { clock, daemon } = daemonOnSimulatedTime({ learnPeriodMs: 500 });
    const metrics = new DaemonMetrics(daemon, 50);
    daemon.start();
    try {
      // Three periods; a new name joins in each, so each period's learner
      // meets names its previous policy does not have.
      for (let period = 0; period < 3; period++) {
        for (const [i, fn] of PROTOTYPE_NAMES.entries()) {
          if (i % 3 > period) continue;
          const id = daemon.startInvocation(fn, process.pid);
          clock.advance(i + 1);
          daemon.endInvocation(id, { cpuMs: i + 1 });
        }
        clock.advance(500);
      }
      expect(daemon.status().counters.learner_errors).toBe(0);
      const policy = daemon.policy();
      expect(Object.keys(policy.functions).sort()).toEqual([...PROTOTYPE_NAMES].sort());
      const fams = parsePrometheusText(await metrics.registry.metrics());
      PROTOTYPE_NAMES.forEach((fn, i) => {
        expect(ownEntry(policy.functions, fn)?.predicted_ms).toBeCloseTo(i + 1, 9);
        expect(sampleValue(fams, "alps_invocations_total", { function: fn })).toBeGreaterThan(0);
        expect(sampleValue(fams, "alps_policy_priority", { function: fn })).toBe(
          ownEntry(policy.functions, fn)?.priority,
        );
      });
    } finally {
      daemon.stop();
    }
  });
});
