import type { Policy } from "../contracts/policy.js";
import type { Strategy } from "../contracts/levels.js";

/**
 * The contract between the daemon (src/frontend) and the ways alps can
 * enforce a policy on this host. One direction: the daemon tells a backend
 * about sandboxes, invocations and the policy; the backend reports bursts.
 */

/** How the daemon enforces: alps (learned policy), sfs (FILTER, no learning), cfs (observe only). */
export type Mode = "alps" | "sfs" | "cfs";
export const MODES: readonly Mode[] = ["alps", "sfs", "cfs"];

/** Where task CPU time and state come from. */
export type SensorKind = "bpf" | "proc" | "none";

/** One uninterrupted run of a function task (wake-up to block/exit): a learning sample. */
export interface BurstSample {
  fn: string;
  tid: number;
  /** CPU the burst used, ms. */
  cpuMs: number;
  /** When it ended, ms on the daemon's clock. */
  atMs: number;
  /**
   * When it ended on CLOCK_MONOTONIC, ms, when the sensor stamps it (the BPF
   * one does): a client lines bursts up with its own timestamps by this.
   */
  monoMs?: number;
}

export interface BackendStatus {
  mode: Mode;
  sensor: SensorKind;
  strategy?: Strategy;
  /** Why this backend runs (and why others do not): never empty after a fallback. */
  reasons: string[];
  /** nr_* style counters (events, drops, applied levels, refusals...). */
  counters: Record<string, number>;
}

export interface Backend {
  readonly mode: Mode;
  readonly sensor: SensorKind;
  /** Declare a sandbox: every task in cgroup v2 directory `cgroupPath` (absolute) runs `fn`. */
  addSandbox(fn: string, cgroupPath: string): Promise<void>;
  removeSandbox(cgroupPath: string): Promise<void>;
  /**
   * An invocation of `fn` starts in task `pid`: it, its threads and its
   * children belong to `fn` until `endInvocation`.
   */
  startInvocation(fn: string, pid: number): void;
  /** The invocation ended: its tasks go back to SCHED_OTHER, nice 0 if still alive. */
  endInvocation(pid: number): void;
  /** Replace the policy in force (alps mode); sfs and cfs ignore it. */
  applyPolicy(policy: Policy): void;
  /** Burst samples for the learner. */
  onBurst(listener: (sample: BurstSample) => void): void;
  status(): BackendStatus;
  /** Restore every task this backend changed to SCHED_OTHER, nice 0; detach. Idempotent. */
  close(): Promise<void>;
}
