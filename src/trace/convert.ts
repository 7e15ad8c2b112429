/**
 * `alps trace convert`: one entry point over the official layouts, plus the
 * transformations every format shares, applied in a fixed order:
 * cap durations → stretch time (`timeScale`) or hit a load (`cores`+`load`)
 * → round to microseconds.
 */
import type { InputError } from "../errors.js";
import { UsageError } from "../errors.js";
import { type ConvertResult, convertAzure2019 } from "./azure2019.js";
import { convertAzure2021 } from "./azure2021.js";
import type { Spread } from "./counts.js";
import { convertHuawei, type DelayUnit } from "./huawei.js";
import { capDurations, rescaleToLoad, roundToMicros, scaleArrivals } from "./load.js";
import { Rng, type Seed } from "./random.js";

export type SourceFormat = "azure2019" | "azure2021" | "huawei";
export const SOURCE_FORMATS: readonly SourceFormat[] = ["azure2019", "azure2021", "huawei"];

export interface ConvertOptions {
  from: SourceFormat;
  /** Directory (azure2019, huawei) or file (azure2021). */
  input: string;
  seed?: Seed;
  day?: number;
  startMinute?: number;
  minutes?: number;
  functions?: number;
  spread?: Spread;
  delayUnit?: DelayUnit;
  timeScale?: number;
  maxDurationMs?: number;
  cores?: number;
  load?: number;
  skipBad?: boolean;
  onSkip?: (error: InputError) => void;
}

export function convertTrace(o: ConvertOptions): ConvertResult {
  if ((o.cores === undefined) !== (o.load === undefined)) {
    throw new UsageError("--cores and --load go together");
  }
  if (o.timeScale !== undefined && o.load !== undefined) {
    throw new UsageError("--time-scale and --load both set the time axis: give one");
  }
  const startMinute = o.startMinute ?? 0;
  if (!(Number.isInteger(startMinute) && startMinute >= 0)) {
    throw new UsageError(`--start-minute must be an integer >= 0, got ${startMinute}`);
  }
  if (o.minutes !== undefined && !(Number.isInteger(o.minutes) && o.minutes >= 1)) {
    throw new UsageError(`--minutes must be an integer >= 1, got ${o.minutes}`);
  }
  const skip = { skipBad: o.skipBad ?? false, ...(o.onSkip ? { onSkip: o.onSkip } : {}) };
  const rng = new Rng(o.seed ?? 1);
  const common = { startMinute, minutes: o.minutes, functions: o.functions, ...skip };
  let result: ConvertResult;
  switch (o.from) {
    case "azure2019":
      result = convertAzure2019({
        dir: o.input,
        day: o.day ?? 1,
        spread: o.spread ?? "exp",
        rng,
        ...common,
      });
      break;
    case "azure2021":
      if (o.day !== undefined)
        throw new UsageError("--day does not apply to azure2021 (one two-week file)");
      result = convertAzure2021({ file: o.input, ...common });
      break;
    case "huawei":
      result = convertHuawei({
        dir: o.input,
        day: o.day,
        spread: o.spread ?? "exp",
        delayUnit: o.delayUnit ?? "ms",
        rng,
        ...common,
      });
      break;
    default:
      throw new UsageError(
        `unknown format '${String(o.from)}' (known: ${SOURCE_FORMATS.join(", ")})`,
      );
  }
  const inv = result.invocations;
  if (inv.length === 0) result.notes.push("the converted trace has no invocation");
  if (o.maxDurationMs !== undefined) {
    const capped = capDurations(inv, o.maxDurationMs);
    if (capped > 0)
      result.notes.push(
        `${capped} duration(s) capped at ${o.maxDurationMs} ms (--max-duration-ms)`,
      );
  }
  if (o.timeScale !== undefined) scaleArrivals(inv, o.timeScale);
  if (o.cores !== undefined && o.load !== undefined) rescaleToLoad(inv, o.cores, o.load);
  roundToMicros(inv);
  return result;
}
