/**
 * The simulator's prediction beside each measured mode: the same trace under
 * the same policy, no processes. For alps that means the daemon as the replay
 * ran it, learning online from nothing: every run starts its own daemon, so
 * the early invocations of each function run on the default entry. Applying
 * the policy the daemon had at the end from the first invocation on predicts
 * what a daemon that knew the trace in advance would do, 0.04-0.13 of the
 * baseline's mean better on the bundled workloads (docs/results.md,
 * "Where the host departs from the simulator").
 */
import type { TraceInvocation } from "../contracts/trace.js";
import {
  type ConfigKey,
  configFromFlags,
  type DaemonConfig,
  flagName,
  isSwitch,
  loadConfig,
} from "../frontend/config.js";
import { ONLINE_KEYS, simulateOnline } from "../frontend/online.js";
import { type SimPolicyName, type SimResult, simulate } from "../sim/index.js";
import type { ReportMode } from "./report.js";
import type { ModeRun } from "./types.js";

export function simPolicyFor(run: ModeRun): SimPolicyName {
  return run.mode === "none" || run.mode === "cfs-observed" ? "cfs" : run.mode;
}

/**
 * The learner's options among the daemon's extra flags (`--name value` or
 * `--name=value`), as the daemon reads them; the flags a simulated daemon
 * has no use for (sockets, logging, the sensor) are returned apart.
 */
export function onlineFlags(args: readonly string[]): {
  flags: Record<string, unknown>;
  configFile?: string;
  ignored: string[];
} {
  const byFlag = new Map<string, ConfigKey>(ONLINE_KEYS.map((k) => [`--${flagName(k)}`, k]));
  const flags: Record<string, unknown> = {};
  const ignored: string[] = [];
  let configFile: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (!arg.startsWith("--")) continue;
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const key = byFlag.get(name);
    const takesValue = name === "--config" || (key !== undefined && !isSwitch(key));
    const value = eq >= 0 ? arg.slice(eq + 1) : takesValue ? args[++i] : undefined;
    if (name === "--config") configFile = value;
    else if (key === undefined) ignored.push(name);
    else flags[key] = isSwitch(key) ? true : value;
  }
  return { flags, ...(configFile === undefined ? {} : { configFile }), ignored };
}

/** The daemon's configuration as the replay started it: defaults < --config < ALPS_* < its flags. */
export function daemonConfigOf(
  run: ModeRun,
  daemonArgs: readonly string[],
  env: NodeJS.ProcessEnv,
): { config: DaemonConfig; ignored: string[] } {
  const { flags, configFile, ignored } = onlineFlags(daemonArgs);
  const config = loadConfig({
    ...(configFile === undefined ? {} : { configFile }),
    env,
    flags: {
      ...configFromFlags(flags, ONLINE_KEYS),
      ...(run.strategy === undefined ? {} : { strategy: run.strategy }),
    },
  });
  return { config, ignored };
}

/** The prediction for one measured run, or why there is none. */
export function predictRun(
  trace: readonly TraceInvocation[],
  run: ModeRun,
  cores: number,
  daemonArgs: readonly string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): ReportMode["predicted"] & { note?: string } {
  const policy = simPolicyFor(run);
  try {
    let result: SimResult;
    let note: string | undefined;
    if (run.mode === "alps") {
      const { config, ignored } = daemonConfigOf(run, daemonArgs, env);
      result = simulateOnline(trace, config, { cores }).result;
      if (ignored.length > 0)
        note = `predicted alps: daemon flags with no counterpart in the simulator: ${ignored.join(", ")}`;
    } else result = simulate(trace, { policy, cores });
    return {
      policy: run.mode === "alps" ? "alps (learning online)" : policy,
      summary: result.summary,
      samples: result.outcomes.map((o) => ({
        index: o.index,
        fn: o.fn,
        durationMs: o.durationMs,
        turnaroundMs: o.completionMs - o.arrivalMs,
      })),
      ...(note === undefined ? {} : { note }),
    };
  } catch (error: unknown) {
    return { policy, error: error instanceof Error ? error.message : String(error) };
  }
}
