/**
 * The summary object (docs/formats.md). The simulator and the real-host replay
 * both print it, so a measured run can be set beside its simulated twin.
 * Field names are the JSON contract (snake_case) and must not change.
 */
export interface Summary {
  policy?: string;
  mode?: string;
  cores: number;
  invocations: number;
  turnaround_ms: { mean: number; p50: number; p90: number; p99: number; max: number };
  slowdown: { mean: number; p50: number; p99: number };
  wait_ms: { mean: number; p99: number };
  context_switches: number;
  makespan_ms: number;
}

/** What `summarize` needs of one finished invocation, measured or simulated. */
export interface FinishedInvocation {
  fn: string;
  arrivalMs: number;
  /** Service time the turnaround is compared with (slowdown = turnaround ÷ duration). */
  durationMs: number;
  completionMs: number;
  /** When it first got a CPU; absent when the source cannot tell (wait then counts as 0). */
  firstStartMs?: number;
}
