/**
 * How many warm workers each function starts with: the most invocations of
 * that function in flight at once if each took `stretch` × its duration plus
 * `padMs` (turnaround is longer than duration under load). The pool still
 * grows on demand; this only keeps cold starts out of most measurements.
 *
 * Why generous: a cold start is a Node process starting on a loaded host,
 * 1.3-3.7 s on average in the bundled replays, and the invocation waits for
 * it. With 48 workers in all, huawei-like (53 functions) had about one per
 * function and 32-36 cold starts per mode. A pad of 1 s matches the most
 * invocations measured in flight (72 vs 69 on azure-like, 114 vs 112 on
 * huawei-like under CFS). An idle worker costs no CPU and ~9 MB of its own
 * memory (52 MB resident, most of it Node's shared text).
 */
import { freemem } from "node:os";
import type { TraceInvocation } from "../contracts/trace.js";

/** Free memory set aside per warm worker when capping the total. */
const BYTES_PER_WORKER = 64 * 1024 * 1024;

export function prewarmCounts(
  trace: readonly TraceInvocation[],
  opts: { stretch?: number; padMs?: number; maxPerFunction?: number; maxTotal?: number } = {},
): Map<string, number> {
  const stretch = opts.stretch ?? 4;
  const padMs = opts.padMs ?? 1000;
  const cap = opts.maxPerFunction ?? 16;
  const byFn = new Map<string, Array<[number, number]>>();
  for (const inv of trace) {
    const list = byFn.get(inv.fn) ?? [];
    list.push([inv.arrivalMs, inv.arrivalMs + inv.durationMs * stretch + padMs]);
    byFn.set(inv.fn, list);
  }
  const counts = new Map<string, number>();
  for (const [fn, spans] of byFn) {
    // Sweep: +1 at each start, −1 at each end (ends first on ties).
    const events = spans.flatMap(([s, e]) => [
      [s, 1],
      [e, -1],
    ]) as Array<[number, number]>;
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let inFlight = 0;
    let most = 0;
    for (const [, delta] of events) {
      inFlight += delta;
      most = Math.max(most, inFlight);
    }
    counts.set(fn, Math.min(Math.max(most, 1), cap));
  }
  // Each worker is a Node process: beyond the total (and what free memory holds), scale down,
  // keeping one per function.
  const maxTotal =
    opts.maxTotal ?? Math.max(1, Math.min(160, Math.floor(freemem() / BYTES_PER_WORKER)));
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  if (total > maxTotal) {
    const scale = maxTotal / total;
    for (const [fn, n] of counts) counts.set(fn, Math.max(1, Math.floor(n * scale)));
  }
  return counts;
}
