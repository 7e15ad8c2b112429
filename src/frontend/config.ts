/**
 * The daemon's options, defined once. Each entry of CONFIG_FIELDS gives a
 * zod schema, a default and a short help; from it come the config-file key,
 * the flag and its help text (src/commands/daemon.ts), the environment
 * variable, the validation of all three, the option table of docs/config.md
 * (config-doc.ts) and the learner's parameters (learnerParams, learner.ts).
 *
 * Names: the key is the file's key; the flag is --<key-in-kebab-case>; the
 * variable is ALPS_<KEY_IN_SNAKE_CASE>. Precedence: flags > environment >
 * file > defaults. A bad value is reported the same way wherever it came
 * from (where, what is allowed, what was given) and is a usage error.
 *
 * To add an option, add one entry: a boolean flag takes a value
 * (`--slice-clamp true`), `switch: true` makes a flag without one
 * (`--no-bpf`), `list: true` a comma-separated list in a flag or variable.
 */
import { readFileSync } from "node:fs";
import { LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import {
  DEFAULT_IDLE_FROM,
  DEFAULT_LEVEL_STEP,
  DEFAULT_YIELD_BOUND,
  SLICE_REQUESTS,
  type SliceRequest,
  DEFAULT_UNBOOSTED_SLICE_MS,
  SLICE_BOUNDS_MS,
  sliceNs,
} from "../contracts/levels.js";
import { InputError, UsageError } from "../errors.js";
import { DEFAULT_SOCKET } from "./api/socket-path.js";

const posInt = z.number().int().positive();
const nonNeg = z.number().finite().nonnegative();

interface Field {
  readonly schema: z.ZodType;
  readonly default: unknown;
  /** One line: the flag's help and the table's description. */
  readonly help: string;
  /** Comma-separated in a flag or variable, a list in a file. */
  readonly list?: true;
  /** A flag without a value (`--no-bpf`); its variable still takes 1/0, true/false. */
  readonly switch?: true;
}

export const CONFIG_FIELDS = {
  mode: {
    schema: z.enum(["auto", "alps", "sfs", "cfs"]),
    default: "auto",
    help: "enforcement mode (auto: the best this host supports, see `alps doctor`)",
  },
  sensor: {
    schema: z.enum(["bpf", "proc"]).optional(),
    default: undefined,
    help: "where CPU time comes from (unset: the mode's best)",
  },
  strategy: {
    schema: z.enum(["dynamic", "static", "rt"]),
    default: "dynamic",
    help: "how levels are chosen",
  },
  eevdfSlice: {
    schema: z.enum(SLICE_REQUESTS),
    default: "shortest",
    help: "the EEVDF slice (sched_runtime) a boost also asks for: none, the function's own slice, or the kernel's shortest (0.1 ms)",
  },
  eevdfUnboostedSliceMs: {
    // 0 asks for none; anything else within the kernel's bounds.
    schema: z.union([z.literal(0), z.number().min(SLICE_BOUNDS_MS.min).max(SLICE_BOUNDS_MS.max)]),
    default: DEFAULT_UNBOOSTED_SLICE_MS,
    help: "the EEVDF slice (sched_runtime) an open invocation alps does not boost asks for (a yield outside SCHED_IDLE, or back at its base level past its boost), ms; 0: none. A long function owed CPU is then not picked ahead of a boosted start",
  },
  idleFromNice: {
    schema: z.number().int().min(1).max(20),
    default: DEFAULT_IDLE_FROM,
    help: "strategy dynamic: yields at this nice level and above run under SCHED_IDLE (20 = never)",
  },
  levelStep: {
    schema: z.number().int().min(1).max(10),
    default: DEFAULT_LEVEL_STEP,
    help: "strategy dynamic: nice levels between the levels used (1: every level); each level a running invocation crosses wakes the daemon",
  },
  yieldBound: {
    schema: nonNeg,
    default: DEFAULT_YIELD_BOUND,
    help: "strategy dynamic: an invocation stops yielding this many times its function's predicted run after it starts (0 = never)",
  },
  noBpf: {
    schema: z.boolean(),
    default: false,
    switch: true,
    help: "treat BPF as unavailable (tests the fallback)",
  },
  policyFile: {
    schema: z.string().min(1).optional(),
    default: undefined,
    help: "apply this policy JSON as is; do not learn",
  },
  socket: {
    schema: z.string().min(1),
    default: DEFAULT_SOCKET,
    help: "control API unix socket",
  },
  socketGroup: {
    schema: z.string().min(1).optional(),
    default: undefined,
    help: "group allowed on the sockets (mode becomes 0660)",
  },
  lineSocket: {
    schema: z.string().min(1).optional(),
    default: undefined,
    help: "unix socket of the line protocol, the lean start/end path (unset: beside --socket, alps.sock → alps-line.sock; none: off)",
  },
  logLevel: {
    schema: z.enum(["debug", "info", "warn", "error"]),
    default: "info",
    help: "least severe log line written (debug adds every policy's slices)",
  },
  logFormat: {
    schema: z.enum(["text", "json"]),
    default: "text",
    help: "log lines on stderr: text, or one JSON object per line",
  },
  learnPeriodMs: { schema: posInt.min(10), default: 2000, help: "learning period, ms" },
  newFunctionLearnMs: {
    schema: nonNeg,
    default: 250,
    help: "learn again this soon after a function without an entry has samples, ms (0 = wait for the period)",
  },
  // docs/learning.md, "Provisional entries": an unseen long function yields
  // while its first invocation runs, instead of sitting at nice 0 above the
  // known long ones until it completes and is learned. 930: on the fixed
  // band, the longest remaining time below the SCHED_IDLE level (15), so a
  // function the learner has not seen yet yields but never under SCHED_IDLE
  // (a yield the simulator models by its weight only); it did better than
  // 500 on six traces not used to choose it (docs/results.md, "The
  // provisional cap").
  provisionalCapMs: {
    schema: nonNeg,
    default: 930,
    help: "a function without an entry gets predicted = its oldest open invocation's age, at most this, ms (0 = off)",
  },
  // 250: on the daemon's shared tick (no wake-up of its own); 100 did no better (docs/results.md).
  provisionalPeriodMs: {
    schema: posInt.min(10),
    default: 250,
    help: "how often provisional entries are re-decided while such invocations are open, ms (a multiple of 250 shares the daemon's tick)",
  },
  // The learner's parameters (learner.ts LEARNER_KEYS): docs/learning.md says how each was chosen.
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
  // Without a floor a function whose runs vary more than their mean was
  // never boosted, and SRPT with quantum Q (8 ms) never preempts a run
  // sooner, so the floor is at least Q. It is 24: an invocation past its
  // slice waits at nice 0 beside the long ones there, and at 8 ms the short
  // functions' invocations of 10-30 ms lost their boost before their end;
  // functions whose learned slice is longer keep theirs (docs/learning.md).
  sliceFloorMs: {
    schema: nonNeg,
    default: 24,
    help: "smallest learned slice, ms (keep it at or above --quantum-ms)",
  },
  smoothing: {
    schema: z.number().min(0).max(1),
    default: 0.5,
    help: "weight of the previous slice (0 = no smoothing)",
  },
  quantumMs: { schema: nonNeg, default: 8, help: "SRPT quantum of the learner's replay, ms" },
  // Off by default: functions are ranked shortest first, so the clamp bounds
  // every slice by the shortest function's, and every short function then
  // lost its boost after that shortest slice (docs/learning.md, item 3).
  sliceClamp: {
    schema: z.boolean(),
    default: false,
    help: "clamp each slice to the more urgent function's (off by default: see docs/learning.md)",
  },
  maxFunctions: { schema: posInt, default: 1024, help: "functions the policy map holds" },
  minSamples: { schema: posInt, default: 1, help: "runs before a function gets its own entry" },
  defaultPredictedMs: {
    schema: nonNeg,
    default: 50,
    help: "default entry (functions without their own): predicted run, ms",
  },
  defaultSliceMs: {
    schema: nonNeg,
    default: 20,
    help: "default entry: slice, ms",
  },
  // Off by default: the simulator gains from a fitted band, the host did not
  // (docs/learning.md, item 6).
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
  metricsFunctionLabels: {
    schema: z.enum(["name", "hash", "none"]),
    default: "name",
    help: "per-function metric labels: the function key, a hash of it, or none (one 'all' label)",
  },
  metricsSocket: {
    schema: z.string().min(1).optional(),
    default: undefined,
    help: "also serve /metrics on this unix socket (0600, or 0660 with metricsSocketGroup)",
  },
  metricsSocketGroup: {
    schema: z.string().min(1).optional(),
    default: undefined,
    help: "group allowed on the metrics socket",
  },
  metricsMaxFunctions: {
    schema: posInt,
    default: 50,
    help: "per-function metric labels before 'other'",
  },
  apiMaxBodyBytes: {
    schema: posInt.max(1_048_576),
    default: 16_384,
    help: "control API request size limit, bytes",
  },
  apiRatePerSecond: {
    schema: posInt,
    default: 2000,
    help: "control API requests per second (token bucket)",
  },
  maxOpenInvocations: { schema: posInt, default: 65_536, help: "invocations open at once" },
  tenantNiceFloor: {
    schema: z.number().int().min(-20).max(19),
    default: 0,
    help: "lowest nice level an invocation registered by a caller that is not root gets (0: no boost)",
  },
  uidNiceFloors: {
    schema: z
      .array(z.string().regex(/^\d+:-?\d+$/, "expected <uid>:<nice>, e.g. 1000:-5"))
      .max(1000)
      .optional(),
    default: undefined,
    list: true,
    help: "per-uid nice floors that replace tenantNiceFloor, <uid>:<nice>, comma-separated",
  },
  boostBudgetMs: {
    schema: nonNeg,
    default: 1000,
    help: "CPU an invocation may use in total (all its bursts) and still be boosted, ms (0 = no limit)",
  },
  maxOpenSeconds: {
    schema: nonNeg,
    default: 600,
    help: "an invocation open longer is ended by the daemon, s (0 = no limit)",
  },
  uidMaxOpenInvocations: {
    schema: posInt,
    default: 256,
    help: "invocations a caller that is not root may have open at once",
  },
  uidRatePerSecond: {
    schema: posInt,
    default: 200,
    help: "control API requests per second of each caller that is not root",
  },
  uidMaxFunctions: {
    schema: posInt,
    default: 64,
    help: "distinct function names a caller that is not root may use (within functionTtlSeconds)",
  },
  rtCpuCapPercent: {
    schema: z.number().min(0).max(100),
    default: 50,
    help: "above this % of one core the daemon leaves SCHED_FIFO until it calms down (0 = no cap)",
  },
  allowSecondInstance: {
    schema: z.boolean(),
    default: false,
    help: "start even though alps BPF programs are already attached (tests running two daemons)",
  },
  recordBytes: {
    schema: posInt.min(4096).max(1 << 30),
    default: 1 << 20,
    help: "bytes the touched-task record preallocates in the state directory",
  },
  platform: {
    schema: z.enum(["openlambda", "openwhisk", "cgroup-pattern"]).optional(),
    default: undefined,
    help: "platform adapter (docs/platforms.md)",
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
    switch: true,
    help: "start even though RT throttling is off (sched_rt_runtime_us = -1) and something would run on SCHED_FIFO: a runaway real-time task can then starve the host (docs/safety.md)",
  },
} as const satisfies Record<string, Field>;

type Fields = typeof CONFIG_FIELDS;
export type ConfigKey = keyof Fields;
export type DaemonConfig = { [K in ConfigKey]: z.infer<Fields[K]["schema"]> };

export const CONFIG_KEYS = Object.keys(CONFIG_FIELDS) as ConfigKey[];

const field = (key: ConfigKey): Field => CONFIG_FIELDS[key];

export function flagName(key: ConfigKey): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
export function envName(key: ConfigKey): string {
  return `ALPS_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}
export function isSwitch(key: ConfigKey): boolean {
  return field(key).switch === true;
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

/**
 * The EEVDF slice requests a backend makes under `config`, as the backend
 * takes them: one conversion for `alps daemon` and the replay's in-process
 * daemon, so both ask for the same slices.
 */
export function sliceSettings(config: Pick<DaemonConfig, "eevdfSlice" | "eevdfUnboostedSliceMs">): {
  sliceRequest: SliceRequest;
  unboostedSliceNs: bigint;
} {
  return {
    sliceRequest: config.eevdfSlice,
    unboostedSliceNs: sliceNs(config.eevdfUnboostedSliceMs),
  };
}

/** JSON Schema's view of one field (zod's own conversion): what the help and docs describe. */
interface JsonSchemaView {
  type?: string;
  enum?: unknown[];
  const?: unknown;
  format?: string;
  anyOf?: JsonSchemaView[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  items?: JsonSchemaView;
}

function bounds(s: JsonSchemaView): string {
  const int = s.type === "integer";
  // zod gives integers the safe-integer range and "> 0" where ">= 1" reads better.
  let lo = s.minimum;
  let loOpen = false;
  if (s.exclusiveMinimum !== undefined) {
    if (int) lo = Math.floor(s.exclusiveMinimum) + 1;
    else {
      lo = s.exclusiveMinimum;
      loOpen = true;
    }
  }
  let hi = s.maximum;
  if (hi !== undefined && hi >= Number.MAX_SAFE_INTEGER) hi = undefined;
  const hiOpen = s.exclusiveMaximum !== undefined;
  if (hiOpen) hi = s.exclusiveMaximum;
  if (lo !== undefined && hi !== undefined && !loOpen && !hiOpen) return ` ${lo}..${hi}`;
  const parts: string[] = [];
  if (lo !== undefined) parts.push(`${loOpen ? ">" : ">="} ${lo}`);
  if (hi !== undefined) parts.push(`${hiOpen ? "<" : "<="} ${hi}`);
  return parts.length === 0 ? "" : ` ${parts.join(", ")}`;
}

const FORMATS: Record<string, string> = { ipv4: "an IPv4 address", ipv6: "an IPv6 address" };

function describeSchema(s: JsonSchemaView): string {
  if (s.anyOf !== undefined) return s.anyOf.map(describeSchema).join(" or ");
  if (s.const !== undefined) return String(s.const);
  if (s.enum !== undefined) return `one of ${s.enum.map(String).join(", ")}`;
  if (s.format !== undefined) return FORMATS[s.format] ?? `text (${s.format})`;
  switch (s.type) {
    case "boolean":
      return "true or false";
    case "integer":
      return `integer${bounds(s)}`;
    case "number":
      return `number${bounds(s)}`;
    case "string":
      return s.maxLength !== undefined ? `text of at most ${s.maxLength} characters` : "text";
    case "array": {
      let text = "comma-separated list";
      if (s.maxItems !== undefined) text += ` of at most ${s.maxItems} items`;
      if (s.items?.maxLength !== undefined) text += `, each up to ${s.items.maxLength} characters`;
      return text;
    }
    default:
      return "a value";
  }
}

/**
 * zod's JSON Schema of a key's schema. A schema JSON Schema cannot express (a
 * refinement, a transform) reads as "a value" rather than failing the help.
 */
function jsonSchemaOf(key: ConfigKey): JsonSchemaView {
  return z.toJSONSchema(field(key).schema, { unrepresentable: "any" }) as JsonSchemaView;
}

const allowedCache = new Map<ConfigKey, string>();

/** What a key accepts, in words: "integer 0..65535", "one of auto, alps, sfs, cfs". */
export function allowedValues(key: ConfigKey): string {
  let text = allowedCache.get(key);
  if (text === undefined) {
    text = describeSchema(jsonSchemaOf(key));
    allowedCache.set(key, text);
  }
  return text;
}

/** The enum's values, for a key that has a fixed set (help, docs, shell completion). */
export function choicesOf(key: ConfigKey): readonly string[] | undefined {
  const s = jsonSchemaOf(key);
  return s.enum?.map(String);
}

/** The default as the user would write it, or undefined when the key has none. */
export function defaultText(key: ConfigKey): string | undefined {
  const d = field(key).default;
  if (d === undefined) return undefined;
  return Array.isArray(d) ? d.join(",") : String(d);
}

/** A value as the message quotes it: text in quotes, anything else as JSON, never a page long. */
function quote(value: unknown): string {
  const text = typeof value === "string" ? `'${value}'` : (JSON.stringify(value) ?? String(value));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** The one shape of every bad-value message: what is allowed, what was given. */
function badValue(key: ConfigKey, value: unknown): string {
  return `expected ${allowedValues(key)}, got ${quote(value)}`;
}

function suggestion(unknown: string): string {
  const lower = unknown.toLowerCase().replace(/[-_]/g, "");
  const near = CONFIG_KEYS.find((k) => k.toLowerCase() === lower);
  return near === undefined ? "" : ` (did you mean ${near}?)`;
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
  const unknownKey = issue.code === "unrecognized_keys" ? (issue.keys[0] as string) : undefined;
  const path0 = unknownKey !== undefined ? [...issue.path, unknownKey] : issue.path;
  const node = doc.getIn(path0 as (string | number)[], true) as
    | { range?: [number, number, number] }
    | undefined;
  const line = node?.range !== undefined ? lineCounter.linePos(node.range[0]).line : undefined;
  const key = path0[0];
  let problem: string;
  if (unknownKey !== undefined) problem = `unknown key${suggestion(unknownKey)}`;
  else if (typeof key === "string" && Object.hasOwn(CONFIG_FIELDS, key)) {
    const given = (value as Record<string, unknown>)[key];
    problem = badValue(key as ConfigKey, given);
  } else problem = issue.message;
  throw new InputError(path, line, path0.join(".") || undefined, problem);
}

/** Turn a string (environment or flag) into the type the key's schema wants. */
function coerce(key: ConfigKey, raw: string): unknown {
  const f = field(key);
  if (f.list === true)
    return raw
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
  const d = f.default;
  if (typeof d === "number") return raw.trim() === "" ? Number.NaN : Number(raw);
  if (typeof d === "boolean") {
    if (/^(1|true|yes)$/i.test(raw)) return true;
    if (/^(0|false|no)$/i.test(raw)) return false;
    return raw;
  }
  return raw;
}

/** `raw` is what the user wrote: the message quotes it, not its coerced form. */
function validateOne(key: ConfigKey, raw: unknown, where: string): unknown {
  const value = typeof raw === "string" ? coerce(key, raw) : raw;
  const r = field(key).schema.safeParse(value);
  if (!r.success) throw new UsageError(`${where}: ${badValue(key, raw)}`);
  return r.data;
}

export function configFromEnv(
  env: NodeJS.ProcessEnv,
  keys: readonly ConfigKey[] = CONFIG_KEYS,
): Partial<DaemonConfig> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const raw = env[envName(key)];
    if (raw !== undefined) out[key] = validateOne(key, raw, `environment ${envName(key)}`);
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
    if (raw !== undefined) out[key] = validateOne(key, raw, `flag --${flagName(key)}`);
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
  // Every source was checked key by key; this only guards the defaults themselves.
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

/** The placeholder of a flag's value in help: what kind of value it takes. */
export function valueName(key: ConfigKey): string {
  const s = jsonSchemaOf(key);
  if (s.enum !== undefined) return "choice";
  if ([s, ...(s.anyOf ?? [])].some((x) => x.format === "ipv4" || x.format === "ipv6"))
    return "address";
  if (s.type === "boolean") return "bool";
  if (s.type === "array") return "list";
  if (s.type === "integer" || s.type === "number") {
    if (key.endsWith("Ms")) return "ms";
    if (key.endsWith("Seconds")) return "s";
    return "n";
  }
  return /(File|Dir|Path|Socket|Root)$/.test(key) || key === "socket" ? "path" : "value";
}

/**
 * A flag's help: the field's help, then what it accepts, its default and its
 * variable, in commander's "(…, default: …, env: …)" style.
 */
export function flagHelp(key: ConfigKey): string {
  const env = envName(key);
  if (isSwitch(key)) return `${field(key).help} (env: ${env}=1)`;
  const d = defaultText(key);
  const facts = [allowedValues(key), ...(d === undefined ? [] : [`default: ${d}`]), `env: ${env}`];
  return `${field(key).help} (${facts.join(", ")})`;
}
