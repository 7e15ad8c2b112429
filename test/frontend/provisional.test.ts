/**
 * Provisional entries (src/frontend/provisional.ts, docs/learning.md): a
 * function without an entry of its own, with an invocation open, gets the
 * default entry with predicted = its oldest open invocation's age, at most
 * provisionalCapMs, until it is learned; the daemon and the simulated daemon
 * run the same rule.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { functionTable } from "../../src/contracts/function-table.js";
import {
  BASE_NICE,
  DEFAULT_CURVE,
  dynamicLevel,
  levelThresholdsMs,
  staticLevel,
  yieldLiftMs,
} from "../../src/contracts/levels.js";
import { emptyPolicy, type Policy, type PolicyEntry } from "../../src/contracts/policy.js";
import { realClock } from "../../src/frontend/clock.js";
import { loadConfig } from "../../src/frontend/config.js";
import { Daemon } from "../../src/frontend/daemon.js";
import { DaemonFeed } from "../../src/frontend/online.js";
import { provisionalEntries, withProvisional } from "../../src/frontend/provisional.js";
import { Ticker } from "../../src/frontend/ticker.js";
import { simulate } from "../../src/sim/index.js";
import { daemonOnSimulatedTime } from "./fixtures/simulated-daemon.js";
import { ObserveBackend } from "./observe-backend.js";

const rule = { capMs: 500, maxFunctions: 1024 };

function learnedWith(entries: Record<string, PolicyEntry>): Policy {
  const p = emptyPolicy();
  const functions = functionTable<PolicyEntry>();
  for (const [fn, e] of Object.entries(entries)) functions[fn] = e;
  return { ...p, functions };
}

describe("the provisional rule", () => {
  it("predicts the oldest open invocation's age, clamped between the default's run and the cap", () => {
    const learned = learnedWith({ known: { priority: 1, predicted_ms: 5, slice_ms: 5 } });
    const open = new Map([
      ["young", 980], // 20 ms: below the default's 50 ms, the default entry says as much
      ["mid", 700], // 300 ms
      ["old", 0], // 1000 ms: capped at 500
      ["known", 0], // learned: its own entry rules
    ]);
    const out = provisionalEntries(learned, open, 1000, rule);
    expect([...out.keys()].sort()).toEqual(["mid", "old"]);
    expect(out.get("mid")).toEqual({
      priority: 1,
      predicted_ms: 300,
      slice_ms: 20,
      provisional: true,
    });
    expect(out.get("old")?.predicted_ms).toBe(500);
    // Off.
    expect(provisionalEntries(learned, open, 1000, { ...rule, capMs: 0 }).size).toBe(0);
    // The policy map's size: the oldest first, never past maxFunctions.
    const room = provisionalEntries(learned, open, 1000, { ...rule, maxFunctions: 2 });
    expect([...room.keys()]).toEqual(["old"]);
  });

  it("never replaces an entry of its own, and leaves the learned policy as it was", () => {
    const learned = learnedWith({ known: { priority: 1, predicted_ms: 5, slice_ms: 5 } });
    const entries = new Map([
      ["known", { priority: 1, predicted_ms: 400, slice_ms: 20, provisional: true as const }],
      ["new", { priority: 1, predicted_ms: 400, slice_ms: 20, provisional: true as const }],
    ]);
    const applied = withProvisional(learned, entries);
    expect(applied.functions.known?.predicted_ms).toBe(5);
    expect(applied.functions.new).toMatchObject({ predicted_ms: 400, provisional: true });
    expect(Object.keys(learned.functions)).toEqual(["known"]);
  });

  it("never boosts more than the default entry, under any strategy, at any CPU used", () => {
    // Whatever default a policy brings and whatever the open invocation's age.
    const thresholds = levelThresholdsMs(DEFAULT_CURVE);
    const boosts: string[] = [];
    let checked = 0;
    for (const base of [
      { priority: 1, predicted_ms: 50, slice_ms: 20 },
      { priority: 7, predicted_ms: 3, slice_ms: 200 },
      { priority: 1, predicted_ms: 0, slice_ms: 0 },
    ]) {
      const learned = { ...emptyPolicy(), default: base };
      for (let age = 0; age <= 3000; age += 37) {
        const entry = provisionalEntries(learned, new Map([["f", 0]]), age, rule).get("f");
        if (entry === undefined) continue;
        checked++;
        expect(entry.priority).toBe(base.priority);
        expect(entry.slice_ms).toBe(base.slice_ms);
        expect(entry.predicted_ms).toBeGreaterThanOrEqual(base.predicted_ms);
        for (let used = 0; used <= 4000; used += 7) {
          // dynamic, with the yield bound's lift (a higher nice yields more).
          for (const bound of [0, 6]) {
            const level = (e: PolicyEntry): number => {
              const l = dynamicLevel(e.predicted_ms, used, e.slice_ms, DEFAULT_CURVE, thresholds);
              return used >= yieldLiftMs(bound, e.predicted_ms) ? Math.min(l, BASE_NICE) : l;
            };
            if (level(entry) < level(base))
              boosts.push(`${JSON.stringify(base)} age ${age} used ${used} bound ${bound}`);
          }
          // static and rt read the rank and the slice: the default's.
          if (
            staticLevel(entry.priority, used, entry.slice_ms) !==
            staticLevel(base.priority, used, base.slice_ms)
          )
            boosts.push(`static: ${JSON.stringify(base)} age ${age} used ${used}`);
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
    expect(boosts).toEqual([]);
  });
});

/** Learning on its usual periods; provisional entries re-decided every 100 ms, so the ages below are round. */
const PERIODS = {
  learnPeriodMs: 2000,
  newFunctionLearnMs: 250,
  provisionalPeriodMs: 100,
  provisionalCapMs: 500,
};

describe("the daemon's provisional entries", () => {
  it("pushes one while an unseen function's invocation is open, and the learned one replaces it", () => {
    const { backend, clock, daemon } = daemonOnSimulatedTime(PERIODS);
    daemon.start();
    const id = daemon.startInvocation("unseen", process.pid);
    clock.advance(99);
    expect(daemon.policy().functions.unseen).toBeUndefined();
    clock.advance(1); // 100 ms open: the first decision
    const first = backend.policies.at(-1);
    expect(first?.functions.unseen).toEqual({
      priority: 1,
      predicted_ms: 100,
      slice_ms: 20,
      provisional: true,
    });
    expect(daemon.policy()).toBe(first); // /v1/policy shows it, marked
    clock.advance(900); // 1000 ms open: capped
    expect(daemon.policy().functions.unseen?.predicted_ms).toBe(500);
    daemon.endInvocation(id, { cpuMs: 700 });
    // Learned at the next newFunctionLearnMs instant: its own entry, not provisional.
    clock.advance(250);
    const learned = daemon.policy().functions.unseen as PolicyEntry & { provisional?: true };
    expect(learned.predicted_ms).toBe(700);
    expect(learned.provisional).toBeUndefined();
    daemon.stop();
  });

  it("drops it when the function's invocations end, and stops its timer", () => {
    const { backend, clock, daemon } = daemonOnSimulatedTime({ ...PERIODS, minSamples: 3 });
    daemon.start();
    const a = daemon.startInvocation("f", process.pid);
    clock.advance(200);
    const b = daemon.startInvocation("f", process.pid);
    clock.advance(200);
    expect(daemon.policy().functions.f?.predicted_ms).toBe(400); // the oldest one's age
    daemon.endInvocation(a, { cpuMs: 300 });
    clock.advance(100);
    expect(daemon.policy().functions.f?.predicted_ms).toBe(300); // now b is the oldest
    daemon.endInvocation(b, { cpuMs: 300 });
    clock.advance(100);
    // Not learned yet (minSamples 3): back on the default entry.
    expect(daemon.policy().functions.f).toBeUndefined();
    const pushed = backend.policies.length;
    clock.advance(1000); // no invocation open: no timer, nothing pushed between learning runs
    expect(backend.policies.length).toBe(pushed);
    expect(clock.nextDueMs() - clock.now()).toBeGreaterThan(100);
    daemon.stop();
  });

  it("gives none when switched off (provisionalCapMs 0)", () => {
    const { clock, daemon } = daemonOnSimulatedTime({ ...PERIODS, provisionalCapMs: 0 });
    daemon.start();
    daemon.startInvocation("f", process.pid);
    clock.advance(1000);
    expect(daemon.policy().functions.f).toBeUndefined();
    daemon.stop();
  });

  it("follows a reload: off drops the entries at once, on gives them to invocations open already", () => {
    const { clock, daemon } = daemonOnSimulatedTime(PERIODS);
    daemon.start();
    daemon.startInvocation("f", process.pid);
    clock.advance(300);
    expect(daemon.policy().functions.f?.provisional).toBe(true);
    const off = daemon.reload({ ...daemon.config, provisionalCapMs: 0 });
    expect(off.applied).toEqual(["provisionalCapMs"]);
    expect(daemon.policy().functions.f).toBeUndefined();
    clock.advance(300);
    expect(daemon.policy().functions.f).toBeUndefined();
    daemon.reload({ ...daemon.config, provisionalCapMs: 200 });
    clock.advance(100);
    expect(daemon.policy().functions.f?.predicted_ms).toBe(200);
    daemon.stop();
  });

  it("keys a tenant's function as uid:name: its entry cannot reach the platform's function", () => {
    const { clock, daemon } = daemonOnSimulatedTime(PERIODS);
    daemon.start();
    daemon.startInvocation("shared", process.pid, { uid: 4242 });
    clock.advance(300);
    expect(daemon.policy().functions["4242:shared"]?.provisional).toBe(true);
    expect(daemon.policy().functions.shared).toBeUndefined();
    daemon.stop();
  });
});

describe("the provisional timer in alps daemon", () => {
  afterEach(() => vi.useRealTimers());

  it("rides the shared tick while an unseen function runs, and leaves it when none does", () => {
    vi.useFakeTimers({
      toFake: ["setInterval", "clearInterval", "setTimeout", "clearTimeout", "performance"],
    });
    // The clock src/commands/daemon.ts gives its daemon: real time, periodic work on the tick.
    const ticker = new Ticker(250);
    const daemon = new Daemon({
      backend: new ObserveBackend(),
      clock: { ...realClock, every: ticker.every },
      cores: 2,
      utilization: null,
      // The reaper rides the tick too; without it every entry added below is the provisional one.
      reap: false,
    });
    daemon.start();
    const housekeeping = ticker.size; // the learner
    expect(vi.getTimerCount()).toBe(1);
    const id = daemon.startInvocation("unseen", process.pid);
    // At the default period: an entry on the tick, no timer (no wake-up) of its own.
    expect(ticker.size).toBe(housekeeping + 1);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(250);
    expect(daemon.policy().functions.unseen?.provisional).toBe(true);
    daemon.endInvocation(id, { cpuMs: 5 });
    vi.advanceTimersByTime(250); // the next tick finds nothing open, and the early run learns it
    expect(ticker.size).toBe(housekeeping);
    expect(daemon.policy().functions.unseen?.predicted_ms).toBe(5); // learned, not provisional
    expect(daemon.policy().functions.unseen?.provisional).toBeUndefined();
    // A function with an entry of its own never puts the timer on the tick.
    daemon.startInvocation("unseen", process.pid);
    expect(ticker.size).toBe(housekeeping);
    daemon.stop();
    expect(ticker.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("the simulated daemon runs the same rule", () => {
  it("gives an unseen long function a provisional entry, and only with the rule on", () => {
    // One 2 s function alone: unseen until it completes.
    const trace = [{ fn: "long", arrivalMs: 0, durationMs: 2000, cpuMs: 2000 }];
    const run = (cap: string) => {
      const config = loadConfig({ flags: { provisionalCapMs: cap, provisionalPeriodMs: "100" } });
      const feed = new DaemonFeed(config, 1, undefined, false, trace);
      const seen: number[] = [];
      feed.daemon.onPolicy((p) => {
        const e = p.functions.long as (PolicyEntry & { provisional?: true }) | undefined;
        if (e?.provisional === true) seen.push(e.predicted_ms);
      });
      simulate(trace, {
        policy: "alps",
        cores: 1,
        alps: { feed, strategy: config.strategy, idleFrom: config.idleFromNice },
      });
      return seen;
    };
    const on = run("500");
    expect(on.slice(0, 5)).toEqual([100, 200, 300, 400, 500]);
    expect(Math.max(...on)).toBe(500);
    expect(run("0")).toEqual([]);
  });
});

describe("the policy-change log", () => {
  it("labels a provisional entry as such", async () => {
    const { describeChanges, policyChanges } = await import("../../src/frontend/policy-changes.js");
    const learned = learnedWith({ known: { priority: 1, predicted_ms: 5, slice_ms: 5 } });
    const next = withProvisional(
      learned,
      provisionalEntries(learned, new Map([["new", 0]]), 300, rule),
    );
    const line = describeChanges(policyChanges(learned, next));
    expect(line).toBe("2 functions; added new #1 (provisional)");
  });
});

describe("alps policy", () => {
  it("says which entries are provisional", async () => {
    const { formatPolicy } = await import("../../src/commands/policy.js");
    const learned = learnedWith({ known: { priority: 1, predicted_ms: 5, slice_ms: 5 } });
    const shown = formatPolicy(
      withProvisional(learned, provisionalEntries(learned, new Map([["new", 0]]), 300, rule)),
    );
    expect(shown).toMatch(/^1\tnew\t300\t20\t-\t-\tprovisional: /m);
    expect(shown).not.toMatch(/^1\tknown.*provisional/m);
  });
});
