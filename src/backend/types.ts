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

/** What the daemon asks of one invocation beyond its function (docs/safety.md, "Callers that are not root"). */
export interface InvocationLimits {
  /**
   * Lowest level any task of the invocation may get: a caller that is not
   * root gets 0 (no boost) or the floor its operator configured. Absent: the
   * band's own (the platform, root).
   */
  floor?: number;
  /** CPU the invocation may use in total, over all its bursts, and still be boosted, ns. Absent: no limit. */
  boostBudgetNs?: number;
}

/** The root task of an invocation exited (the daemon ends such an invocation itself). */
export interface InvocationExit {
  pid: number;
  /** CPU the task used since it was registered, as the kernel counted it, ns; undefined when unknown. */
  cpuNs: number | undefined;
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
  startInvocation(fn: string, pid: number, limits?: InvocationLimits): void;
  /** The invocation ended: its tasks go back as they were (original policy and nice) if still alive. */
  endInvocation(pid: number): void;
  /** Replace the policy in force (alps mode); sfs and cfs ignore it. */
  applyPolicy(policy: Policy): void;
  /** Burst samples for the learner. */
  onBurst(listener: (sample: BurstSample) => void): void;
  /** The root task of a registered invocation exited (backends that follow tasks report it). */
  onExit?(listener: (exit: InvocationExit) => void): void;
  /**
   * Put every task this backend changed back as it was and change none until
   * `resume` (the guardian is gone: nothing would undo a change if the daemon
   * died now). Tracking goes on.
   */
  suspend?(): void;
  /**
   * Change tasks again, and re-apply every tracked task's level now: after
   * `suspend`, or after the guardian restored the tasks while the daemon did
   * not answer. Harmless when nothing was suspended.
   */
  resume?(): void;
  /**
   * Hand over now what the backend's sensor holds back until its next
   * wake-up (the BPF sensor's burst samples and exits): the daemon calls it
   * before it acts on what they tell (a start, an end, the learner, the
   * reaper, the bursts read, stopping).
   */
  flushEvents?(): void;
  status(): BackendStatus;
  /** Put every task this backend changed back as it was; detach. Idempotent. */
  close(): Promise<void>;
}
