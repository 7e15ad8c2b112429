/**
 * `simulate`: checks options, builds the shared invocation table, runs the
 * chosen policy's engine and summarizes.
 */
import { EXACT } from "../contracts/gittins.js";
import {
  curveForPolicy,
  curveWithStep,
  DEFAULT_CURVE,
  DEFAULT_IDLE_FROM,
  DEFAULT_YIELD_BOUND,
  type LevelCurve,
} from "../contracts/levels.js";
import type { Policy } from "../contracts/policy.js";
import { PolicyEntries } from "./entries.js";
import { type FairParams, runFair } from "./fair.js";
import { runFifo } from "./fifo.js";
import { GittinsTables } from "./gittins-tables.js";
import { JobTable, type SimInput } from "./jobs.js";
import { summarizeColumns } from "./metrics.js";
import { runPriority } from "./priority.js";
import { runPs } from "./ps.js";
import type { AlpsOptions, EngineResult, SimOptions, SimResult } from "./types.js";
import { runWeighted } from "./weighted.js";

/** A finite, non-negative number option, or its default. */
function nonNegative(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!(Number.isFinite(v) && v >= 0))
    throw new RangeError(`${name} must be a finite number >= 0, got ${v}`);
  return v;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = nonNegative(name, value, fallback);
  if (v === 0) throw new RangeError(`${name} must be > 0`);
  return v;
}

function fairParams(opts: SimOptions): FairParams {
  return {
    baseSliceMs: positive("cfs.baseSliceMs", opts.cfs?.baseSliceMs, 3),
    switchCostMs: nonNegative("cfs.switchCostMs", opts.cfs?.switchCostMs, 0),
  };
}

function alpsOptions(opts: SimOptions): AlpsOptions {
  if (opts.alps === undefined)
    throw new RangeError(`policy ${opts.policy} needs alps.policy (a policy JSON) or alps.feed`);
  return opts.alps;
}

/** A fixed policy's entries, filled at once; a feed's, filled as invocations arrive. */
function entriesFor(jobs: JobTable, alps: AlpsOptions): PolicyEntries {
  if (alps.feed !== undefined) return new PolicyEntries(jobs, alps.feed.initial);
  return new PolicyEntries(jobs, alps.policy).assignAll();
}

/** One sandbox per function: each invocation's group is its function's index. */
function sandboxesOf(jobs: JobTable): { of: Int32Array; count: number } {
  const of = new Int32Array(jobs.n);
  const ids = new Map<string, number>();
  for (let i = 0; i < jobs.n; i++) {
    const fn = jobs.fnAt(i);
    let id = ids.get(fn);
    if (id === undefined) {
      id = ids.size;
      ids.set(fn, id);
    }
    of[i] = id;
  }
  return { of, count: ids.size };
}

function runEngine(jobs: JobTable, opts: SimOptions): EngineResult {
  const cores = opts.cores;
  const perFunction = opts.sandboxes === "function";
  if (perFunction && !(opts.policy === "ps" || opts.policy === "alps"))
    throw new RangeError(
      `sandboxes "function" is modelled by the ps and alps policies only, not ${opts.policy}`,
    );
  switch (opts.policy) {
    case "ps":
      if (perFunction) {
        // Processor sharing among sandboxes: every one at the same weight, its
        // members sharing its part; the weighted engine with a flat plan.
        const flat = new Float64Array(jobs.n);
        return runWeighted(jobs, cores, {
          strategy: "static",
          curve: DEFAULT_CURVE,
          idleFrom: DEFAULT_IDLE_FROM,
          predicted: flat,
          slice: flat,
          priority: flat.map(() => 1),
          sandbox: sandboxesOf(jobs),
        });
      }
      return runPs(jobs, cores);
    case "fifo":
      return runFifo(jobs, cores);
    case "srpt":
      return runPriority(jobs, cores, nonNegative("quantumMs", opts.quantumMs, 0));
    case "cfs":
      return runFair(jobs, cores, fairParams(opts), { kind: "none" });
    case "sfs": {
      const recomputeEvery = positive("sfs.recomputeEvery", opts.sfs?.recomputeEvery, 100);
      if (!Number.isInteger(recomputeEvery))
        throw new RangeError("sfs.recomputeEvery must be an integer");
      return runFair(jobs, cores, fairParams(opts), {
        kind: "sfs",
        initialSliceMs: positive("sfs.initialSliceMs", opts.sfs?.initialSliceMs, 20),
        floorMs: nonNegative("sfs.floorMs", opts.sfs?.floorMs, 6),
        recomputeEvery,
        overloadSlices: nonNegative("sfs.overloadSlices", opts.sfs?.overloadSlices, 3),
      });
    }
    case "alps": {
      const alps = alpsOptions(opts);
      const entries = entriesFor(jobs, alps);
      const strategy = alps.strategy ?? "dynamic";
      const feed = alps.feed;
      if (strategy === "rt") {
        if (perFunction)
          throw new RangeError(
            'sandboxes "function" is not modelled for strategy rt (real-time levels ignore groups)',
          );
        return runFair(jobs, cores, fairParams(opts), {
          kind: "levels",
          priority: entries.priority,
          budget: entries.slice,
          ...(feed === undefined ? {} : { online: { feed, entries } }),
        });
      }
      const base = curveWithStep(alps.levelStep);
      const curveOf = (policy: Policy) => alps.curve ?? curveForPolicy(policy, base);
      const gittins = alps.gittins;
      if (alps.overrun !== undefined && (strategy !== "dynamic" || gittins !== undefined))
        throw new RangeError("an overrun rule applies to strategy dynamic without Gittins levels");
      if (gittins !== undefined && strategy !== "dynamic")
        throw new RangeError(`Gittins remaining time applies to strategy dynamic, not ${strategy}`);
      if (gittins !== undefined && feed?.runSamples === undefined)
        throw new RangeError(
          "Gittins remaining time needs the learner's run samples: a feed that learns online (a policy file has none)",
        );
      const tables =
        gittins === undefined || feed === undefined
          ? undefined
          : new GittinsTables(
              jobs,
              entries,
              feed,
              gittins.resolution ?? EXACT,
              gittins.from !== "mean",
            );
      return runWeighted(jobs, cores, {
        strategy,
        curve: curveOf(entries.policy),
        idleFrom: alps.idleFrom ?? DEFAULT_IDLE_FROM,
        yieldBound: alps.yieldBound ?? DEFAULT_YIELD_BOUND,
        predicted: entries.predicted,
        slice: entries.slice,
        priority: entries.priority,
        ...(alps.overrun === undefined ? {} : { overrun: alps.overrun, unseen: entries.unseen }),
        ...(alps.floor === undefined ? {} : { floor: alps.floor }),
        ...(feed === undefined ? {} : { online: { feed, entries, curveOf } }),
        ...(perFunction ? { sandbox: sandboxesOf(jobs) } : {}),
        ...(tables === undefined
          ? {}
          : {
              gittins: {
                tableOf: (j: number, curve: LevelCurve) => tables.tableOf(j, curve),
                slice: gittins?.slice ?? true,
              },
            }),
      });
    }
    case "alps-ideal": {
      const alps = alpsOptions(opts);
      if (alps.feed !== undefined)
        throw new RangeError("alps-ideal takes a fixed policy (alps.policy), not a feed");
      const entries = entriesFor(jobs, alps);
      return runPriority(jobs, cores, 0, { offset: entries.predicted, demoteAt: entries.slice });
    }
    default: {
      const unknown: never = opts.policy;
      throw new RangeError(`unknown policy ${String(unknown)}`);
    }
  }
}

/**
 * Runs `opts.policy` over `trace`: invocation objects, or the columns
 * `readTraceColumns` gives (the CLI's path: no object per invocation).
 */
export function simulate(trace: SimInput, opts: SimOptions): SimResult {
  if (!(Number.isInteger(opts.cores) && opts.cores >= 1)) {
    throw new RangeError(`cores must be an integer >= 1, got ${opts.cores}`);
  }
  const jobs = new JobTable(trace, opts.recordRuns === true);
  const { contextSwitches } = runEngine(jobs, opts);
  const completion = jobs.completions();
  const outcomes = opts.keepOutcomes === false ? [] : jobs.outcomes(completion);
  const cols = {
    arrival: jobs.arrival,
    duration: jobs.duration,
    completion,
    firstStart: jobs.firstStart,
  };
  const summary = summarizeColumns(cols, {
    cores: opts.cores,
    label: { policy: opts.policy },
    contextSwitches,
  });
  return { outcomes, summary, contextSwitches };
}
