/**
 * Per-invocation state every policy shares, in typed arrays indexed by the
 * invocation's position in the trace. The engines only simulate CPU work;
 * blocking time (duration − cpu) is added after the CPU work here.
 */
import { cpuDemandMs, type TraceInvocation } from "../contracts/trace.js";
import type { InvocationOutcome } from "./types.js";

export class JobTable {
  readonly n: number;
  readonly arrival: Float64Array;
  /** Service time (CPU + blocking), ms. */
  readonly duration: Float64Array;
  /** CPU demand, ms. */
  readonly demand: Float64Array;
  /** When the invocation first got a CPU (NaN until then). */
  readonly firstStart: Float64Array;
  /** When its CPU work finished (NaN until then). */
  readonly cpuDone: Float64Array;
  /** Lengths of uninterrupted runs, only when asked for. */
  readonly runs: number[][] | undefined;

  constructor(
    readonly trace: readonly TraceInvocation[],
    recordRuns: boolean,
  ) {
    const n = trace.length;
    this.n = n;
    this.arrival = new Float64Array(n);
    this.duration = new Float64Array(n);
    this.demand = new Float64Array(n);
    this.firstStart = new Float64Array(n).fill(Number.NaN);
    this.cpuDone = new Float64Array(n).fill(Number.NaN);
    this.runs = recordRuns ? Array.from({ length: n }, () => []) : undefined;
    let previous = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const inv = trace[i] as TraceInvocation;
      const cpu = cpuDemandMs(inv);
      // The engines trust these; a bad trace here is a caller bug, so say which invocation.
      if (!Number.isFinite(inv.arrivalMs) || inv.arrivalMs < previous) {
        throw new RangeError(
          `invocation ${i}: arrivalMs ${inv.arrivalMs} is not finite and non-decreasing`,
        );
      }
      if (!(Number.isFinite(inv.durationMs) && inv.durationMs > 0)) {
        throw new RangeError(
          `invocation ${i}: durationMs ${inv.durationMs} must be finite and > 0`,
        );
      }
      if (!(Number.isFinite(cpu) && cpu >= 0 && cpu <= inv.durationMs)) {
        throw new RangeError(`invocation ${i}: cpuMs ${cpu} must be within [0, durationMs]`);
      }
      previous = inv.arrivalMs;
      this.arrival[i] = inv.arrivalMs;
      this.duration[i] = inv.durationMs;
      this.demand[i] = cpu;
    }
  }

  /** Marks that `j` is on a CPU at `t` (only the first call counts). */
  started(j: number, t: number): void {
    if (Number.isNaN(this.firstStart[j] as number)) this.firstStart[j] = t;
  }

  /** Records one uninterrupted run of `j` (zero-length runs are not runs). */
  ran(j: number, lengthMs: number): void {
    if (this.runs !== undefined && lengthMs > 0) (this.runs[j] as number[]).push(lengthMs);
  }

  finished(j: number, t: number): void {
    this.cpuDone[j] = t;
  }

  /** An invocation with no CPU demand is done with its CPU work on arrival. */
  finishEmpty(j: number): void {
    const t = this.arrival[j] as number;
    this.firstStart[j] = t;
    this.cpuDone[j] = t;
  }

  /** Completion = CPU work done + the blocking time that follows it. */
  completions(): Float64Array {
    const out = new Float64Array(this.n);
    for (let i = 0; i < this.n; i++) {
      const cpuDone = this.cpuDone[i] as number;
      if (Number.isNaN(cpuDone)) throw new Error(`simulator bug: invocation ${i} never finished`);
      out[i] = cpuDone + ((this.duration[i] as number) - (this.demand[i] as number));
    }
    return out;
  }

  outcomes(completion: Float64Array): InvocationOutcome[] {
    const out: InvocationOutcome[] = new Array(this.n);
    for (let i = 0; i < this.n; i++) {
      const inv = this.trace[i] as TraceInvocation;
      const outcome: InvocationOutcome = {
        index: i,
        fn: inv.fn,
        arrivalMs: inv.arrivalMs,
        durationMs: inv.durationMs,
        firstStartMs: this.firstStart[i] as number,
        completionMs: completion[i] as number,
        cpuMs: this.demand[i] as number,
      };
      if (this.runs !== undefined) outcome.runs = this.runs[i] as number[];
      out[i] = outcome;
    }
    return out;
  }
}
