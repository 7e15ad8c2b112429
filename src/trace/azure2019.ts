/**
 * Azure Functions 2019 ("Azure Public Dataset", Shahrad et al., ATC'20):
 * a directory with, per day NN,
 *   invocations_per_function_md.anon.dNN.csv
 *     HashOwner,HashApp,HashFunction,Trigger,1,2,…,1440   (invocations per minute)
 *   function_durations_percentiles.anon.dNN.csv
 *     HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,
 *     percentile_Average_0,_1,_25,_50,_75,_99,_100          (milliseconds)
 *
 * Per-minute counts are kept exactly (see counts.ts). Each invocation's
 * duration is drawn from its function's percentile brackets: a uniform
 * quantile u picks the bracket, the duration is interpolated linearly inside
 * it. Minutes are numbered from 0 (column "1" is minute 0). Every minute cell
 * of every row is checked, also outside the window and in idle minutes.
 * A function of the invocations file with no durations row cannot be given
 * durations: it is left out and the report says how many invocations that
 * dropped (the two files of the real dataset do not join completely).
 */
import { join } from "node:path";
import type { TraceInvocation } from "../contracts/trace.js";
import { InputError, UsageError } from "../errors.js";
import {
  addCount,
  type CountedFunction,
  expandCounts,
  keepBusiest,
  type Spread,
  selectBuckets,
  totalCount,
} from "./counts.js";
import {
  countField,
  numberField,
  readCsvTable,
  requireColumns,
  type SkipOptions,
} from "./csv-table.js";
import type { Rng } from "./random.js";

export interface Azure2019Options extends SkipOptions {
  dir: string;
  /** Day of the dataset, 1-based (file suffix dNN). */
  day: number;
  /** First minute of the window, 0-based. */
  startMinute: number;
  /** Minutes in the window (undefined: to the end of the day). */
  minutes: number | undefined;
  /** Keep only the N busiest functions of the window. */
  functions: number | undefined;
  spread: Spread;
  rng: Rng;
}

export interface ConvertResult {
  invocations: TraceInvocation[];
  /** Things the user must hear about (stderr warnings), never silent. */
  notes: string[];
  /** Bad rows skipped under `--skip-bad`. */
  skipped: number;
}

const KEY_COLUMNS = ["HashOwner", "HashApp", "HashFunction"] as const;
/** Percentile columns and the quantile each one stands for. */
const PERCENTILES: readonly [string, number][] = [
  ["percentile_Average_0", 0],
  ["percentile_Average_1", 0.01],
  ["percentile_Average_25", 0.25],
  ["percentile_Average_50", 0.5],
  ["percentile_Average_75", 0.75],
  ["percentile_Average_99", 0.99],
  ["percentile_Average_100", 1],
];
const DURATION_COLUMNS = [
  ...KEY_COLUMNS,
  "Average",
  "Count",
  "Minimum",
  "Maximum",
  ...PERCENTILES.map(([c]) => c),
];

export function azure2019Files(
  dir: string,
  day: number,
): { invocations: string; durations: string } {
  if (!(Number.isInteger(day) && day >= 1 && day <= 99))
    throw new UsageError(`--day must be an integer 1..99, got ${day}`);
  const dd = String(day).padStart(2, "0");
  return {
    invocations: join(dir, `invocations_per_function_md.anon.d${dd}.csv`),
    durations: join(dir, `function_durations_percentiles.anon.d${dd}.csv`),
  };
}

/** Duration at quantile u in [0, 1] of a function's percentile table. */
export function durationAtQuantile(values: readonly number[], u: number): number {
  for (let i = 1; i < PERCENTILES.length; i++) {
    const q1 = (PERCENTILES[i] as [string, number])[1];
    if (u <= q1 || i === PERCENTILES.length - 1) {
      const q0 = (PERCENTILES[i - 1] as [string, number])[1];
      const v0 = values[i - 1] as number;
      const v1 = values[i] as number;
      return v0 + ((v1 - v0) * (u - q0)) / (q1 - q0);
    }
  }
  return values[values.length - 1] as number;
}

function readDurations(
  path: string,
  options: SkipOptions,
): { table: Map<string, number[]>; skipped: number } {
  const table = new Map<string, number[]>();
  let cols = new Map<string, number>();
  const report = readCsvTable(
    path,
    options,
    (header, lineNo) => {
      cols = requireColumns(path, lineNo, header, DURATION_COLUMNS);
    },
    (f, lineNo) => {
      const key = keyOf(path, lineNo, f, cols);
      for (const name of ["Average", "Minimum", "Maximum"]) {
        const v = numberField(path, lineNo, name, f[cols.get(name) as number] as string);
        if (v < 0) throw new InputError(path, lineNo, name, `must be >= 0, got ${v}`);
      }
      countField(path, lineNo, "Count", f[cols.get("Count") as number] as string);
      const values: number[] = [];
      for (const [name] of PERCENTILES) {
        const v = numberField(path, lineNo, name, f[cols.get(name) as number] as string);
        if (v < 0) throw new InputError(path, lineNo, name, `must be >= 0, got ${v}`);
        const prev = values[values.length - 1];
        if (prev !== undefined && v < prev) {
          throw new InputError(
            path,
            lineNo,
            name,
            `percentiles must not decrease: ${v} after ${prev}`,
          );
        }
        values.push(v);
      }
      if (table.has(key))
        throw new InputError(
          path,
          lineNo,
          "HashFunction",
          "second durations row for this function",
        );
      table.set(key, values);
    },
  );
  return { table, skipped: report.skipped };
}

function keyOf(
  path: string,
  lineNo: number,
  f: readonly string[],
  cols: Map<string, number>,
): string {
  const parts = KEY_COLUMNS.map((name) => {
    const v = f[cols.get(name) as number] as string;
    if (v.length === 0) throw new InputError(path, lineNo, name, "empty");
    return v;
  });
  return parts.join("\u0000");
}

export function convertAzure2019(o: Azure2019Options): ConvertResult {
  const files = azure2019Files(o.dir, o.day);
  const { table, skipped: skippedDurations } = readDurations(files.durations, o);
  const byKey = new Map<string, CountedFunction & { key: string; func: string }>();
  let cols = new Map<string, number>();
  let firstMinuteCol = 0;
  let minuteCols = 0;
  const windowEnd = o.minutes === undefined ? Number.POSITIVE_INFINITY : o.startMinute + o.minutes;
  const report = readCsvTable(
    files.invocations,
    o,
    (header, lineNo) => {
      cols = requireColumns(files.invocations, lineNo, header, [...KEY_COLUMNS, "Trigger", "1"]);
      firstMinuteCol = cols.get("1") as number;
      minuteCols = header.length - firstMinuteCol;
      for (let m = 0; m < minuteCols; m++) {
        const name = header[firstMinuteCol + m] as string;
        if (name !== String(m + 1)) {
          throw new InputError(
            files.invocations,
            lineNo,
            name,
            `expected minute column '${m + 1}' here`,
          );
        }
      }
    },
    (f, lineNo) => {
      const key = keyOf(files.invocations, lineNo, f, cols);
      // Check the whole row before keeping any of it, so a skipped row leaves no trace.
      const counts: number[] = [];
      for (let m = 0; m < minuteCols; m++) {
        counts.push(
          countField(files.invocations, lineNo, String(m + 1), f[firstMinuteCol + m] as string),
        );
      }
      let entry = byKey.get(key);
      if (entry === undefined) {
        const func = f[cols.get("HashFunction") as number] as string;
        const app = f[cols.get("HashApp") as number] as string;
        entry = { key, func, fn: func, app, buckets: [], counts: [], duration: () => Number.NaN };
        byKey.set(key, entry);
      }
      // The same function under several triggers: its rows add up.
      for (let m = Math.max(o.startMinute, 0); m < Math.min(minuteCols, windowEnd); m++) {
        addCount(entry, m, counts[m] as number);
      }
    },
  );
  const notes: string[] = [];
  if (o.startMinute >= minuteCols) {
    throw new UsageError(
      `--start-minute ${o.startMinute} is past the last minute (${minuteCols - 1}) of ${files.invocations}`,
    );
  }
  // A HashFunction shared by two owners/apps would merge two functions: name those app/function.
  const perName = new Map<string, number>();
  for (const e of byKey.values()) perName.set(e.func, (perName.get(e.func) ?? 0) + 1);
  let missingFns = 0;
  let missingInvocations = 0;
  const functions: CountedFunction[] = [];
  for (const e of byKey.values()) {
    if ((perName.get(e.func) ?? 0) > 1) e.fn = `${e.app}/${e.func}`;
    const values = table.get(e.key);
    if (values === undefined) {
      const n = totalCount(e);
      if (n > 0) {
        missingFns++;
        missingInvocations += n;
      }
      continue;
    }
    e.duration = (_bucket, rng) => durationAtQuantile(values, rng.next());
    functions.push(e);
  }
  if (missingFns > 0) {
    notes.push(
      `${missingInvocations} invocation(s) of ${missingFns} function(s) left out: no row for them in ${files.durations}`,
    );
  }
  selectBuckets(functions, o.startMinute, o.minutes);
  const kept = keepBusiest(functions, o.functions);
  const invocations = expandCounts(kept, 60_000, o.spread, o.rng);
  let zero = 0;
  for (const inv of invocations) {
    // Durations are recorded in whole ms; a 0 means "under 1 ms", not "no work".
    if (!(inv.durationMs > 0)) {
      inv.durationMs = 0.001;
      zero++;
    }
  }
  if (zero > 0)
    notes.push(
      `${zero} duration(s) of 0 ms (below the trace's 1 ms resolution) written as 0.001 ms`,
    );
  return { invocations, notes, skipped: skippedDurations + report.skipped };
}
