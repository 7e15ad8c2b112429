/**
 * An observe-only Backend (mode "cfs", sensor "none") for the daemon's tests
 * until the real backends are wired: it changes no task (exactly what the cfs
 * baseline does) and keeps what it was told, so tests can check what the
 * daemon sent down. Bursts are pushed by the test through `emitBurst`.
 */

import type {
  Backend,
  BackendStatus,
  BurstSample,
  InvocationExit,
  InvocationLimits,
} from "../../src/backend/types.js";
import type { Policy } from "../../src/contracts/policy.js";

export class ObserveBackend implements Backend {
  readonly mode = "cfs" as const;
  readonly sensor = "none" as const;
  readonly policies: Policy[] = [];
  readonly sandboxes = new Map<string, string>();
  readonly started: { fn: string; pid: number }[] = [];
  readonly ended: number[] = [];
  /** The limits each start came with, in order. */
  readonly limits: InvocationLimits[] = [];
  /** Set to make startInvocation throw (a backend refusing, e.g. a full record). */
  refuse: Error | undefined;
  closed = false;
  #listeners: ((s: BurstSample) => void)[] = [];
  #exitListeners: ((e: InvocationExit) => void)[] = [];

  async addSandbox(fn: string, cgroupPath: string): Promise<void> {
    this.sandboxes.set(cgroupPath, fn);
  }
  async removeSandbox(cgroupPath: string): Promise<void> {
    this.sandboxes.delete(cgroupPath);
  }
  startInvocation(fn: string, pid: number, limits: InvocationLimits = {}): void {
    if (this.refuse !== undefined) throw this.refuse;
    this.started.push({ fn, pid });
    this.limits.push(limits);
  }
  onExit(listener: (exit: InvocationExit) => void): void {
    this.#exitListeners.push(listener);
  }
  /** As a backend that follows tasks does when an invocation's task exits. */
  emitExit(exit: InvocationExit): void {
    for (const l of this.#exitListeners) l(exit);
  }
  endInvocation(pid: number): void {
    this.ended.push(pid);
  }
  applyPolicy(policy: Policy): void {
    this.policies.push(policy);
  }
  onBurst(listener: (sample: BurstSample) => void): void {
    this.#listeners.push(listener);
  }
  emitBurst(sample: BurstSample): void {
    for (const l of this.#listeners) l(sample);
  }
  status(): BackendStatus {
    return {
      mode: "cfs",
      sensor: "none",
      reasons: ["observe-only test backend"],
      counters: { nr_policies: this.policies.length },
    };
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}
