/**
 * `alps trace convert | synth | stats`: thin wrappers over src/trace. Flags
 * are parsed here (a bad one is a UsageError, exit 2); everything else is
 * the trace modules' job. Warnings go to stderr, never silently dropped.
 */
import { availableParallelism } from "node:os";
import type { Command } from "commander";
import { type InputError, UsageError } from "../errors.js";
import { convertTrace, SOURCE_FORMATS, type SourceFormat } from "../trace/convert.js";
import { SPREADS, type Spread } from "../trace/counts.js";
import type { DelayUnit } from "../trace/huawei.js";
import { readTraceFile } from "../trace/native.js";
import { writeTraceFile } from "../trace/native-writer.js";
import type { Seed } from "../trace/random.js";
import { formatStats, traceStats } from "../trace/stats.js";
import { SYNTH_PROFILES, type SynthProfileName, synthesize } from "../trace/synth.js";

/** Skipped rows printed one by one before only the total is reported. */
const SKIP_LINES_SHOWN = 10;

function warn(message: string): void {
  process.stderr.write(`alps: warning: ${message}\n`);
}

/** Reports each skipped row (the first few) and, at the end, how many. */
function skipReporter(): { onSkip: (e: InputError) => void; finish: () => void } {
  let n = 0;
  return {
    onSkip: (e) => {
      n++;
      if (n <= SKIP_LINES_SHOWN) warn(`skipped bad row: ${e.message}`);
    },
    finish: () => {
      if (n > 0) warn(`skipped ${n} bad row(s) (--skip-bad)`);
    },
  };
}

function numberOption(
  flag: string,
  raw: string | undefined,
  rule: { integer?: boolean; min?: number; positive?: boolean } = {},
): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  const ok =
    raw.trim() !== "" &&
    Number.isFinite(v) &&
    (!rule.integer || Number.isInteger(v)) &&
    (rule.min === undefined || v >= rule.min) &&
    (!rule.positive || v > 0);
  if (!ok) {
    const what = [
      rule.integer ? "an integer" : "a number",
      rule.min !== undefined ? `>= ${rule.min}` : "",
      rule.positive ? "> 0" : "",
    ];
    throw new UsageError(`${flag} must be ${what.filter(Boolean).join(" ")}, got '${raw}'`);
  }
  return v;
}

function requiredNumber(
  flag: string,
  raw: string | undefined,
  rule: Parameters<typeof numberOption>[2],
): number {
  const v = numberOption(flag, raw, rule);
  if (v === undefined) throw new UsageError(`${flag} is required`);
  return v;
}

function choice<T extends string>(
  flag: string,
  raw: string | undefined,
  allowed: readonly T[],
): T | undefined {
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new UsageError(`${flag} must be one of ${allowed.join(", ")}, got '${raw}'`);
  }
  return raw as T;
}

function seedOption(raw: string | undefined): Seed {
  if (raw === undefined) return 1;
  const n = Number(raw);
  return raw.trim() !== "" && Number.isFinite(n) ? n : raw;
}

/** The command line that made a file, for its '#' header (so it can be regenerated). */
function commandLine(): string {
  return `alps ${process.argv.slice(2).join(" ")}`;
}

interface ConvertFlags {
  from?: string;
  in?: string;
  out?: string;
  seed?: string;
  day?: string;
  startMinute?: string;
  minutes?: string;
  functions?: string;
  spread?: string;
  delayUnit?: string;
  timeScale?: string;
  maxDurationMs?: string;
  cores?: string;
  load?: string;
  skipBad?: boolean;
}

interface SynthFlags {
  profile?: string;
  invocations?: string;
  cores?: string;
  load?: string;
  seed?: string;
  maxDurationMs?: string;
  functions?: string;
  out?: string;
}

interface StatsFlags {
  cores?: string;
  json?: boolean;
  skipBad?: boolean;
}

function runConvert(flags: ConvertFlags): void {
  const from = choice<SourceFormat>("--from", flags.from, SOURCE_FORMATS);
  if (from === undefined) throw new UsageError(`--from is required (${SOURCE_FORMATS.join(", ")})`);
  if (flags.in === undefined) throw new UsageError("--in is required");
  if (flags.out === undefined) throw new UsageError("--out is required");
  const skips = skipReporter();
  const seed = seedOption(flags.seed);
  const result = convertTrace({
    from,
    input: flags.in,
    seed,
    day: numberOption("--day", flags.day, { integer: true, min: 0 }),
    startMinute: numberOption("--start-minute", flags.startMinute, { integer: true, min: 0 }),
    minutes: numberOption("--minutes", flags.minutes, { integer: true, min: 1 }),
    functions: numberOption("--functions", flags.functions, { integer: true, min: 1 }),
    spread: choice<Spread>("--spread", flags.spread, SPREADS),
    delayUnit: choice<DelayUnit>("--delay-unit", flags.delayUnit, ["ms", "s"]),
    timeScale: numberOption("--time-scale", flags.timeScale, { positive: true }),
    maxDurationMs: numberOption("--max-duration-ms", flags.maxDurationMs, { positive: true }),
    cores: numberOption("--cores", flags.cores, { positive: true }),
    load: numberOption("--load", flags.load, { positive: true }),
    skipBad: flags.skipBad ?? false,
    onSkip: skips.onSkip,
  });
  skips.finish();
  for (const note of result.notes) warn(note);
  writeTraceFile(flags.out, result.invocations, [
    `${from} trace ${flags.in} converted by: ${commandLine()}`,
  ]);
}

function runSynth(flags: SynthFlags): void {
  const profile = choice<SynthProfileName>("--profile", flags.profile, SYNTH_PROFILES);
  if (profile === undefined)
    throw new UsageError(`--profile is required (${SYNTH_PROFILES.join(", ")})`);
  if (flags.out === undefined) throw new UsageError("--out is required");
  const maxDurationMs = numberOption("--max-duration-ms", flags.maxDurationMs, { positive: true });
  const functions = numberOption("--functions", flags.functions, { integer: true, min: 1 });
  const result = synthesize({
    profile,
    invocations: requiredNumber("--invocations", flags.invocations, { integer: true, min: 2 }),
    cores: requiredNumber("--cores", flags.cores, { positive: true }),
    load: requiredNumber("--load", flags.load, { positive: true }),
    seed: seedOption(flags.seed),
    ...(maxDurationMs !== undefined ? { maxDurationMs } : {}),
    ...(functions !== undefined ? { functions } : {}),
  });
  if (result.capped > 0)
    warn(`${result.capped} duration(s) capped at ${maxDurationMs} ms (--max-duration-ms)`);
  writeTraceFile(flags.out, result.invocations, [
    `synthesized (${profile} profile) by: ${commandLine()}`,
  ]);
}

function runStats(file: string, flags: StatsFlags): void {
  const cores = numberOption("--cores", flags.cores, { positive: true }) ?? availableParallelism();
  const skips = skipReporter();
  const invocations = readTraceFile(file, {
    skipBad: flags.skipBad ?? false,
    onSkip: skips.onSkip,
  });
  skips.finish();
  const stats = traceStats(invocations, cores);
  process.stdout.write(flags.json ? `${JSON.stringify(stats)}\n` : `${formatStats(file, stats)}\n`);
}

export function registerTrace(program: Command): void {
  const trace = program
    .command("trace")
    .description("convert, synthesize and inspect traces (native CSV, docs/formats.md)");
  trace
    .command("convert")
    .description("convert an official Azure or Huawei trace to the native CSV")
    .option("--from <format>", `source layout: ${SOURCE_FORMATS.join(" | ")}`)
    .option("--in <path>", "directory (azure2019, huawei) or file (azure2021)")
    .option("--out <file>", "native CSV to write")
    .option("--seed <s>", "seed of the random choices (arrival spread, durations)", "1")
    .option(
      "--day <n>",
      "day of the dataset (azure2019: default 1; huawei: default the first present)",
    )
    .option(
      "--start-minute <m>",
      "first minute of the window (0-based; azure2019 column '1' is minute 0)",
    )
    .option("--minutes <k>", "length of the window in minutes")
    .option("--functions <n>", "keep only the n busiest functions of the window")
    .option(
      "--spread <how>",
      `how a minute's invocations are placed in it: ${SPREADS.join(" | ")}`,
      "exp",
    )
    .option("--delay-unit <unit>", "huawei: unit of the delay table (ms | s)", "ms")
    .option("--time-scale <x>", "multiply every arrival by x")
    .option("--max-duration-ms <d>", "cap every duration at d ms")
    .option("--cores <c>", "with --load: rescale arrivals so the offered load on c cores is r")
    .option("--load <r>", "target offered load (see --cores)")
    .option("--skip-bad", "skip bad rows (counted, warned on stderr) instead of failing")
    .action((flags: ConvertFlags) => runConvert(flags));
  trace
    .command("synth")
    .description("synthesize a workload from a production trace's published statistics")
    .option("--profile <name>", SYNTH_PROFILES.join(" | "))
    .option("--invocations <n>", "number of invocations")
    .option("--cores <c>", "cores the offered load refers to")
    .option("--load <r>", "offered load on those cores")
    .option("--seed <s>", "seed (same seed, same trace)", "1")
    .option("--functions <n>", "number of functions (default ≈ 2·√invocations)")
    .option("--max-duration-ms <d>", "cap every duration at d ms (to fit a small host)")
    .option("--out <file>", "native CSV to write")
    .action((flags: SynthFlags) => runSynth(flags));
  trace
    .command("stats")
    .description("invocations, functions, durations, offered load and burstiness of a native trace")
    .argument("<file>", "native trace CSV")
    .option("--cores <c>", "core count for the offered load (default: this host's)")
    .option("--json", "print one JSON object")
    .option("--skip-bad", "skip bad rows (counted, warned on stderr) instead of failing")
    .action((file: string, flags: StatsFlags) => runStats(file, flags));
}
