/**
 * The daemon's configuration: every parameter has a default, a config-file
 * key, an environment variable (ALPS_<KEY IN SNAKE CASE>) and a flag
 * (--<key-in-kebab-case>). Precedence: flags > environment > file > defaults.
 * Everything is validated with zod; an error names where the bad value came
 * from (file and key path, with the line for files; variable; flag).
 */
import { readFileSync } from "node:fs";
import { LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { DEFAULT_IDLE_FROM } from "../contracts/levels.js";
import { InputError, UsageError } from "../errors.js";

const posInt = z.number().int().positive();
const nonNeg = z.number().finite().nonnegative();

/** One schema per key. Keep descriptions short: they are the flags' help. */
export const CONFIG_FIELDS = {
  mode: {
    schema: z.enum(["auto", "alps", "sfs", "cfs"]),
    default: "auto",
    help: "enforcement mode",
  },
  sensor: {
    schema: z.enum(["bpf", "proc"]).optional(),
    default: undefined,
    help: "where CPU time comes from (default: the mode's best)",
  },
  strategy: {
    schema: z.enum(["dynamic", "static", "rt"]),
    default: "dynamic",
    help: "how levels are chosen",
  },
  eevdfSlice: {
    schema: z.boolean(),
    default: false,
    help: "also request each function's slice as its EEVDF slice (sched_runtime)",
  },
  idleFromNice: {
    schema: z.number().int().min(1).max(20),
    default: DEFAULT_IDLE_FROM,
    help: "strategy dynamic: yields at this nice level and above run under SCHED_IDLE (20 = never)",
  },
  noBpf: {
    schema: z.boolean(),
    default: false,
    help: "treat BPF as unavailable (tests the fallback)",
  },
  policyFile: {
    schema: z.string().min(1).optional(),
    default: undefined,
    help: "apply this policy as is; do not learn",
  },
  socket: {
    schema: z.string().min(1),
    default: "/run/alps/alps.sock",
    help: "control API unix socket",
  },
  socketGroup: {
    schema: z.string().min(1).optional(),
    default: undefined,
    help: "group allowed on the socket (mode becomes 0660)",
  },
  learnPeriodMs: { schema: posInt.min(10), default: 2000, help: "learning period, ms" },
  newFunctionLearnMs: {
    schema: nonNeg,
    default: 250,
    help: "learn again this soon after a function without an entry has samples, ms (0 = wait for the period)",
  },
  estimator: {
    schema: z.enum(["mean", "ewma", "linreg"]),
    default: "mean",
    help: "run-length estimator",
  },
  ewmaWeight: {
    schema: z.number().gt(0).lte(1),
    default: 0.3,
    help: "EWMA weight of the newest run",
  },
  alpha: { schema: nonNeg, default: 1, help: "slice widening α" },
  beta: { schema: nonNeg, default: 1, help: "stddev penalty β" },
  gamma: { schema: z.number().positive(), default: 1, help: "overload divisor γ" },
  theta: { schema: z.number().min(0).max(100), default: 50, help: "overload threshold θ, % CPU" },
  capMs: { schema: z.number().positive(), default: 200, help: "global slice cap, ms" },
  sliceFloorMs: {
    schema: nonNeg,
    default: 8,
    help: "smallest learned slice, ms (SRPT's quantum: it never preempts a run sooner)",
  },
  smoothing: {
    schema: z.number().min(0).max(1),
    default: 0.5,
    help: "weight of the previous slice",
  },
  quantumMs: { schema: nonNeg, default: 8, help: "SRPT quantum of the replay, ms" },
  sliceClamp: {
    schema: z.boolean(),
    default: false,
    help: "clamp each slice to the more urgent function's (off by default: see docs/learning.md)",
  },
  maxFunctions: { schema: posInt, default: 1024, help: "functions the policy map holds" },
  minSamples: { schema: posInt, default: 1, help: "runs before a function gets its own entry" },
  bandRatio: {
    schema: nonNeg,
    default: 0,
    help: "level band fitted to the policy: longest predicted run over the band's start (0 = the fixed 5..2000 ms band; see docs/learning.md)",
  },
  bandLoMaxMs: {
    schema: z.number().positive(),
    default: 50,
    help: "level band: its start never above this, ms",
  },
  windowInvocations: {
    schema: posInt,
    default: 1000,
    help: "window: invocations kept per function",
  },
  windowSeconds: { schema: nonNeg, default: 60, help: "window: seconds kept (0 = no limit)" },
  functionTtlSeconds: {
    schema: z.number().positive(),
    default: 300,
    help: "forget a function unseen this long",
  },
  maxTrackedFunctions: { schema: posInt, default: 4096, help: "functions the window tracks" },
  metricsPort: {
    schema: z.number().int().min(0).max(65535),
    default: 9464,
    help: "Prometheus port (0 = off)",
  },
  metricsHost: {
    schema: z.union([z.ipv4(), z.ipv6(), z.literal("localhost")]),
    default: "127.0.0.1",
    help: "address /metrics, /healthz and /readyz listen on: loopback unless you name another (0.0.0.0, the node's IP; docs/metrics.md)",
  },
  metricsMaxFunctions: {
    schema: posInt,
    default: 50,
    help: "per-function metric labels before 'other'",
  },
  apiMaxBodyBytes: {
    schema: posInt.max(1_048_576),
    default: 16_384,
    help: "control API request size limit",
  },
  apiRatePerSecond: {
    schema: posInt,
    default: 2000,
    help: "control API requests per second (token bucket)",
  },
  maxOpenInvocations: { schema: posInt, default: 65_536, help: "invocations open at once" },
  platform: {
    schema: z.enum(["openlambda", "openwhisk", "cgroup-pattern"]).optional(),
    default: undefined,
    help: "platform adapter",
  },
  pattern: {
    schema: z.string().min(1).optional(),
    default: undefined,
    help: "cgroup-pattern adapter's pattern",
  },
  olPath: {
    schema: z.string().min(1).optional(),
    default: undefined,
    help: "openlambda adapter: the ol directory",
  },
  cgroupRoot: {
    schema: z.string().min(1).optional(),
    default: undefined,
    help: "openlambda adapter: cgroup root",
  },
  dockerSocket: {
    schema: z.string().min(1).optional(),
    default: undefined,
    help: "openwhisk adapter: Docker socket",
  },
  namespaces: {
    schema: z.array(z.string().min(1).max(256)).max(1000).optional(),
    default: undefined,
    // A list: comma-separated in a flag or variable, a list in a file.
    list: true,
    help: "deprecated, ignored (openwhisk function keys are the container name's whole remainder, never split); accepted so old configs still start",
  },
  stateDir: {
    schema: z.string().min(1),
    default: "/run/alps",
    help: "touched-task record and guardian state",
  },
  realtimePriority: {
    schema: z.number().int().min(0).max(99),
    default: 50,
    help: "SCHED_FIFO priority of the daemon's threads (0 = stay fair)",
  },
  allowUnthrottledRt: {
    schema: z.boolean(),
    default: false,
    help: "start even though RT throttling is off (sched_rt_runtime_us = -1) and something would run on SCHED_FIFO: a runaway real-time task can then starve the host (docs/safety.md)",
  },
} as const;

type Fields = typeof CONFIG_FIELDS;
export type ConfigKey = keyof Fields;
export type DaemonConfig = { [K in ConfigKey]: z.infer<Fields[K]["schema"]> };

export const CONFIG_KEYS = Object.keys(CONFIG_FIELDS) as ConfigKey[];

export function flagName(key: ConfigKey): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
export function envName(key: ConfigKey): string {
  return `ALPS_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export const ConfigSchema = z.strictObject(
  Object.fromEntries(CONFIG_KEYS.map((k) => [k, CONFIG_FIELDS[k].schema])) as {
    [K in ConfigKey]: Fields[K]["schema"];
  },
);
const PartialConfigSchema = ConfigSchema.partial();

export function defaultConfig(): DaemonConfig {
  return Object.fromEntries(CONFIG_KEYS.map((k) => [k, CONFIG_FIELDS[k].default])) as DaemonConfig;
}

/** Read a JSON or YAML config file (JSON is YAML); errors name the file, line and key path. */
export function readConfigFile(path: string): Partial<DaemonConfig> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new InputError(
      path,
      undefined,
      undefined,
      `cannot read config file: ${(error as Error).message}`,
    );
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  const parseError = doc.errors[0];
  if (parseError !== undefined) {
    throw new InputError(
      path,
      parseError.linePos?.[0]?.line,
      undefined,
      `not valid JSON/YAML: ${parseError.message.split("\n")[0]}`,
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (error) {
    throw new InputError(
      path,
      undefined,
      undefined,
      `cannot read config: ${(error as Error).message}`,
    );
  }
  const result = PartialConfigSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0] as z.core.$ZodIssue;
  // Unknown keys are reported on the object; point at the first one.
  const path0 =
    issue.code === "unrecognized_keys"
      ? [...issue.path, ...(issue.keys.slice(0, 1) as string[])]
      : issue.path;
  const node = doc.getIn(path0 as (string | number)[], true) as
    | { range?: [number, number, number] }
    | undefined;
  const line = node?.range !== undefined ? lineCounter.linePos(node.range[0]).line : undefined;
  throw new InputError(path, line, path0.join(".") || undefined, issue.message);
}

/** Turn a string (environment or flag) into the type the key's schema wants. */
function coerce(key: ConfigKey, raw: string): unknown {
  const field = CONFIG_FIELDS[key];
  if ("list" in field)
    return raw
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
  const d = field.default;
  if (typeof d === "number") return raw.trim() === "" ? Number.NaN : Number(raw);
  if (typeof d === "boolean") {
    if (/^(1|true|yes)$/i.test(raw)) return true;
    if (/^(0|false|no)$/i.test(raw)) return false;
    return raw;
  }
  return raw;
}

function validateOne(key: ConfigKey, value: unknown, where: string): unknown {
  const r = CONFIG_FIELDS[key].schema.safeParse(value);
  if (!r.success)
    throw new UsageError(
      `${where}: ${r.error.issues[0]?.message ?? "invalid"} (got '${String(value)}')`,
    );
  return r.data;
}

export function configFromEnv(
  env: NodeJS.ProcessEnv,
  keys: readonly ConfigKey[] = CONFIG_KEYS,
): Partial<DaemonConfig> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const raw = env[envName(key)];
    if (raw !== undefined)
      out[key] = validateOne(key, coerce(key, raw), `environment ${envName(key)}`);
  }
  return out as Partial<DaemonConfig>;
}

/** Flags as commander gives them (strings, or booleans for switches). */
export function configFromFlags(
  flags: Record<string, unknown>,
  keys: readonly ConfigKey[] = CONFIG_KEYS,
): Partial<DaemonConfig> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const raw = flags[key];
    if (raw === undefined) continue;
    const value = typeof raw === "string" ? coerce(key, raw) : raw;
    out[key] = validateOne(key, value, `flag --${flagName(key)}`);
  }
  return out as Partial<DaemonConfig>;
}

/** defaults < file (`configFile`) < environment < flags, validated as a whole. */
export function loadConfig(opts: {
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  flags?: Record<string, unknown>;
}): DaemonConfig {
  const merged = {
    ...defaultConfig(),
    ...(opts.configFile !== undefined ? readConfigFile(opts.configFile) : {}),
    ...configFromEnv(opts.env ?? {}),
    ...configFromFlags(opts.flags ?? {}),
  };
  const r = ConfigSchema.safeParse(merged);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new UsageError(`config: ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`);
  }
  return r.data as DaemonConfig;
}

/**
 * The platform adapter's settings: `alps daemon` and `alps doctor --platform`
 * take these same keys, flags and variables (doctor uses nothing else).
 */
export const PLATFORM_KEYS = [
  "platform",
  "pattern",
  "olPath",
  "cgroupRoot",
  "dockerSocket",
  "namespaces",
] as const satisfies readonly ConfigKey[];
export type PlatformKey = (typeof PLATFORM_KEYS)[number];
export type PlatformConfig = Pick<DaemonConfig, PlatformKey>;

/** Only the platform keys, with the daemon's sources and precedence: file < environment < flags. */
export function loadPlatformConfig(opts: {
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  flags?: Record<string, unknown>;
}): PlatformConfig {
  const file = opts.configFile !== undefined ? readConfigFile(opts.configFile) : {};
  const merged: Partial<DaemonConfig> = {
    ...Object.fromEntries(PLATFORM_KEYS.map((k) => [k, file[k]])),
    ...configFromEnv(opts.env ?? {}, PLATFORM_KEYS),
    ...configFromFlags(opts.flags ?? {}, PLATFORM_KEYS),
  };
  return Object.fromEntries(PLATFORM_KEYS.map((k) => [k, merged[k]])) as PlatformConfig;
}
