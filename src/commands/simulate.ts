/**
 * `alps simulate`: the simulator over a native trace, no processes. One
 * policy (`--policy`), or several side by side (`--compare cfs,srpt,alps`:
 * the table `alps replay` prints). `alps` without `--policy-file` learns
 * online from the trace as the daemon would (src/frontend/online.ts), with
 * the daemon's options: its flags, ALPS_* variables and `--config` file. A
 * policy file pins one policy.
 *
 * Start-up: only flag declarations load; the trace reader and the simulator
 * load when the command runs, and the daemon's options (zod, the learner)
 * only when the arguments may simulate alps, so `alps simulate --policy
 * srpt` starts as fast as before.
 */
import { type Command, Option } from "commander";
import type { Summary } from "../contracts/summary.js";
import { InputError, UsageError } from "../errors.js";
import type { DaemonConfig } from "../frontend/config.js";
import type { OnlineRun } from "../frontend/online.js";
import type { GittinsOptions, SimPolicyName, SimResult } from "../sim/index.js";
import {
  choiceFlag,
  choiceListFlag,
  numberFlag,
  optionalChoiceFlag,
  optionalNumberFlag,
  required,
} from "./flag-values.js";

interface SimulateFlags {
  trace: string;
  policy?: string;
  compare?: string;
  cores: string;
  quantumMs?: string;
  policyFile?: string;
  strategy?: string;
  niceFloor?: string;
  baseSliceMs?: string;
  switchCostMs?: string;
  sfsInitialSliceMs?: string;
  sfsFloorMs?: string;
  sfsRecomputeEvery?: string;
  sandboxes?: string;
  json?: boolean;
  /** The daemon's config file (learning options). */
  config?: string;
  remaining?: string;
  gittinsGrid?: string;
  gittinsSlice?: string;
  gittinsFrom?: string;
}

const LEARNING_GROUP =
  "Learning online (alps without --policy-file), the daemon's options (docs/config.md):";

/** The daemon's options that shape levels, not learning: they apply to alps with a policy file too. */
const LEVEL_KEYS = ["idleFromNice", "yieldBound", "levelStep"] as const;
function isLevelKey(key: string): boolean {
  return (LEVEL_KEYS as readonly string[]).includes(key);
}

/** Reads the trace; a file that cannot be opened is bad input naming the file, not a crash. */
function readTrace<T>(read: (path: string) => T, file: string): T {
  try {
    return read(file);
  } catch (error) {
    if (error instanceof InputError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === "string")
      throw new InputError(file, undefined, undefined, `cannot read trace: ${code}`);
    throw error;
  }
}

/** A flag's value in argv (`--x v` or `--x=v`), before commander has parsed anything. */
function argValue(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  if (i >= 0) return argv[i + 1];
  return argv.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
}

/** Whether these arguments may simulate alps (or ask for help): then the learning options exist. */
function mayLearn(argv: readonly string[]): boolean {
  const policy = argValue(argv, "--policy");
  const compare = argValue(argv, "--compare");
  if (policy === undefined && compare === undefined) return true;
  return (
    policy === "alps" ||
    (compare ?? "")
      .split(",")
      .map((s) => s.trim())
      .includes("alps")
  );
}

async function addLearningOptions(cmd: Command): Promise<void> {
  const [{ configOption }, { ONLINE_KEYS }] = await Promise.all([
    import("./config-option.js"),
    import("../frontend/online.js"),
  ]);
  cmd.addOption(
    new Option(
      "--config <file>",
      "a daemon config file (JSON or YAML): its learning options apply (env: ALPS_CONFIG)",
    ).helpGroup(LEARNING_GROUP),
  );
  // --strategy and --quantum-ms are the simulator's own flags, with the same meaning;
  // --idle-from-nice, --yield-bound and --level-step apply to alps with a policy file too.
  for (const key of LEVEL_KEYS) cmd.addOption(configOption(key));
  for (const key of ONLINE_KEYS)
    if (key !== "strategy" && key !== "quantumMs" && !isLevelKey(key))
      cmd.addOption(configOption(key).helpGroup(LEARNING_GROUP));
}

export async function registerSimulate(program: Command): Promise<void> {
  const cmd = program
    .command("simulate")
    .description(
      "simulate scheduling policies over a native trace (no processes); alps learns online as the daemon would",
    )
    .requiredOption(
      "--trace <file>",
      "native trace CSV (arrival_ms,function,duration_ms[,cpu_ms][,app])",
    )
    .option("--policy <name>", "ps | cfs | fifo | srpt | sfs | alps | alps-ideal")
    .option(
      "--compare <list>",
      "several policies side by side, e.g. cfs,srpt,alps: the table `alps replay` prints",
    )
    .option("--cores <n>", "number of identical cores", "1")
    .option(
      "--quantum-ms <ms>",
      "srpt: minimum run before preemption (default 0); alps learning: the learner's SRPT quantum (default 8)",
    )
    .option(
      "--policy-file <file>",
      "alps: apply this policy JSON (docs/formats.md) instead of learning; alps-ideal: required",
    )
    .option("--strategy <s>", "alps: dynamic | static | rt (default dynamic)")
    .option(
      "--nice-floor <n>",
      "alps with --policy-file: no level below this nice, as the daemon holds a caller that is not root (0 = no boost)",
    )
    .option("--base-slice-ms <ms>", "cfs/sfs/alps rt: fair-class base slice (default 3)")
    .option("--switch-cost-ms <ms>", "cfs/sfs/alps rt: cost of each context switch (default 0)")
    .option(
      "--sfs-initial-slice-ms <ms>",
      "sfs: FILTER slice before the first recompute (default 20)",
    )
    .option("--sfs-floor-ms <ms>", "sfs: smallest FILTER slice (default 6)")
    .option("--sfs-recompute-every <n>", "sfs: recompute the slice every n arrivals (default 100)")
    .option(
      "--sandboxes <layout>",
      "ps, alps: invocation (each its own sandbox; default) | function (one sandbox per function, one weight shared by its concurrent invocations)",
    )
    .option("--json", "print the summary object (with --compare: the comparison) as JSON")
    .option(
      "--remaining <rule>",
      "alps learning online, strategy dynamic: the remaining time a level comes from: mean (predicted − used, the daemon's) | gittins (1/Gittins index of the function's learned runs given the CPU used; simulator only) (default mean)",
    )
    .option(
      "--gittins-grid <ratio>",
      "--remaining gittins: level table only at attained times 0, 1 ms, ratio ms, ratio² ms… (default: exact, a breakpoint wherever the level changes)",
    )
    .option(
      "--gittins-from <d>",
      "--remaining gittins: the distribution: runs (the learned runs; default) | mean (one point at the predicted run: --remaining mean's levels through the table, a reference)",
    )
    .option(
      "--gittins-slice <bool>",
      "--remaining gittins: past its slice an invocation is never below nice 0, as under mean (true or false, default true)",
    );
  if (mayLearn(process.argv)) await addLearningOptions(cmd);
  cmd.action(async (flags: SimulateFlags & Record<string, unknown>) => {
    await runSimulateCommand(flags);
  });
}

/** Which policies, checked against each other and against the flags that apply to some only. */
function choosePolicies(flags: SimulateFlags, all: readonly SimPolicyName[]): SimPolicyName[] {
  if (flags.policy !== undefined && flags.compare !== undefined)
    throw new UsageError("--policy and --compare: give one of them");
  const policies =
    flags.compare !== undefined
      ? choiceListFlag("--compare", flags.compare, all)
      : [choiceFlag("--policy", required("--policy", flags.policy, "or --compare"), all)];
  const has = (p: SimPolicyName) => policies.includes(p);
  const learning = has("alps") && flags.policyFile === undefined;
  if (flags.strategy !== undefined && !has("alps"))
    throw new UsageError("--strategy applies to --policy alps only");
  if (flags.quantumMs !== undefined && !has("srpt") && !learning)
    throw new UsageError(
      "--quantum-ms applies to --policy srpt, and to alps learning online (the learner's SRPT quantum) only",
    );
  if (has("alps-ideal") && flags.policyFile === undefined)
    throw new UsageError("--policy alps-ideal needs --policy-file (a policy JSON)");
  if (flags.policyFile !== undefined && !has("alps") && !has("alps-ideal"))
    throw new UsageError("--policy-file applies to --policy alps and alps-ideal only");
  if (flags.niceFloor !== undefined && (!has("alps") || flags.policyFile === undefined))
    throw new UsageError("--nice-floor applies to --policy alps with --policy-file only");
  if (flags.niceFloor !== undefined && flags.strategy === "rt")
    throw new UsageError("--nice-floor applies to strategies dynamic and static (rt has no nice)");
  const gittins = flags.remaining === "gittins";
  if (flags.remaining !== undefined && !learning)
    throw new UsageError(
      "--remaining applies to --policy alps learning online (without --policy-file) only",
    );
  if (gittins && flags.strategy !== undefined && flags.strategy !== "dynamic")
    throw new UsageError("--remaining gittins applies to strategy dynamic only");
  if (
    (flags.gittinsGrid !== undefined ||
      flags.gittinsSlice !== undefined ||
      flags.gittinsFrom !== undefined) &&
    !gittins
  )
    throw new UsageError(
      "--gittins-grid, --gittins-from and --gittins-slice apply to --remaining gittins only",
    );
  if (flags.sandboxes === "function" && !has("ps") && !has("alps"))
    throw new UsageError("--sandboxes function is modelled for --policy ps and alps only");
  return policies;
}

/**
 * The daemon's options for alps: flags, ALPS_* variables and the config file
 * as the daemon reads them (only the keys a simulated daemon uses). A
 * learning option without learning is refused, not ignored.
 */
async function daemonConfig(
  flags: SimulateFlags & Record<string, unknown>,
  learning: boolean,
): Promise<DaemonConfig> {
  const [{ loadConfig, envName, flagName }, { ONLINE_KEYS }, { configFlags }] = await Promise.all([
    import("../frontend/config.js"),
    import("../frontend/online.js"),
    import("./config-option.js"),
  ]);
  // --strategy and --quantum-ms are the simulator's own flags (checked in choosePolicies).
  const given = configFlags(
    flags,
    ONLINE_KEYS.filter((k) => k !== "strategy" && k !== "quantumMs"),
  );
  const learningOnly = Object.keys(given).filter((k) => !isLevelKey(k));
  if (!learning && learningOnly.length > 0)
    throw new UsageError(
      `--${flagName(learningOnly[0] as (typeof ONLINE_KEYS)[number])} applies to alps learning online (without --policy-file) only`,
    );
  const configFile = flags.config ?? (process.env.ALPS_CONFIG || undefined);
  if (!learning && flags.config !== undefined)
    throw new UsageError("--config applies to alps learning online (without --policy-file) only");
  const env: NodeJS.ProcessEnv = {};
  for (const key of ONLINE_KEYS) env[envName(key)] = process.env[envName(key)];
  return loadConfig({
    ...(learning && configFile !== undefined ? { configFile } : {}),
    env: learning ? env : {},
    flags: {
      ...given,
      ...(flags.strategy !== undefined ? { strategy: flags.strategy } : {}),
      ...(learning && flags.quantumMs !== undefined ? { quantumMs: flags.quantumMs } : {}),
    },
  });
}

interface PolicyRun {
  policy: SimPolicyName;
  result: SimResult;
  /** alps learned online: what the daemon did. */
  online?: OnlineRun;
  /** alps with --remaining gittins. */
  gittins?: boolean;
}

async function runSimulateCommand(flags: SimulateFlags & Record<string, unknown>): Promise<void> {
  // Loaded together: module loading is a fair share of a short run.
  const [{ SIM_POLICIES, SANDBOX_LAYOUTS, simulate }, { STRATEGIES }, { readTraceColumns }] =
    await Promise.all([
      import("../sim/index.js"),
      import("../contracts/levels.js"),
      import("../trace/native.js"),
    ]);
  const policies = choosePolicies(flags, SIM_POLICIES);
  if (flags.strategy !== undefined) choiceFlag("--strategy", flags.strategy, STRATEGIES);
  const sandboxes =
    flags.sandboxes === undefined
      ? undefined
      : choiceFlag("--sandboxes", flags.sandboxes, SANDBOX_LAYOUTS);
  // Sandboxes per function are modelled by ps and alps; beside them the others run as always.
  const sandboxesOf = (policy: SimPolicyName) =>
    sandboxes !== undefined && (policy === "ps" || policy === "alps") ? { sandboxes } : {};
  const learning = policies.includes("alps") && flags.policyFile === undefined;
  const comparing = flags.compare !== undefined;

  const cores = numberFlag("--cores", flags.cores, { integer: true, min: 1 });
  const quantumMs = optionalNumberFlag("--quantum-ms", flags.quantumMs, { min: 0 });
  const baseSliceMs = optionalNumberFlag("--base-slice-ms", flags.baseSliceMs, { above: 0 });
  const switchCostMs = optionalNumberFlag("--switch-cost-ms", flags.switchCostMs, { min: 0 });
  const initialSliceMs = optionalNumberFlag("--sfs-initial-slice-ms", flags.sfsInitialSliceMs, {
    above: 0,
  });
  const floorMs = optionalNumberFlag("--sfs-floor-ms", flags.sfsFloorMs, { min: 0 });
  const recomputeEvery = optionalNumberFlag("--sfs-recompute-every", flags.sfsRecomputeEvery, {
    integer: true,
    min: 1,
  });

  const config = policies.includes("alps") ? await daemonConfig(flags, learning) : undefined;
  const niceFloor = optionalNumberFlag("--nice-floor", flags.niceFloor, {
    min: -20,
    integer: true,
  });
  if (niceFloor !== undefined && niceFloor > 19)
    throw new UsageError(`--nice-floor: expected an integer from -20 to 19, got ${niceFloor}`);
  const alpsPolicy =
    flags.policyFile === undefined
      ? undefined
      : (await import("../frontend/policy-file.js")).readPolicyFile(flags.policyFile);
  const gittins = gittinsOptions(flags);
  const online = learning ? await import("../frontend/online.js") : undefined;
  // Columns, not an object per invocation: the simulator reads them as they are.
  const trace = readTrace(readTraceColumns, flags.trace);

  const runs: PolicyRun[] = policies.map((policy): PolicyRun => {
    if (policy === "alps" && online !== undefined && config !== undefined) {
      const run = online.simulateOnline(trace, config, {
        cores,
        keepOutcomes: comparing,
        ...sandboxesOf(policy),
        ...(gittins === undefined ? {} : { gittins }),
        log: (m) => process.stderr.write(`alps simulate: learning: ${m}\n`),
      });
      return { policy, result: run.result, online: run, gittins: gittins !== undefined };
    }
    const alps =
      alpsPolicy === undefined
        ? undefined
        : {
            policy: alpsPolicy,
            strategy: config?.strategy,
            ...(config === undefined
              ? {}
              : {
                  idleFrom: config.idleFromNice,
                  yieldBound: config.yieldBound,
                  levelStep: config.levelStep,
                }),
            ...(niceFloor === undefined ? {} : { floor: niceFloor }),
          };
    const result = simulate(trace, {
      policy,
      cores,
      quantumMs: policy === "srpt" ? quantumMs : undefined,
      cfs: { baseSliceMs, switchCostMs },
      sfs: { initialSliceMs, floorMs, recomputeEvery },
      keepOutcomes: comparing,
      ...sandboxesOf(policy),
      ...(alps === undefined ? {} : { alps }),
    });
    return { policy, result };
  });

  if (comparing) {
    const { compareRuns, printComparison } = await import("./simulate-compare.js");
    const comparison = compareRuns(flags.trace, cores, runs);
    if (sandboxes === "function")
      comparison.notes.push(
        "--sandboxes function: ps and alps ran one sandbox per function, the others per invocation",
      );
    printComparison(comparison, flags.json === true);
    return;
  }
  const run = runs[0] as PolicyRun;
  const s = run.result.summary;
  if (flags.json === true) {
    process.stdout.write(`${JSON.stringify(s)}\n`);
    return;
  }
  process.stdout.write(summaryTable(s, run, config));
}

/** `--remaining` and the Gittins table's flags as the simulator's options (undefined: mean). */
function gittinsOptions(flags: SimulateFlags): GittinsOptions | undefined {
  const rule = optionalChoiceFlag("--remaining", flags.remaining, ["mean", "gittins"] as const);
  if (rule !== "gittins") return undefined;
  const ratio = optionalNumberFlag("--gittins-grid", flags.gittinsGrid, { above: 1 });
  const slice = optionalChoiceFlag("--gittins-slice", flags.gittinsSlice, [
    "true",
    "false",
  ] as const);
  const from = optionalChoiceFlag("--gittins-from", flags.gittinsFrom, ["runs", "mean"] as const);
  return {
    resolution: ratio === undefined ? { kind: "exact" } : { kind: "grid", firstMs: 1, ratio },
    slice: slice !== "false",
    from: from ?? "runs",
  };
}

function summaryTable(s: Summary, run: PolicyRun, config: DaemonConfig | undefined): string {
  const f = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(3));
  const label =
    run.policy === "alps"
      ? `alps (${config?.strategy ?? "dynamic"}${run.gittins === true ? ", Gittins remaining time" : ""}, ${run.online !== undefined ? "learned online" : "policy file"})`
      : run.policy;
  const rows: [string, string][] = [
    ["policy", label],
    ["cores", String(s.cores)],
    ["invocations", String(s.invocations)],
    [
      "turnaround ms",
      `mean ${f(s.turnaround_ms.mean)}  p50 ${f(s.turnaround_ms.p50)}  p90 ${f(s.turnaround_ms.p90)}  p99 ${f(s.turnaround_ms.p99)}  max ${f(s.turnaround_ms.max)}`,
    ],
    ["slowdown", `mean ${f(s.slowdown.mean)}  p50 ${f(s.slowdown.p50)}  p99 ${f(s.slowdown.p99)}`],
    ["wait ms", `mean ${f(s.wait_ms.mean)}  p99 ${f(s.wait_ms.p99)}`],
    ["context switches", String(s.context_switches)],
    ["makespan ms", f(s.makespan_ms)],
  ];
  if (run.online !== undefined && config !== undefined) {
    const st = run.online.status;
    rows.push([
      "learning",
      `${st.counters.learner_runs} runs (every ${config.learnPeriodMs} ms, a new function within ${config.newFunctionLearnMs} ms); the last policy ranks ${Object.keys(run.online.policy.functions).length} functions`,
    ]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  return `${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n")}\n`;
}
