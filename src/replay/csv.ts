/** The per-invocation CSV of one mode (`<mode>.csv`): the contract columns first, then what the replay also measured. */
import type { MeasuredInvocation } from "./types.js";

export const MODE_CSV_COLUMNS = [
  "arrival_ms",
  "function",
  "duration_ms",
  "turnaround_ms",
  "start_ms",
  "cpu_ms",
  "dispatch_lag_ms",
  "cold",
  "register_ms",
  "first_nice",
  "first_policy",
  "pid",
  "start_mono_ms",
  "end_mono_ms",
  "host_stall_ms",
] as const;

/** RFC 4180 quoting, only where needed: function names may hold commas or quotes. */
function field(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function ms(value: number): string {
  return String(Math.round(value * 1000) / 1000);
}

export function modeCsv(measured: readonly MeasuredInvocation[]): string {
  const rows = [...measured]
    .sort((a, b) => a.index - b.index)
    .map((m) =>
      [
        ms(m.arrivalMs),
        field(m.fn),
        ms(m.durationMs),
        ms(m.turnaroundMs),
        ms(m.startMs),
        ms(m.cpuMs),
        ms(m.dispatchLagMs),
        m.cold ? "1" : "0",
        // Empty where not measured: no registration (mode none, driver sandbox), or a worker that did not say.
        m.registerMs === undefined ? "" : ms(m.registerMs),
        m.firstNice === undefined ? "" : String(m.firstNice),
        m.firstPolicy === undefined ? "" : String(m.firstPolicy),
        m.pid === undefined ? "" : String(m.pid),
        // CLOCK_MONOTONIC: lines a row up with `perf sched record -k mono` and the daemon's bursts.
        m.startMonoMs === undefined ? "" : ms(m.startMonoMs),
        m.endMonoMs === undefined ? "" : ms(m.endMonoMs),
        // Empty where no stall probe ran (stall-probe.ts).
        m.hostStallMs === undefined ? "" : ms(m.hostStallMs),
      ].join(","),
    );
  return `${MODE_CSV_COLUMNS.join(",")}\n${rows.join("\n")}${rows.length > 0 ? "\n" : ""}`;
}
