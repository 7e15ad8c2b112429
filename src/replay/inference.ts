/**
 * How far the invocations the daemon inferred from CPU bursts (driver
 * sandbox: nobody registers them) are from the real ones the replay ran.
 *
 * A burst belongs to a real invocation when its task is the invocation's
 * process (the function's thread; tid = pid for the replay's workers) and it
 * ended after the invocation's first instruction and before the next
 * invocation in that process began: between invocations a worker's thread
 * sleeps, so whatever it ran then was the invocation's own tail (its report,
 * its exit, a wait for a CPU to do them). The end offset shows that tail.
 * What the daemon takes as the invocation's start is what it records: the
 * burst's end minus its CPU, so time spent waiting for a CPU shows as a start
 * offset. Bursts matching no invocation (a runtime's helper threads, a worker
 * starting up) are counted as spurious, with their CPU; those of a process
 * before its first invocation are counted apart (a fork process must never
 * run while it is parked), and the first few are listed.
 */

/** A burst as GET /v1/bursts returns it (the fields used here). */
export interface InferredBurst {
  function: string;
  tid: number;
  cpu_ms: number;
  end_mono_ms: number | null;
}

/** A real invocation: its process and when it ran (CLOCK_MONOTONIC, ms). */
export interface RealInvocation {
  fn: string;
  pid: number;
  startMonoMs: number;
  endMonoMs: number;
  cpuMs: number;
}

/** A burst that matched no real invocation. */
export interface SpuriousBurst {
  tid: number;
  cpu_ms: number;
  end_mono_ms: number;
  /** How long before its process's first invocation it ended, ms; null when the task ran none. */
  before_first_ms: number | null;
}

/** How many spurious bursts a report lists. */
const SPURIOUS_EXAMPLES = 5;

export interface Spread {
  mean: number;
  p50: number;
  p95: number;
}

export interface InferenceReport {
  /** Real invocations. */
  invocations: number;
  /** Bursts of the replay's functions the daemon reported during the run. */
  bursts: number;
  /** Real invocations with at least one burst, with more than one, with none. */
  matched: number;
  split: number;
  missed: number;
  /** Bursts that match no real invocation, and their CPU. */
  spurious: number;
  spurious_cpu_ms: number;
  /**
   * Of those, bursts of a process that ran invocations, ended before its
   * first one began: a warm worker starting up, or a fork process seen while
   * it waited (parked) for its invocation.
   */
  spurious_early: number;
  /** The first few spurious bursts, to tell what they were. */
  spurious_examples: SpuriousBurst[];
  /** Bursts without a monotonic stamp (cannot be placed) and bursts the daemon's ring overwrote first. */
  unstamped: number;
  lost: number;
  /** Inferred start (first burst's end − its CPU) − real first instruction, ms; positive = later. */
  start_offset_ms: Spread;
  /** Last burst's end − real end, ms. */
  end_offset_ms: Spread;
  /** CPU of the matched bursts ÷ the CPU the invocation measured, per matched invocation. */
  cpu_ratio: Spread;
  /** All matched bursts' CPU ÷ all real invocations' CPU. */
  cpu_attributed: number;
}

function spread(values: number[]): Spread {
  if (values.length === 0) return { mean: Number.NaN, p50: Number.NaN, p95: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return {
    mean: values.reduce((a, b) => a + b, 0) / values.length,
    p50: at(0.5),
    p95: at(0.95),
  };
}

export function compareInference(
  real: readonly RealInvocation[],
  bursts: readonly InferredBurst[],
  opts: { functions: ReadonlySet<string>; fromMonoMs: number; toMonoMs: number; lost: number },
): InferenceReport {
  // Invocations per process, in start order: a burst is looked up by its task.
  const byPid = new Map<number, RealInvocation[]>();
  for (const inv of real) {
    const list = byPid.get(inv.pid) ?? [];
    list.push(inv);
    byPid.set(inv.pid, list);
  }
  for (const list of byPid.values()) list.sort((a, b) => a.startMonoMs - b.startMonoMs);
  const matches = new Map<RealInvocation, InferredBurst[]>();
  let counted = 0;
  let unstamped = 0;
  let spurious = 0;
  let spuriousCpu = 0;
  let spuriousEarly = 0;
  const examples: SpuriousBurst[] = [];
  for (const b of bursts) {
    if (!opts.functions.has(b.function)) continue;
    if (b.end_mono_ms === null) {
      unstamped++;
      counted++;
      continue;
    }
    if (b.end_mono_ms < opts.fromMonoMs || b.end_mono_ms > opts.toMonoMs) continue;
    counted++;
    const end = b.end_mono_ms;
    // The last invocation of this process that began before the burst ended.
    const list = byPid.get(b.tid) ?? [];
    let owner: RealInvocation | undefined;
    for (const inv of list) {
      if (inv.startMonoMs > end) break;
      owner = inv;
    }
    if (owner === undefined) {
      spurious++;
      spuriousCpu += b.cpu_ms;
      const first = list[0];
      if (first !== undefined) spuriousEarly++;
      if (examples.length < SPURIOUS_EXAMPLES)
        examples.push({
          tid: b.tid,
          cpu_ms: b.cpu_ms,
          end_mono_ms: end,
          before_first_ms: first === undefined ? null : first.startMonoMs - end,
        });
      continue;
    }
    const matched = matches.get(owner) ?? [];
    matched.push(b);
    matches.set(owner, matched);
  }
  const starts: number[] = [];
  const ends: number[] = [];
  const ratios: number[] = [];
  let split = 0;
  let matchedCpu = 0;
  for (const [inv, list] of matches) {
    list.sort((a, b) => (a.end_mono_ms as number) - (b.end_mono_ms as number));
    const first = list[0] as InferredBurst;
    const last = list[list.length - 1] as InferredBurst;
    if (list.length > 1) split++;
    starts.push((first.end_mono_ms as number) - first.cpu_ms - inv.startMonoMs);
    ends.push((last.end_mono_ms as number) - inv.endMonoMs);
    const cpu = list.reduce((s, b) => s + b.cpu_ms, 0);
    matchedCpu += cpu;
    if (inv.cpuMs > 0) ratios.push(cpu / inv.cpuMs);
  }
  const realCpu = real.reduce((s, inv) => s + inv.cpuMs, 0);
  return {
    invocations: real.length,
    bursts: counted,
    matched: matches.size,
    split,
    missed: real.length - matches.size,
    spurious,
    spurious_cpu_ms: spuriousCpu,
    spurious_early: spuriousEarly,
    spurious_examples: examples,
    unstamped,
    lost: opts.lost,
    start_offset_ms: spread(starts),
    end_offset_ms: spread(ends),
    cpu_ratio: spread(ratios),
    cpu_attributed: realCpu > 0 ? matchedCpu / realCpu : Number.NaN,
  };
}
