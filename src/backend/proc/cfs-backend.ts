/**
 * CFS mode: the baseline. Observes function tasks through the proc sensor
 * and reports their bursts (learning samples), but never changes a task.
 */
import type { Policy } from "../../contracts/policy.js";
import { ProcSensor } from "./proc-sensor.js";
import type { Backend, BackendStatus, BurstSample } from "../types.js";

export interface CfsOptions {
  /** Poll period, ms. Bursts shorter than this are merged with their neighbours. */
  pollMs?: number;
  reasons?: string[];
}

export function createCfsBackend(opts: CfsOptions = {}): Backend {
  const pollMs = opts.pollMs ?? 10;
  const sensor = new ProcSensor({ periodMs: () => pollMs });
  const listeners: ((sample: BurstSample) => void)[] = [];
  const counters = { nr_invocations: 0, nr_bursts: 0 };
  const reasons = [...(opts.reasons ?? []), "cfs: observe only, no task is changed"];
  sensor.on({
    burstEnded(task, cpuNs) {
      counters.nr_bursts++;
      for (const l of listeners)
        l({ fn: task.fn, tid: task.tid, cpuMs: cpuNs / 1e6, atMs: Date.now() });
    },
  });
  sensor.start();
  return {
    mode: "cfs",
    sensor: "proc",
    async addSandbox(fn, cgroupPath) {
      sensor.addCgroup(fn, cgroupPath);
    },
    async removeSandbox(cgroupPath) {
      sensor.removeCgroup(cgroupPath);
    },
    startInvocation(fn, pid) {
      counters.nr_invocations++;
      sensor.trackInvocation(fn, pid);
    },
    endInvocation(pid) {
      sensor.untrackInvocation(pid);
    },
    applyPolicy(_policy: Policy) {
      // Observe only.
    },
    onBurst(listener) {
      listeners.push(listener);
    },
    status(): BackendStatus {
      return {
        mode: "cfs",
        sensor: "proc",
        reasons,
        counters: { ...counters, nr_polls: sensor.polls },
      };
    },
    async close() {
      sensor.stop();
    },
  };
}
