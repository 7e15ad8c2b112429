/**
 * A trace as columns: one typed array per field instead of one object per
 * invocation. The native reader fills these straight from the file's bytes,
 * and the simulator reads them without copying, so a million-row trace costs
 * ~30 MB and no garbage collection. `toInvocations` gives the object form.
 * Columns are read-only by convention: consumers keep references to them.
 */
import type { TraceInvocation } from "../contracts/trace.js";

export interface TraceColumns {
  /** Number of invocations; every column holds exactly this many entries. */
  readonly length: number;
  /** `arrivalMs` of each invocation. */
  readonly arrival: Float64Array;
  /** `durationMs` of each invocation. */
  readonly duration: Float64Array;
  /** `cpuMs`, NaN where the invocation has none; undefined when no invocation has one. */
  readonly cpu: Float64Array | undefined;
  /** Index into `names` of each invocation's function. */
  readonly fn: Int32Array;
  /** Index into `names` of each invocation's app, -1 for none; undefined when none has one. */
  readonly app: Int32Array | undefined;
  /** Function and app names, each once. */
  readonly names: readonly string[];
}

/** Columns whose reader enforced the native trace rules as it built them. */
const checked = new WeakSet<TraceColumns>();

/**
 * Vouches for columns built under the native trace rules (docs/formats.md):
 * arrivals finite, ≥ 0 and non-decreasing; durations finite and > 0; cpu
 * within [0, duration]. Consumers that would check the same rules (the
 * simulator) skip them for these. Only for columns nobody changes afterwards.
 */
export function markChecked(cols: TraceColumns): TraceColumns {
  checked.add(cols);
  return cols;
}

/** Whether these very columns were vouched for (a copy or a spread object is not). */
export function isChecked(cols: TraceColumns): boolean {
  return checked.has(cols);
}

/** The invocations the columns hold, as the object form every other module takes. */
export function toInvocations(cols: TraceColumns): TraceInvocation[] {
  const out: TraceInvocation[] = new Array(cols.length);
  const { arrival, duration, cpu, fn, app, names } = cols;
  for (let i = 0; i < cols.length; i++) {
    const inv: TraceInvocation = {
      arrivalMs: arrival[i] as number,
      fn: names[fn[i] as number] as string,
      durationMs: duration[i] as number,
    };
    if (cpu !== undefined) {
      const c = cpu[i] as number;
      if (!Number.isNaN(c)) inv.cpuMs = c;
    }
    if (app !== undefined) {
      const a = app[i] as number;
      if (a >= 0) inv.app = names[a] as string;
    }
    out[i] = inv;
  }
  return out;
}
