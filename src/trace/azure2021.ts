/**
 * Azure Functions 2021 (AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt):
 * one invocation per line, `app,func,end_timestamp,duration`, both times in
 * seconds since the trace start. `func` is unique only within `app`, so the
 * function is named `app/func`. Arrival = end − duration; the output is
 * sorted by arrival (ties keep file order), relative to the first arrival,
 * in milliseconds. A window (`--start-minute/--minutes`) counts minutes from
 * that first arrival; arrivals then restart at the first kept one.
 */
import type { TraceInvocation } from "../contracts/trace.js";
import { InputError, UsageError } from "../errors.js";
import type { ConvertResult } from "./azure2019.js";
import { numberField, readCsvTable, requireColumns, type SkipOptions } from "./csv-table.js";

export interface Azure2021Options extends SkipOptions {
  file: string;
  startMinute: number;
  minutes: number | undefined;
  functions: number | undefined;
}

export function convertAzure2021(o: Azure2021Options): ConvertResult {
  const fns: string[] = [];
  const apps: string[] = [];
  const fnIndex = new Map<string, number>();
  let arrivals: Float64Array = new Float64Array(1024);
  let durations: Float64Array = new Float64Array(1024);
  let fnOf = new Int32Array(1024);
  let n = 0;
  let cols = new Map<string, number>();
  const report = readCsvTable(
    o.file,
    o,
    (header, lineNo) => {
      cols = requireColumns(o.file, lineNo, header, ["app", "func", "end_timestamp", "duration"]);
    },
    (f, lineNo) => {
      const app = f[cols.get("app") as number] as string;
      const func = f[cols.get("func") as number] as string;
      if (app.length === 0) throw new InputError(o.file, lineNo, "app", "empty");
      if (func.length === 0) throw new InputError(o.file, lineNo, "func", "empty");
      const end = numberField(
        o.file,
        lineNo,
        "end_timestamp",
        f[cols.get("end_timestamp") as number] as string,
      );
      const duration = numberField(
        o.file,
        lineNo,
        "duration",
        f[cols.get("duration") as number] as string,
      );
      if (!(duration > 0))
        throw new InputError(o.file, lineNo, "duration", `must be > 0 s, got ${duration}`);
      if (end < 0)
        throw new InputError(o.file, lineNo, "end_timestamp", `must be >= 0, got ${end}`);
      const name = `${app}/${func}`;
      let idx = fnIndex.get(name);
      if (idx === undefined) {
        idx = fns.length;
        fnIndex.set(name, idx);
        fns.push(name);
        apps.push(app);
      }
      if (n === arrivals.length) {
        arrivals = grow(arrivals);
        durations = grow(durations);
        const g = new Int32Array(fnOf.length * 2);
        g.set(fnOf);
        fnOf = g;
      }
      arrivals[n] = (end - duration) * 1000;
      durations[n] = duration * 1000;
      fnOf[n] = idx;
      n++;
    },
  );
  // Sort indices by arrival; the index breaks ties, so equal arrivals keep file order.
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (arrivals[a] as number) - (arrivals[b] as number) || a - b,
  );
  const origin = n > 0 ? (arrivals[order[0] as number] as number) : 0;
  const from = o.startMinute * 60_000;
  const to = o.minutes === undefined ? Number.POSITIVE_INFINITY : from + o.minutes * 60_000;
  let invocations: TraceInvocation[] = [];
  for (const i of order) {
    const t = (arrivals[i] as number) - origin;
    if (t < from || t >= to) continue;
    invocations.push({
      arrivalMs: t,
      fn: fns[fnOf[i] as number] as string,
      durationMs: durations[i] as number,
      app: apps[fnOf[i] as number] as string,
    });
  }
  if (n > 0 && invocations.length === 0)
    throw new UsageError(`the window selects no invocation of ${o.file}`);
  if (o.functions !== undefined) invocations = keepBusiestInvocations(invocations, o.functions);
  const start = invocations[0]?.arrivalMs ?? 0;
  for (const inv of invocations) inv.arrivalMs -= start;
  return { invocations, notes: [], skipped: report.skipped };
}

function grow(a: Float64Array): Float64Array {
  const g = new Float64Array(a.length * 2);
  g.set(a);
  return g;
}

/** Only the invocations of the `n` functions with the most invocations (ties by name). */
export function keepBusiestInvocations(
  invocations: TraceInvocation[],
  n: number,
): TraceInvocation[] {
  if (!(n >= 1) || !Number.isInteger(n))
    throw new UsageError(`--functions must be an integer >= 1, got ${n}`);
  const counts = new Map<string, number>();
  for (const inv of invocations) counts.set(inv.fn, (counts.get(inv.fn) ?? 0) + 1);
  const keep = new Set(
    [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, n)
      .map(([fn]) => fn),
  );
  return invocations.filter((inv) => keep.has(inv.fn));
}
