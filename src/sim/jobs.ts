/**
 * Per-invocation state every policy shares, in typed arrays indexed by the
 * invocation's position in the trace. The engines only simulate CPU work;
 * blocking time (duration − cpu) is added after the CPU work here.
 */
import { cpuDemandMs, type TraceInvocation } from "../contracts/trace.js";
import { isChecked, type TraceColumns } from "../trace/columns.js";
import type { CompletedInvocation, InvocationOutcome } from "./types.js";

/** A trace as the simulator takes it: invocation objects, or the reader's columns. */
export type SimInput = readonly TraceInvocation[] | TraceColumns;

function isColumns(input: SimInput): input is TraceColumns {
  return !Array.isArray(input);
}

const INF = Number.POSITIVE_INFINITY;

/** The engines trust the table; a bad trace here is a caller bug, so say which invocation. */
function check(i: number, arrival: number, previous: number, duration: number, cpu: number): void {
  if (!Number.isFinite(arrival) || arrival < previous) {
    throw new RangeError(`invocation ${i}: arrivalMs ${arrival} is not finite and non-decreasing`);
  }
  if (!(Number.isFinite(duration) && duration > 0)) {
    throw new RangeError(`invocation ${i}: durationMs ${duration} must be finite and > 0`);
  }
  if (!(Number.isFinite(cpu) && cpu >= 0 && cpu <= duration)) {
    throw new RangeError(`invocation ${i}: cpuMs ${cpu} must be within [0, durationMs]`);
  }
}

/** `check` over columns: one cheap expression per invocation, `check` only to explain a failure. */
function checkColumns(
  n: number,
  arrival: Float64Array,
  duration: Float64Array,
  demand: Float64Array,
): void {
  let previous = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const a = arrival[i] as number;
    const d = duration[i] as number;
    const c = demand[i] as number;
    // The rules `check` states, in one expression (NaN fails every comparison).
    if (!(a >= previous && a > -INF && a < INF && d > 0 && d < INF && c >= 0 && c <= d)) {
      check(i, a, previous, d, c);
    }
    previous = a;
  }
}

export class JobTable {
  readonly n: number;
  readonly arrival: Float64Array;
  /** Service time (CPU + blocking), ms. */
  readonly duration: Float64Array;
  /** CPU demand, ms. */
  readonly demand: Float64Array;
  /** When the invocation first got a CPU (NaN until then). */
  readonly firstStart: Float64Array;
  /** Lengths of uninterrupted runs, only when asked for. */
  readonly runs: number[][] | undefined;
  readonly #input: SimInput;
  /** When each invocation completes (NaN until its CPU work finishes). */
  readonly #completion: Float64Array;
  /** Invocations whose CPU work has finished. */
  #finishedCount = 0;

  /** Columns are read, not copied: the caller must not change them during the run. */
  constructor(input: SimInput, recordRuns: boolean) {
    this.#input = input;
    if (isColumns(input)) {
      const n = input.length;
      this.n = n;
      this.arrival = input.arrival;
      this.duration = input.duration;
      const { arrival, duration, cpu } = input;
      // Without a cpu column the demand is the duration: share the array.
      let demand = duration;
      if (cpu !== undefined) {
        demand = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const c = cpu[i] as number;
          demand[i] = Number.isNaN(c) ? (duration[i] as number) : c;
        }
      }
      // Columns from the native reader obey the rules already; others are checked.
      if (!isChecked(input)) checkColumns(n, arrival, duration, demand);
      this.demand = demand;
    } else {
      const n = input.length;
      this.n = n;
      this.arrival = new Float64Array(n);
      this.duration = new Float64Array(n);
      this.demand = new Float64Array(n);
      let previous = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < n; i++) {
        const inv = input[i] as TraceInvocation;
        const a = inv.arrivalMs;
        const d = inv.durationMs;
        const c = cpuDemandMs(inv);
        check(i, a, previous, d, c);
        previous = a;
        this.arrival[i] = a;
        this.duration[i] = d;
        this.demand[i] = c;
      }
    }
    this.firstStart = new Float64Array(this.n).fill(Number.NaN);
    this.#completion = new Float64Array(this.n).fill(Number.NaN);
    this.runs = recordRuns ? Array.from({ length: this.n }, () => []) : undefined;
  }

  /** The function of invocation `i`. */
  fnAt(i: number): string {
    const input = this.#input;
    if (isColumns(input)) return input.names[input.fn[i] as number] as string;
    return (input[i] as TraceInvocation).fn;
  }

  /** Marks that `j` is on a CPU at `t` (only the first call counts). */
  started(j: number, t: number): void {
    if (Number.isNaN(this.firstStart[j] as number)) this.firstStart[j] = t;
  }

  /** Records one uninterrupted run of `j` (zero-length runs are not runs). */
  ran(j: number, lengthMs: number): void {
    if (this.runs !== undefined && lengthMs > 0) (this.runs[j] as number[]).push(lengthMs);
  }

  /** `j`'s CPU work finished at `t`; its completion follows after its blocking time. */
  finished(j: number, t: number): void {
    if (Number.isNaN(this.#completion[j] as number)) this.#finishedCount++;
    this.#completion[j] = t + ((this.duration[j] as number) - (this.demand[j] as number));
  }

  /** `j` once its CPU work has finished: what a daemon records when it ends. */
  completed(j: number): CompletedInvocation {
    return {
      fn: this.fnAt(j),
      arrivalMs: this.arrival[j] as number,
      cpuMs: this.demand[j] as number,
      completionMs: this.#completion[j] as number,
    };
  }

  /** An invocation with no CPU demand is done with its CPU work on arrival. */
  finishEmpty(j: number): void {
    this.firstStart[j] = this.arrival[j] as number;
    this.finished(j, this.arrival[j] as number);
  }

  /**
   * Completion = CPU work done + the blocking time that follows it, kept as
   * invocations finish (so no pass at the end); the table's own array.
   */
  completions(): Float64Array {
    if (this.#finishedCount < this.n) {
      const i = this.#completion.findIndex(Number.isNaN);
      throw new Error(`simulator bug: invocation ${i} never finished`);
    }
    return this.#completion;
  }

  outcomes(completion: Float64Array): InvocationOutcome[] {
    const input = this.#input;
    const out: InvocationOutcome[] = new Array(this.n);
    for (let i = 0; i < this.n; i++) {
      // From invocation objects, reuse their values (no new number objects
      // for a million outcomes); from columns, read them.
      const inv = isColumns(input) ? undefined : (input[i] as TraceInvocation);
      const outcome: InvocationOutcome = {
        index: i,
        fn: inv === undefined ? this.fnAt(i) : inv.fn,
        arrivalMs: inv === undefined ? (this.arrival[i] as number) : inv.arrivalMs,
        durationMs: inv === undefined ? (this.duration[i] as number) : inv.durationMs,
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
