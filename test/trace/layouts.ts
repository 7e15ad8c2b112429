/**
 * Writers of small files in the official trace layouts, made up by the tests
 * (never copied from a real trace). Each returns what it wrote so a test can
 * compare the converter's output with the truth.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `alps-${prefix}-`));
}

export interface AzureFn {
  owner: string;
  app: string;
  func: string;
  trigger?: string;
  /** Invocations per minute, by 0-based minute (column "m+1"). */
  counts: Record<number, number>;
  /** percentile_Average_0,1,25,50,75,99,100 (ms); undefined: no durations row. */
  percentiles?: [number, number, number, number, number, number, number];
}

export const AZURE_MINUTES = 1440;

/** Writes both files of day `day`; returns their paths. `mangle` may edit lines before writing. */
export function writeAzure2019(
  dir: string,
  day: number,
  fns: readonly AzureFn[],
  mangle?: { invocations?: (lines: string[]) => void; durations?: (lines: string[]) => void },
): { invocations: string; durations: string } {
  const dd = String(day).padStart(2, "0");
  const minuteHeader = Array.from({ length: AZURE_MINUTES }, (_, i) => String(i + 1)).join(",");
  const inv = [`HashOwner,HashApp,HashFunction,Trigger,${minuteHeader}`];
  for (const f of fns) {
    const cells = Array.from({ length: AZURE_MINUTES }, (_, m) => String(f.counts[m] ?? 0));
    inv.push(`${f.owner},${f.app},${f.func},${f.trigger ?? "http"},${cells.join(",")}`);
  }
  const dur = [
    "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,percentile_Average_99,percentile_Average_100",
  ];
  const seen = new Set<string>();
  for (const f of fns) {
    const key = `${f.owner},${f.app},${f.func}`;
    if (f.percentiles === undefined || seen.has(key)) continue;
    seen.add(key);
    const p = f.percentiles;
    dur.push(`${key},${p[3]},10,${p[0]},${p[6]},${p.join(",")}`);
  }
  mangle?.invocations?.(inv);
  mangle?.durations?.(dur);
  const files = {
    invocations: join(dir, `invocations_per_function_md.anon.d${dd}.csv`),
    durations: join(dir, `function_durations_percentiles.anon.d${dd}.csv`),
  };
  writeFileSync(files.invocations, `${inv.join("\n")}\n`);
  writeFileSync(files.durations, `${dur.join("\n")}\n`);
  return files;
}

export interface Azure2021Row {
  app: string;
  func: string;
  end: number;
  duration: number;
}

export function writeAzure2021(
  dir: string,
  rows: readonly Azure2021Row[],
  mangle?: (lines: string[]) => void,
): string {
  const lines = [
    "app,func,end_timestamp,duration",
    ...rows.map((r) => `${r.app},${r.func},${r.end},${r.duration}`),
  ];
  mangle?.(lines);
  const path = join(dir, "AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt");
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

export interface HuaweiDay {
  functions: string[];
  /** Rows of the requests table: time (s) → cell text per function ("" or "NaN" for no data). */
  requests: [number, string[]][];
  /** Rows of the delay table: time (s, a minute start) → cell text per function. */
  delays: [number, string[]][];
}

/** Writes requests_minute (or requests_second) and function_delay_minute for one day. */
export function writeHuawei(
  dir: string,
  day: number,
  d: HuaweiDay,
  resolution: "minute" | "second" = "minute",
  mangle?: { requests?: (lines: string[]) => void; delays?: (lines: string[]) => void },
): { requests: string; delays: string } {
  const name = `day_${String(day).padStart(3, "0")}.csv`;
  const reqDir = join(dir, resolution === "minute" ? "requests_minute" : "requests_second");
  const delayDir = join(dir, "function_delay_minute");
  mkdirSync(reqDir, { recursive: true });
  mkdirSync(delayDir, { recursive: true });
  const header = `day,time,${d.functions.join(",")}`;
  const req = [header, ...d.requests.map(([t, cells]) => `${day},${t},${cells.join(",")}`)];
  const del = [header, ...d.delays.map(([t, cells]) => `${day},${t},${cells.join(",")}`)];
  mangle?.requests?.(req);
  mangle?.delays?.(del);
  const files = { requests: join(reqDir, name), delays: join(delayDir, name) };
  writeFileSync(files.requests, `${req.join("\n")}\n`);
  writeFileSync(files.delays, `${del.join("\n")}\n`);
  return files;
}

/** Invocations per function per minute (minute = floor(arrival / 60 s) + offset). */
export function countsByFnMinute(
  invocations: readonly { fn: string; arrivalMs: number }[],
  offsetMinutes = 0,
  bucketMs = 60_000,
): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const inv of invocations) {
    const m = Math.floor(inv.arrivalMs / bucketMs) + offsetMinutes;
    const per = out.get(inv.fn) ?? new Map<number, number>();
    per.set(m, (per.get(m) ?? 0) + 1);
    out.set(inv.fn, per);
  }
  return out;
}

/** Expected map from the counts a test wrote (zeros left out). */
export function expectedCounts(
  entries: readonly [string, Record<number, number>][],
): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const [fn, counts] of entries) {
    const per = out.get(fn) ?? new Map<number, number>();
    for (const [m, n] of Object.entries(counts))
      if (n > 0) per.set(Number(m), (per.get(Number(m)) ?? 0) + n);
    if (per.size > 0) out.set(fn, per);
  }
  return out;
}
