/**
 * Offered load of a trace and the transformations every converter and the
 * synthesizer share (time scale, duration cap, rescale to a target load).
 *
 * Offered load on C cores = total CPU demand ÷ (C × span), where span is the
 * time from the first to the last arrival. Scaling every arrival by k scales
 * the span by k, so a target load is hit exactly by one multiplication.
 */
import { cpuDemandMs, type TraceInvocation } from "../contracts/trace.js";
import { UsageError } from "../errors.js";

/** Time from the first to the last arrival, ms (0 for fewer than two invocations). */
export function arrivalSpanMs(invocations: readonly TraceInvocation[]): number {
  if (invocations.length < 2) return 0;
  return (
    (invocations[invocations.length - 1] as TraceInvocation).arrivalMs -
    (invocations[0] as TraceInvocation).arrivalMs
  );
}

export function totalCpuMs(invocations: readonly TraceInvocation[]): number {
  let sum = 0;
  for (const inv of invocations) sum += cpuDemandMs(inv);
  return sum;
}

/** Offered load on `cores` cores; undefined when the span is 0 (it would be infinite). */
export function offeredLoad(
  invocations: readonly TraceInvocation[],
  cores: number,
): number | undefined {
  const span = arrivalSpanMs(invocations);
  if (span <= 0) return undefined;
  return totalCpuMs(invocations) / (cores * span);
}

/** Multiplies every arrival by `factor` (> 1 stretches, < 1 compresses). In place. */
export function scaleArrivals(invocations: TraceInvocation[], factor: number): void {
  if (!(factor > 0 && Number.isFinite(factor)))
    throw new UsageError(`time scale must be a positive number, got ${factor}`);
  for (const inv of invocations) inv.arrivalMs *= factor;
}

/**
 * Caps every duration (and CPU time) at `maxMs`, so a small host can replay
 * the trace. Returns how many invocations were capped (callers report it).
 */
export function capDurations(invocations: TraceInvocation[], maxMs: number): number {
  if (!(maxMs > 0 && Number.isFinite(maxMs)))
    throw new UsageError(`max duration must be a positive number of ms, got ${maxMs}`);
  let capped = 0;
  for (const inv of invocations) {
    if (inv.durationMs > maxMs) {
      inv.durationMs = maxMs;
      capped++;
    }
    if (inv.cpuMs !== undefined && inv.cpuMs > inv.durationMs) inv.cpuMs = inv.durationMs;
  }
  return capped;
}

/** Rescales arrivals so the offered load on `cores` is exactly `load`. In place. */
export function rescaleToLoad(invocations: TraceInvocation[], cores: number, load: number): void {
  if (!(cores > 0 && Number.isFinite(cores)))
    throw new UsageError(`--cores must be a positive number, got ${cores}`);
  if (!(load > 0 && Number.isFinite(load)))
    throw new UsageError(`--load must be a positive number, got ${load}`);
  const current = offeredLoad(invocations, cores);
  if (current === undefined) {
    throw new UsageError(
      "cannot rescale to a load: the trace needs at least two distinct arrival times",
    );
  }
  scaleArrivals(invocations, current / load);
}

/** Rounds arrivals and durations to microseconds: readable files, nothing lost that a scheduler can see. */
export function roundToMicros(invocations: TraceInvocation[]): void {
  for (const inv of invocations) {
    inv.arrivalMs = Math.round(inv.arrivalMs * 1000) / 1000;
    // Never round a positive duration down to 0: it must stay a valid row.
    inv.durationMs = Math.max(Math.round(inv.durationMs * 1000) / 1000, 0.001);
    if (inv.cpuMs !== undefined)
      inv.cpuMs = Math.min(Math.round(inv.cpuMs * 1000) / 1000, inv.durationMs);
  }
}
