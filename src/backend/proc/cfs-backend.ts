/**
 * CFS mode: the baseline. Observes function tasks through the proc sensor
 * and reports their bursts (learning samples), but never changes a task.
 */
import type { Policy } from "../../contracts/policy.js";
import { ProcSensor } from "./proc-sensor.js";
import type { Backend, BackendStatus, BurstSample, InvocationExit } from "../types.js";

export interface CfsOptions {
  /** Poll period, ms. Bursts shorter than this are merged with their neighbours. */
  pollMs?: number;
  reasons?: string[];
}

export function createCfsBackend(opts: CfsOptions = {}): Backend {
  const pollMs = opts.pollMs ?? 10;
  const sensor = new ProcSensor({ periodMs: () => pollMs });
  const listeners: ((sample: BurstSample) => void)[] = [];
  const exitListeners: ((exit: InvocationExit) => void)[] = [];
  const roots = new Set<number>();
  const counters = { nr_invocations: 0, nr_bursts: 0 };
  const reasons = [...(opts.reasons ?? []), "cfs: observe only, no task is changed"];
  sensor.on({
    burstEnded(task, cpuNs) {
      counters.nr_bursts++;
      for (const l of listeners)
        l({ fn: task.fn, tid: task.tid, cpuMs: cpuNs / 1e6, atMs: Date.now() });
    },
    taskExited(task) {
      // The daemon ends an invocation whose task exited (it reads no CPU of its own here).
      if (task.invocation !== task.tid || !roots.delete(task.tid)) return;
      for (const l of exitListeners) l({ pid: task.tid, cpuNs: task.cpuNs - task.firstCpuNs });
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
      roots.add(pid);
      if (sensor.trackInvocation(fn, pid) === undefined)
        queueMicrotask(() => {
          if (roots.delete(pid)) for (const l of exitListeners) l({ pid, cpuNs: undefined });
        });
    },
    endInvocation(pid) {
      roots.delete(pid);
      sensor.untrackInvocation(pid);
    },
    onExit(listener) {
      exitListeners.push(listener);
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
