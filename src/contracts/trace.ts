/**
 * One invocation of a trace, as the native CSV (docs/formats.md) describes it.
 * Every reader (native CSV, converters, synthesizer) produces these and every
 * consumer (simulator, replay, learner) takes them.
 */
export interface TraceInvocation {
  /** Offset from the trace start, ms; non-decreasing along a trace. */
  arrivalMs: number;
  /** Function name (the CSV's `function` column). */
  fn: string;
  /** Service time, ms. It is the CPU demand unless `cpuMs` is given. */
  durationMs: number;
  /** CPU demand, ms, when part of `durationMs` is blocking time. */
  cpuMs?: number;
  /** Application the function belongs to, when the source trace has one. */
  app?: string;
}

/** CPU an invocation needs: `cpuMs` when present, else its whole duration. */
export function cpuDemandMs(inv: TraceInvocation): number {
  return inv.cpuMs ?? inv.durationMs;
}
