/**
 * Huawei Cloud 2023 (Joosen et al., "How does it function?", SoCC'23):
 * a directory with, per day NNN,
 *   requests_minute/day_NNN.csv   (or requests_second/day_NNN.csv)
 *   function_delay_minute/day_NNN.csv
 * each a wide table `day,time,<function id>,…`: `time` in seconds, one row
 * per minute (or second), one column per function; an empty cell or `NaN`
 * means the function had no data then. Requests are counts per bucket, kept
 * exactly (see counts.ts); each invocation's duration is its function's
 * delay in that minute (`--delay-unit`, default ms). A function with
 * requests in a minute that has no delay for it is an error (the row is bad):
 * alps does not invent durations.
 *
 * Without `--day`, the lowest-numbered day present is used. Buckets are
 * numbered from time 0 of the day; the window counts minutes of the day.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { InputError, UsageError } from "../errors.js";
import type { ConvertResult } from "./azure2019.js";
import {
  addCount,
  type CountedFunction,
  expandCounts,
  keepBusiest,
  type Spread,
  selectBuckets,
} from "./counts.js";
import {
  countField,
  numberField,
  readCsvTable,
  requireColumns,
  type SkipOptions,
} from "./csv-table.js";
import { parseDecimal } from "./fields.js";
import type { Rng } from "./random.js";

export type DelayUnit = "ms" | "s";

export interface HuaweiOptions extends SkipOptions {
  dir: string;
  day: number | undefined;
  startMinute: number;
  minutes: number | undefined;
  functions: number | undefined;
  spread: Spread;
  delayUnit: DelayUnit;
  rng: Rng;
}

interface HuaweiFiles {
  requests: string;
  /** Seconds per row of the requests table (60 or 1). */
  bucketSeconds: number;
  delay: string;
  day: number;
}

const DAY_FILE = /^day_(\d+)\.csv$/;

export function huaweiFiles(dir: string, day: number | undefined): HuaweiFiles {
  const minuteDir = join(dir, "requests_minute");
  const secondDir = join(dir, "requests_second");
  const requestsDir = existsSync(minuteDir)
    ? minuteDir
    : existsSync(secondDir)
      ? secondDir
      : undefined;
  if (requestsDir === undefined)
    throw new UsageError(`${dir}: neither requests_minute/ nor requests_second/ exists`);
  let chosen = day;
  if (chosen === undefined) {
    const days = readdirSync(requestsDir)
      .map((name) => DAY_FILE.exec(name)?.[1])
      .filter((d): d is string => d !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    if (days.length === 0) throw new UsageError(`${requestsDir}: no day_NNN.csv file`);
    chosen = days[0] as number;
  }
  if (!(Number.isInteger(chosen) && chosen >= 0))
    throw new UsageError(`--day must be an integer >= 0, got ${chosen}`);
  const name = `day_${String(chosen).padStart(3, "0")}.csv`;
  return {
    requests: join(requestsDir, name),
    bucketSeconds: requestsDir === minuteDir ? 60 : 1,
    delay: join(dir, "function_delay_minute", name),
    day: chosen,
  };
}

/** A cell that may hold no data: empty or NaN. */
function isNoData(raw: string): boolean {
  return raw.length === 0 || raw === "NaN" || raw === "nan";
}

/** Reads the leading `day,time` of a wide row: the row's time in seconds. */
function rowTime(
  path: string,
  lineNo: number,
  f: readonly string[],
  dayCol: number,
  timeCol: number,
): number {
  numberField(path, lineNo, "day", f[dayCol] as string);
  const t = numberField(path, lineNo, "time", f[timeCol] as string);
  if (t < 0) throw new InputError(path, lineNo, "time", `must be >= 0, got ${t}`);
  return t;
}

function functionColumns(
  path: string,
  lineNo: number,
  header: readonly string[],
): { cols: Map<string, number>; ids: string[] } {
  const cols = requireColumns(path, lineNo, header, ["day", "time"]);
  const ids = header.filter((h) => h !== "day" && h !== "time");
  if (ids.some((id) => id.length === 0))
    throw new InputError(path, lineNo, "(empty)", "function column without a name");
  return { cols, ids };
}

export function convertHuawei(o: HuaweiOptions): ConvertResult {
  const files = huaweiFiles(o.dir, o.day);
  const unit = o.delayUnit === "s" ? 1000 : 1;
  // Delay per function per minute of the day, ms.
  const delays = new Map<string, Map<number, number>>();
  let delayCols = new Map<string, number>();
  let delayIds: string[] = [];
  let lastDelayTime = -1;
  const delayReport = readCsvTable(
    files.delay,
    o,
    (header, lineNo) => {
      ({ cols: delayCols, ids: delayIds } = functionColumns(files.delay, lineNo, header));
      for (const id of delayIds) delays.set(id, new Map());
    },
    (f, lineNo) => {
      const t = rowTime(
        files.delay,
        lineNo,
        f,
        delayCols.get("day") as number,
        delayCols.get("time") as number,
      );
      if (t <= lastDelayTime)
        throw new InputError(
          files.delay,
          lineNo,
          "time",
          `must increase: ${t} after ${lastDelayTime}`,
        );
      const minute = Math.floor(t / 60);
      const row: [string, number][] = [];
      for (const id of delayIds) {
        const raw = f[delayCols.get(id) as number] as string;
        if (isNoData(raw)) continue;
        const v = parseDecimal(raw);
        if (!(v > 0)) {
          throw new InputError(
            files.delay,
            lineNo,
            id,
            Number.isNaN(v) ? `not a finite number: '${raw}'` : `delay must be > 0, got ${v}`,
          );
        }
        row.push([id, v * unit]);
      }
      for (const [id, ms] of row) delays.get(id)?.set(minute, ms);
      lastDelayTime = t;
    },
  );

  let cols = new Map<string, number>();
  let ids: string[] = [];
  const functions = new Map<string, CountedFunction>();
  let lastTime = -1;
  const bucketMs = files.bucketSeconds * 1000;
  const requestsReport = readCsvTable(
    files.requests,
    o,
    (header, lineNo) => {
      ({ cols, ids } = functionColumns(files.requests, lineNo, header));
      for (const id of ids) {
        const perMinute = delays.get(id);
        if (perMinute === undefined) {
          throw new InputError(
            files.requests,
            lineNo,
            id,
            `function has no column in ${files.delay}`,
          );
        }
        functions.set(id, {
          fn: id,
          buckets: [],
          counts: [],
          duration: (bucket) =>
            perMinute.get(Math.floor((bucket * files.bucketSeconds) / 60)) ?? Number.NaN,
        });
      }
    },
    (f, lineNo) => {
      const t = rowTime(
        files.requests,
        lineNo,
        f,
        cols.get("day") as number,
        cols.get("time") as number,
      );
      if (t <= lastTime)
        throw new InputError(
          files.requests,
          lineNo,
          "time",
          `must increase: ${t} after ${lastTime}`,
        );
      const bucket = Math.floor(t / files.bucketSeconds);
      const minute = Math.floor(t / 60);
      const row: [CountedFunction, number][] = [];
      for (const id of ids) {
        const raw = f[cols.get(id) as number] as string;
        if (isNoData(raw)) continue;
        const n = countField(files.requests, lineNo, id, raw);
        if (n === 0) continue;
        if (delays.get(id)?.get(minute) === undefined) {
          throw new InputError(
            files.requests,
            lineNo,
            id,
            `${n} request(s) but no delay for minute ${minute} in ${files.delay}`,
          );
        }
        row.push([functions.get(id) as CountedFunction, n]);
      }
      // Only a fully valid row is kept (a skipped row adds nothing).
      for (const [fn, n] of row) addCount(fn, bucket, n);
      lastTime = t;
    },
  );
  const startBucket = (o.startMinute * 60) / files.bucketSeconds;
  const length = o.minutes === undefined ? undefined : (o.minutes * 60) / files.bucketSeconds;
  const list = [...functions.values()];
  selectBuckets(list, startBucket, length);
  const kept = keepBusiest(list, o.functions);
  return {
    invocations: expandCounts(kept, bucketMs, o.spread, o.rng),
    notes: [],
    skipped: delayReport.skipped + requestsReport.skipped,
  };
}
