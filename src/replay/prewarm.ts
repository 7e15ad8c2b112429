/**
 * How many warm workers each function starts with: the most invocations of
 * that function in flight at once if each took `stretch` × its duration plus
 * `padMs` (turnaround is longer than duration under load). The pool still
 * grows on demand; this only keeps cold starts out of most measurements.
 */
import type { TraceInvocation } from "../contracts/trace.js";

export function prewarmCounts(
  trace: readonly TraceInvocation[],
  opts: { stretch?: number; padMs?: number; maxPerFunction?: number; maxTotal?: number } = {},
): Map<string, number> {
  const stretch = opts.stretch ?? 4;
  const padMs = opts.padMs ?? 100;
  const cap = opts.maxPerFunction ?? 12;
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
  // Each worker is a Node process (tens of MB): beyond the total, scale down, keeping one per function.
  const maxTotal = opts.maxTotal ?? 48;
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  if (total > maxTotal) {
    const scale = maxTotal / total;
    for (const [fn, n] of counts) counts.set(fn, Math.max(1, Math.floor(n * scale)));
  }
  return counts;
}
