/**
 * `alps trace convert | synth | stats`: thin wrappers over src/trace. Flags
 * are parsed here (a bad one is a UsageError, exit 2); everything else is
 * the trace modules' job. Warnings go to stderr, never silently dropped.
 */
import { availableParallelism } from "node:os";
import type { Command } from "commander";
import type { InputError } from "../errors.js";
import {
  choiceFlag,
  numberFlag,
  optionalChoiceFlag,
  optionalNumberFlag,
  required,
} from "./flag-values.js";
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
  const from = choiceFlag<SourceFormat>(
    "--from",
    required("--from", flags.from, SOURCE_FORMATS.join(", ")),
    SOURCE_FORMATS,
  );
  const input = required("--in", flags.in);
  const out = required("--out", flags.out);
  const skips = skipReporter();
  const seed = seedOption(flags.seed);
  const result = convertTrace({
    from,
    input,
    seed,
    day: optionalNumberFlag("--day", flags.day, { integer: true, min: 0 }),
    startMinute: optionalNumberFlag("--start-minute", flags.startMinute, { integer: true, min: 0 }),
    minutes: optionalNumberFlag("--minutes", flags.minutes, { integer: true, min: 1 }),
    functions: optionalNumberFlag("--functions", flags.functions, { integer: true, min: 1 }),
    spread: optionalChoiceFlag<Spread>("--spread", flags.spread, SPREADS),
    delayUnit: optionalChoiceFlag<DelayUnit>("--delay-unit", flags.delayUnit, ["ms", "s"]),
    timeScale: optionalNumberFlag("--time-scale", flags.timeScale, { above: 0 }),
    maxDurationMs: optionalNumberFlag("--max-duration-ms", flags.maxDurationMs, { above: 0 }),
    cores: optionalNumberFlag("--cores", flags.cores, { above: 0 }),
    load: optionalNumberFlag("--load", flags.load, { above: 0 }),
    skipBad: flags.skipBad ?? false,
    onSkip: skips.onSkip,
  });
  skips.finish();
  for (const note of result.notes) warn(note);
  writeTraceFile(out, result.invocations, [
    `${from} trace ${input} converted by: ${commandLine()}`,
  ]);
}

function runSynth(flags: SynthFlags): void {
  const profile = choiceFlag<SynthProfileName>(
    "--profile",
    required("--profile", flags.profile, SYNTH_PROFILES.join(", ")),
    SYNTH_PROFILES,
  );
  const out = required("--out", flags.out);
  const maxDurationMs = optionalNumberFlag("--max-duration-ms", flags.maxDurationMs, { above: 0 });
  const functions = optionalNumberFlag("--functions", flags.functions, { integer: true, min: 1 });
  const result = synthesize({
    profile,
    invocations: numberFlag("--invocations", required("--invocations", flags.invocations), {
      integer: true,
      min: 2,
    }),
    cores: numberFlag("--cores", required("--cores", flags.cores), { above: 0 }),
    load: numberFlag("--load", required("--load", flags.load), { above: 0 }),
    seed: seedOption(flags.seed),
    ...(maxDurationMs !== undefined ? { maxDurationMs } : {}),
    ...(functions !== undefined ? { functions } : {}),
  });
  if (result.capped > 0)
    warn(`${result.capped} duration(s) capped at ${maxDurationMs} ms (--max-duration-ms)`);
  writeTraceFile(out, result.invocations, [
    `synthesized (${profile} profile) by: ${commandLine()}`,
  ]);
}

function runStats(file: string, flags: StatsFlags): void {
  const cores = optionalNumberFlag("--cores", flags.cores, { above: 0 }) ?? availableParallelism();
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
