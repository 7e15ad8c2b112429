/**
 * alps mode over the proc sensor (`--mode alps --sensor proc`): the learned
 * policy where BPF cannot load. The level of each function task is computed
 * in user space from the CPU its current burst has used (polled from
 * /proc/<pid>/task/<tid>/schedstat) with the same functions the BPF program
 * and the simulator use (src/contracts/levels.ts), and applied by the same
 * actuator as the BPF backend. Coarser than BPF: a level changes at most
 * once per poll.
 */
import {
  BASE_NICE,
  curveForPolicy,
  curveWithStep,
  dynamicLevel,
  DEFAULT_YIELD_BOUND,
  yieldLiftMs,
  type LevelCurve,
  levelThresholdsMs,
  type Strategy,
  staticLevel,
  type SliceRequest,
} from "../../contracts/levels.js";
import { emptyPolicy, type Policy, policyEntryFor } from "../../contracts/policy.js";
import { Actuator, idleReason, sliceRequestReason } from "../actuator/actuator.js";
import { boostBudgetOf } from "../budget.js";
import { ProcSensor, type SensedTask } from "./proc-sensor.js";
import type { Syscalls } from "../../host/syscalls-types.js";
import { createWeightTargets, targetsReason } from "../actuator/weight-targets.js";
import type { TouchedRecorder } from "../guardian/touched-types.js";
import type {
  Backend,
  BackendStatus,
  BurstSample,
  InvocationExit,
  InvocationLimits,
} from "../types.js";

export interface AlpsProcOptions {
  syscalls: Syscalls;
  strategy?: Strategy;
  touched?: TouchedRecorder;
  /** A fixed band; by default each policy's own (curveForPolicy), as in the BPF backend. */
  curve?: LevelCurve;
  /** Strategy dynamic: nice levels between the levels used (steppedThresholdsMs); default DEFAULT_LEVEL_STEP. */
  levelStep?: number;
  /** Poll period while a boosted task runs, ms. */
  fastPollMs?: number;
  /** Poll period otherwise, ms. */
  idlePollMs?: number;
  reasons?: string[];
  log?: (message: string) => void;
  /** Also request each function's slice as an EEVDF slice (see Actuator). */
  sliceRequest?: SliceRequest;
  /** The EEVDF slice open invocations not boosted ask for, ns (see Actuator). Default 0: none. */
  unboostedSliceNs?: bigint;
  /** Yields at or above this level run under SCHED_IDLE (see Actuator). */
  idleFrom?: number;
  /** Strategy dynamic: yields end this many predicted runs after an invocation starts (yieldLiftMs; default DEFAULT_YIELD_BOUND, 0 = never). */
  yieldBound?: number;
  /** Also write levels on a sandbox's own cpu cgroup or autogroup (weight-targets.ts). Default true. */
  groupWeights?: boolean;
}

export function createAlpsProcBackend(opts: AlpsProcOptions): Backend {
  const strategy = opts.strategy ?? "dynamic";
  let policy: Policy = emptyPolicy();
  const baseCurve = curveWithStep(opts.levelStep);
  let curve = opts.curve ?? curveForPolicy(policy, baseCurve);
  let thresholds = levelThresholdsMs(curve);
  const fastPollMs = opts.fastPollMs ?? 2;
  const idlePollMs = opts.idlePollMs ?? 20;
  const actuator = new Actuator({
    strategy,
    syscalls: opts.syscalls,
    curve: opts.curve ?? baseCurve,
    sliceRequest: opts.sliceRequest ?? "off",
    unboostedSliceNs: opts.unboostedSliceNs ?? 0n,
    ...(opts.idleFrom === undefined ? {} : { idleFrom: opts.idleFrom }),
    ...(opts.touched === undefined ? {} : { touched: opts.touched }),
    ...(opts.log === undefined ? {} : { log: opts.log }),
    ...(opts.groupWeights === false
      ? {}
      : {
          targets: createWeightTargets(
            strategy,
            opts.idleFrom,
            opts.touched,
            opts.log ?? (() => {}),
          ),
        }),
  });
  const listeners: ((sample: BurstSample) => void)[] = [];
  const exitListeners: ((exit: InvocationExit) => void)[] = [];
  const counters = {
    nr_invocations: 0,
    nr_bursts: 0,
    nr_budget_spent: 0,
    nr_yields_lifted: 0,
    nr_invocation_exits: 0,
  };
  const yieldBound = strategy === "dynamic" ? (opts.yieldBound ?? DEFAULT_YIELD_BOUND) : 0;
  /** Limits of each invocation, by its root pid (see the BPF backend: the same rules). */
  const limitsOf = new Map<
    number,
    InvocationLimits & { spent: boolean; liftAtMs: number; lifted: boolean }
  >();
  const floorOf = (root: number | undefined): number | undefined => {
    const l = root === undefined ? undefined : limitsOf.get(root);
    if (l === undefined) return undefined;
    return l.spent ? Math.max(l.floor ?? BASE_NICE, BASE_NICE) : l.floor;
  };
  const reportExit = (exit: InvocationExit): void => {
    counters.nr_invocation_exits++;
    for (const l of exitListeners) l(exit);
  };
  const reasons = [
    ...(opts.reasons ?? []),
    `alps: strategy ${strategy} on the proc sensor, syscalls via ${opts.syscalls.kind}`,
    ...(strategy === "dynamic" ? [idleReason(actuator.idleFrom)] : []),
    targetsReason(actuator.targets),
  ];
  let closed = false;

  /**
   * The level `task` should have now: its function's entry and the CPU this
   * burst used, never a yield once its invocation's bound passed.
   */
  const levelOf = (task: SensedTask): number => {
    if (!task.running) return BASE_NICE;
    const entry = policyEntryFor(policy, task.fn);
    const usedMs = (task.cpuNs - task.burstStartCpuNs) / 1e6;
    const level =
      strategy === "static"
        ? staticLevel(entry.priority, usedMs, entry.slice_ms, curve)
        : dynamicLevel(entry.predicted_ms, usedMs, entry.slice_ms, curve, thresholds);
    const lifted = task.invocation !== undefined && limitsOf.get(task.invocation)?.lifted === true;
    return lifted && level > BASE_NICE ? BASE_NICE : level;
  };
  const sliceNsOf = (task: SensedTask): bigint =>
    BigInt(Math.round(policyEntryFor(policy, task.fn).slice_ms * 1e6));
  const update = (task: SensedTask): void => {
    const level = levelOf(task);
    // A task that blocked keeps its level until it runs again, as in the BPF program.
    if (!task.running) return;
    if (actuator.appliedLevel(task.tid) === (level !== BASE_NICE ? level : undefined)) return;
    actuator.apply(
      task.tid,
      level,
      sliceNsOf(task),
      task.invocation ?? 0,
      floorOf(task.invocation),
    );
  };

  /** A boost's CPU budget is per invocation (all its tasks, all their bursts): see the BPF backend. */
  const checkBudgets = (): void => {
    const used = new Map<number, number>();
    const boosted = new Set<number>();
    for (const task of sensor.tasks()) {
      const root = task.invocation;
      if (root === undefined || limitsOf.get(root)?.boostBudgetNs === undefined) continue;
      used.set(root, (used.get(root) ?? 0) + task.cpuNs - task.firstCpuNs);
      if ((actuator.appliedLevel(task.tid) ?? BASE_NICE) < BASE_NICE) boosted.add(root);
    }
    for (const root of boosted) {
      const l = limitsOf.get(root);
      if (l === undefined || l.spent || l.boostBudgetNs === undefined) continue;
      const fn = sensor.task(root)?.fn ?? "";
      if ((used.get(root) ?? 0) <= boostBudgetOf(l.boostBudgetNs, policy, fn)) continue;
      l.spent = true;
      counters.nr_budget_spent++;
    }
  };

  /** Yield bounds that passed (yieldLiftMs): the next update of each task applies the cap. */
  const liftYields = (): void => {
    const now = performance.now();
    let passed: Set<number> | undefined;
    for (const [root, l] of limitsOf) {
      if (l.lifted || now < l.liftAtMs) continue;
      l.lifted = true;
      (passed ??= new Set()).add(root);
    }
    if (passed === undefined) return;
    // Yielding tasks go to base now, asleep or not (as in the BPF backend),
    // and the count is of the invocations that were yielding then.
    const yielding = new Set<number>();
    for (const task of sensor.tasks()) {
      const root = task.invocation;
      if (root === undefined || !passed.has(root)) continue;
      if ((actuator.appliedLevel(task.tid) ?? BASE_NICE) <= BASE_NICE) continue;
      yielding.add(root);
      actuator.apply(task.tid, BASE_NICE, 0n, root, floorOf(root));
    }
    counters.nr_yields_lifted += yielding.size;
  };

  let boostedRunning = false;
  const sensor = new ProcSensor({ periodMs: () => (boostedRunning ? fastPollMs : idlePollMs) });
  sensor.on({
    taskAdded: update,
    burstStarted: update,
    burstEnded(task, cpuNs) {
      counters.nr_bursts++;
      for (const l of listeners)
        l({ fn: task.fn, tid: task.tid, cpuMs: cpuNs / 1e6, atMs: Date.now() });
    },
    taskExited(task) {
      actuator.forget(task.tid);
      if (task.invocation === task.tid && limitsOf.has(task.tid))
        reportExit({ pid: task.tid, cpuNs: task.cpuNs - task.firstCpuNs });
    },
    polled() {
      checkBudgets();
      liftYields();
      boostedRunning = false;
      for (const task of sensor.tasks()) {
        update(task);
        // Boosted tasks keep their level while blocked: poll fast to see them wake.
        if (actuator.appliedLevel(task.tid) !== undefined) boostedRunning = true;
      }
    },
  });
  sensor.start();

  return {
    mode: "alps",
    sensor: "proc",
    async addSandbox(fn, cgroupPath) {
      sensor.addCgroup(fn, cgroupPath);
    },
    async removeSandbox(cgroupPath) {
      sensor.removeCgroup(cgroupPath);
    },
    startInvocation(fn, pid, limits = {}) {
      if (closed) throw new Error("alps proc backend is closed");
      // A task the record cannot take is refused (RecordError) before anything is tracked.
      const entry = policyEntryFor(policy, fn);
      const first =
        strategy === "static"
          ? staticLevel(entry.priority, 0, entry.slice_ms, curve)
          : dynamicLevel(entry.predicted_ms, 0, entry.slice_ms, curve, thresholds);
      if (first !== BASE_NICE && Math.max(first, limits.floor ?? first) !== BASE_NICE)
        actuator.ensureMarked(pid);
      counters.nr_invocations++;
      limitsOf.set(pid, {
        ...limits,
        spent: false,
        liftAtMs: performance.now() + yieldLiftMs(yieldBound, entry.predicted_ms),
        lifted: false,
      });
      if (sensor.trackInvocation(fn, pid) === undefined) {
        // Gone already: say so once the daemon has it open.
        queueMicrotask(() => {
          if (limitsOf.has(pid)) reportExit({ pid, cpuNs: undefined });
        });
      }
      boostedRunning = true;
      sensor.reschedule();
    },
    endInvocation(pid) {
      for (const task of [...sensor.tasks()])
        if (task.invocation === pid) actuator.restore(task.tid);
      sensor.untrackInvocation(pid);
      limitsOf.delete(pid);
    },
    onExit(listener) {
      exitListeners.push(listener);
    },
    suspend() {
      actuator.suspend();
    },
    resume() {
      // After a suspension resume applies what was asked meanwhile; after the
      // guardian's restore (no suspension) everything is asked for again.
      if (!actuator.resume()) actuator.reapply();
    },
    applyPolicy(next) {
      policy = next;
      if (opts.curve === undefined) {
        curve = curveForPolicy(next, baseCurve);
        thresholds = levelThresholdsMs(curve);
      }
    },
    onBurst(listener) {
      listeners.push(listener);
    },
    status(): BackendStatus {
      return {
        mode: "alps",
        sensor: "proc",
        strategy,
        reasons: [...reasons, sliceRequestReason(actuator)],
        // The actuator's counters under the BPF backend's names: one set of backend event names for alerts.
        counters: {
          ...counters,
          nr_applied: actuator.counters.applied,
          nr_restored: actuator.counters.restored,
          nr_task_gone: actuator.counters.gone,
          nr_apply_errors: actuator.counters.errors,
          nr_record_errors: actuator.counters.recordErrors,
          nr_floored: actuator.counters.floored,
          ...prefixed(actuator.targets?.counters ?? {}),
          nr_polls: sensor.polls,
        },
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      sensor.stop();
      actuator.restoreAll();
    },
  };
}

/** `nr_`-prefixed copies of a counter object's numeric fields. */
function prefixed(counters: object): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(counters))
    if (typeof value === "number") out[`nr_${key}`] = value;
  return out;
}
