/**
 * The numbers a user asks first: how each run compares with the baseline on
 * the same trace (the host without alps, `none`, wherever it ran). Groups are
 * chosen by the trace (duration), so both runs are judged on the same
 * invocations:
 *   short = the shorter half of invocations by duration,
 *   long  = the longest 10 %.
 */
import type { FinishedInvocation, Summary } from "../contracts/summary.js";
import type { summarize } from "../sim/index.js";
import type { MeasuredInvocation } from "./types.js";

/** Against the simulated cfs (`alps simulate --compare`), the same ratios. */
export type VsCfs = VsBaseline;

export interface VsBaseline {
  mean_turnaround_ratio: number;
  p99_ratio: number;
  /** Mean slowdown of the shorter half, in this mode (not a ratio: SFS/ALPS papers report it so). */
  short_slowdown: number;
  /** p99 turnaround of the longest 10 % in this run ÷ the same in the baseline. */
  long_p99_ratio: number;
}

export type Summarize = typeof summarize;

export function toFinished(measured: readonly MeasuredInvocation[]): FinishedInvocation[] {
  return measured.map((m) => ({
    fn: m.fn,
    arrivalMs: m.arrivalMs,
    durationMs: m.durationMs,
    completionMs: m.arrivalMs + m.turnaroundMs,
    firstStartMs: m.arrivalMs + Math.max(m.startMs, 0),
  }));
}

/** Trace indices of the shorter half (by duration; ties by index) and of the longest 10 % (at least one). */
export function durationGroups(durations: readonly number[]): {
  short: Set<number>;
  long: Set<number>;
} {
  const order = durations.map((d, i) => [d, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const n = order.length;
  const short = new Set(order.slice(0, Math.floor(n / 2)).map(([, i]) => i));
  const longCount = n === 0 ? 0 : Math.max(1, Math.ceil(n * 0.1));
  const long = new Set(order.slice(n - longCount).map(([, i]) => i));
  return { short, long };
}

function subset(
  measured: readonly MeasuredInvocation[],
  indices: Set<number>,
): MeasuredInvocation[] {
  return measured.filter((m) => indices.has(m.index));
}

export function compareWithBaseline(
  base: readonly MeasuredInvocation[],
  other: readonly MeasuredInvocation[],
  summarize: Summarize,
  cores: number,
): VsBaseline {
  if (base.length !== other.length) {
    throw new Error(
      `cannot compare runs of different traces: the baseline ran ${base.length} invocations, the other ${other.length}`,
    );
  }
  const byIndex = [...base].sort((a, b) => a.index - b.index).map((m) => m.durationMs);
  const { short, long } = durationGroups(byIndex);
  const sum = (ms: readonly MeasuredInvocation[], mode: string): Summary =>
    summarize(toFinished(ms), { cores, label: { mode } });
  const baseAll = sum(base, "baseline");
  const otherAll = sum(other, "other");
  const baseLong = sum(subset(base, long), "baseline");
  const otherLong = sum(subset(other, long), "other");
  const otherShort = sum(subset(other, short), "other");
  return {
    mean_turnaround_ratio: otherAll.turnaround_ms.mean / baseAll.turnaround_ms.mean,
    p99_ratio: otherAll.turnaround_ms.p99 / baseAll.turnaround_ms.p99,
    short_slowdown: otherShort.slowdown.mean,
    long_p99_ratio: otherLong.turnaround_ms.p99 / baseLong.turnaround_ms.p99,
  };
}

/** Mean turnaround of the invocations in `indices`, ms (for tests and the table). */
export function meanTurnaround(
  measured: readonly MeasuredInvocation[],
  indices?: Set<number>,
): number {
  const chosen = indices === undefined ? measured : subset(measured, indices);
  if (chosen.length === 0) return Number.NaN;
  return chosen.reduce((s, m) => s + m.turnaroundMs, 0) / chosen.length;
}

/** `alps simulate --compare`: the simulated runs against the simulated cfs, the same arithmetic. */
export const compareWithCfs = compareWithBaseline;
