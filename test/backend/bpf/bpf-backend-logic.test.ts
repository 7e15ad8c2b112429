/**
 * The BPF backend's TypeScript logic with a fake addon (no root, no BPF):
 * what it writes to the maps and in which order, which events reach the
 * actuator and the learner, the resync after ring-buffer drops, and the
 * order of close. What the kernel does with those writes is the kernel
 * tests' job (test/kernel/bpf-*.test.ts).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { type BpfBackend, createBpfBackend } from "../../../src/backend/bpf/bpf-backend.js";
import type { BurstSample } from "../../../src/backend/types.js";
import {
  BASE_NICE,
  curveForPolicy,
  dynamicLevel,
  levelThresholdsMs,
} from "../../../src/contracts/levels.js";
import { emptyPolicy, type Policy } from "../../../src/contracts/policy.js";
import { parsePolicyText } from "../../../src/frontend/policy-file.js";
import {
  type AlpsEvent,
  COUNTER_NAMES,
  EV_BLOCKED,
  EV_EXITED,
  EV_LEVEL,
  STRATEGY_CODE,
  STRATEGY_OBSERVE,
  TASK_SEEN_RUNNING,
} from "../../../src/host/addon-types.js";
import { FakeAddon } from "./fake-addon.js";

/** Above pid_max (4194304): /proc has no such task, so no helper threads are listed. */
const PID = 4_194_400;

const policy: Policy = {
  ...emptyPolicy(),
  functions: {
    fast: { priority: 1, predicted_ms: 4, slice_ms: 8 },
    slow: { priority: 2, predicted_ms: 400, slice_ms: 30 },
  },
};

function event(e: Partial<AlpsEvent> & Pick<AlpsEvent, "type" | "tid">): AlpsEvent {
  return { fn: 0, level: 0, cpuNs: 0, tsNs: 0, ...e };
}

let backend: BpfBackend | undefined;
afterEach(async () => {
  await backend?.close();
  backend = undefined;
  vi.useRealTimers();
});

async function start(
  addon: FakeAddon,
  extra: Partial<Parameters<typeof createBpfBackend>[0]> = {},
): Promise<BpfBackend> {
  backend = await createBpfBackend({
    strategy: "dynamic",
    addon,
    objectPath: "/fake/alps.bpf.o",
    // Group weights write cgroup and autogroup files of the host: not here.
    groupWeights: false,
    ...extra,
  });
  return backend;
}

describe("BPF backend with a fake addon", () => {
  it("opens the object, writes the config and the default entry, then starts events", async () => {
    const addon = new FakeAddon();
    await start(addon);
    expect(addon.openedPath).toBe("/fake/alps.bpf.o");
    expect(addon.handle.calls).toEqual([
      `setConfig ${STRATEGY_CODE.dynamic}`,
      "setPolicy 0",
      "startEvents",
    ]);
    expect(addon.handle.config?.baseNice).toBe(BASE_NICE);
  });

  it("writes the level step's table to the kernel's config: only stepped levels are ever matched first", async () => {
    const fine = new FakeAddon();
    await start(fine);
    const fineNs = fine.handle.config?.thresholdsNs ?? [];
    await backend?.close();
    const addon = new FakeAddon();
    await start(addon, { levelStep: 3 });
    const ns = addon.handle.config?.thresholdsNs ?? [];
    expect(ns).toHaveLength(fineNs.length);
    expect(ns).toEqual(
      levelThresholdsMs({ ...curveForPolicy(emptyPolicy()), levelStep: 3 }).map((ms) =>
        BigInt(Math.round(ms * 1e6)),
      ),
    );
    // 40 levels, 15 of them in use: the others repeat a neighbour's threshold.
    expect(new Set(fineNs).size).toBe(40);
    expect(new Set(ns).size).toBe(14);
  });

  it("says why when the object cannot be opened", async () => {
    const addon = new FakeAddon();
    addon.openBpf = () => {
      throw new Error("no BTF");
    };
    await expect(start(addon)).rejects.toThrow(
      "alps mode unavailable: BPF load/attach of /fake/alps.bpf.o failed: no BTF",
    );
  });

  it("writes one policy entry per function and clears those a later policy drops", async () => {
    const addon = new FakeAddon();
    const b = await start(addon);
    b.applyPolicy(policy);
    const fast = b.fnId("fast") as number;
    const slow = b.fnId("slow") as number;
    expect([fast, slow].sort()).toEqual([1, 2]);
    expect(addon.handle.policy.get(fast)).toMatchObject({
      predictedNs: 4_000_000n,
      sliceNs: 8_000_000n,
    });
    b.applyPolicy({ ...emptyPolicy(), functions: { fast: policy.functions.fast! } });
    expect(addon.handle.policy.has(slow)).toBe(false);
    expect(addon.handle.calls).toContain(`clearPolicy ${slow}`);
    // Nothing holds "slow" any more: its id is given back.
    expect(b.fnId("slow")).toBeUndefined();
  });

  it("applies an invocation's first level before registering it at that level", async () => {
    const addon = new FakeAddon();
    const b = await start(addon);
    b.applyPolicy(policy);
    addon.handle.calls.length = 0;
    b.startInvocation("fast", PID);
    const curve = curveForPolicy(policy);
    const level = dynamicLevel(4, 0, 8, curve, levelThresholdsMs(curve));
    expect(level).toBeLessThan(BASE_NICE);
    const id = b.fnId("fast") as number;
    expect(addon.handle.calls).toEqual([
      `setAttr ${PID} ${level}`,
      `registerTask ${PID} ${id} ${level} ${PID}`,
    ]);
    expect(b.actuator.appliedLevel(PID)).toBe(level);
    expect(b.status().counters.nr_invocations).toBe(1);
  });

  it("a function the policy does not name starts from the default entry's slice and level", async () => {
    const addon = new FakeAddon();
    const b = await start(addon, { sliceRequest: "function" });
    b.applyPolicy(policy);
    addon.handle.calls.length = 0;
    b.startInvocation("unknown", PID);
    const curve = curveForPolicy(policy);
    const d = policy.default;
    const level = dynamicLevel(d.predicted_ms, 0, d.slice_ms, curve, levelThresholdsMs(curve));
    expect(addon.handle.calls[0]).toBe(`setAttr ${PID} ${level}`);
    if (level < BASE_NICE) expect(addon.attrs.get(PID)?.runtimeNs).toBe(BigInt(d.slice_ms * 1e6));
  });

  // Before: the entry of a new function was looked up as `functions[fn]`,
  // so "constructor" found Object and its NaN slice made the id's write throw.
  it("a function named like an Object.prototype member gets its own entry or none, never Object's", async () => {
    const addon = new FakeAddon();
    const b = await start(addon);
    const entry = { priority: 1, predicted_ms: 3, slice_ms: 6 };
    const named = parsePolicyText(
      // A computed key: the literal `__proto__:` would set the prototype instead.
      JSON.stringify({
        functions: { ["__proto__"]: entry, valueOf: entry },
        default: policy.default,
      }),
      "named.json",
    );
    b.applyPolicy(named);
    for (const fn of ["__proto__", "valueOf"])
      expect(addon.handle.policy.get(b.fnId(fn) as number)).toMatchObject({ sliceNs: 6_000_000n });
    // A policy built as a plain object literal (as any caller may): its
    // inherited members are not entries.
    b.applyPolicy(policy);
    addon.handle.calls.length = 0;
    for (const [i, fn] of ["constructor", "toString", "hasOwnProperty"].entries()) {
      b.startInvocation(fn, PID + i);
      const id = b.fnId(fn) as number;
      expect(id).toBeGreaterThan(0);
      // No entry of its own: the kernel falls back to the default (entry 0).
      expect(addon.handle.policy.has(id)).toBe(false);
    }
    expect(addon.handle.calls.filter((c) => c.startsWith("setPolicy"))).toEqual([]);
  });

  it("applies LEVEL events of tracked tasks, counts stale ones, and records the latency", async () => {
    const addon = new FakeAddon();
    const b = await start(addon);
    b.applyPolicy(policy);
    b.startInvocation("slow", PID);
    const id = b.fnId("slow") as number;
    addon.nowNs = 5_000_000_000n;
    addon.handle.emit(event({ type: EV_LEVEL, tid: PID, fn: id, level: 3, tsNs: 4_999_000_000 }));
    expect(b.actuator.appliedLevel(PID)).toBe(3);
    expect(b.latenciesNs()).toEqual([1_000_000]);
    addon.handle.emit(event({ type: EV_LEVEL, tid: PID + 1, fn: id, level: -5 }));
    expect(b.actuator.appliedLevel(PID + 1)).toBeUndefined();
    expect(b.status().counters.nr_stale_events).toBe(1);
  });

  it("turns BLOCKED into a burst sample of the named function, and counts those it cannot name", async () => {
    const addon = new FakeAddon();
    const b = await start(addon);
    b.applyPolicy(policy);
    const samples: BurstSample[] = [];
    b.onBurst((s) => samples.push(s));
    const id = b.fnId("fast") as number;
    addon.handle.emit(
      event({ type: EV_BLOCKED, tid: 7, fn: id, cpuNs: 2_500_000, tsNs: Number(addon.nowNs) }),
      event({ type: EV_BLOCKED, tid: 8, fn: 999, cpuNs: 1_000_000 }),
      event({ type: EV_BLOCKED, tid: 9, fn: id, cpuNs: 0 }),
    );
    expect(samples).toHaveLength(1);
    expect(samples[0]).toMatchObject({ fn: "fast", tid: 7, cpuMs: 2.5 });
    const counters = b.status().counters;
    expect(counters.nr_samples).toBe(1);
    expect(counters.nr_samples_unattributed).toBe(1);
  });

  it("hands over held-back samples and exits at an invocation's start and end, on flush and at close", async () => {
    const addon = new FakeAddon();
    const b = await start(addon);
    b.applyPolicy(policy);
    const samples: BurstSample[] = [];
    const exits: number[] = [];
    b.onBurst((s) => samples.push(s));
    b.onExit?.((e) => exits.push(e.pid));
    const id = b.fnId("fast") as number;
    const blocked = (tid: number, cpuNs: number): AlpsEvent =>
      event({ type: EV_BLOCKED, tid, fn: id, cpuNs, tsNs: Number(addon.nowNs) });
    b.startInvocation("fast", PID);
    // Posted without a wake-up: nothing reaches the learner until the daemon reads the ring.
    addon.handle.hold(blocked(PID, 1_000_000), blocked(PID, 2_000_000));
    expect(samples).toHaveLength(0);
    b.endInvocation(PID);
    expect(samples.map((s) => s.cpuMs)).toEqual([1, 2]);
    // An exit held back is seen before the same pid's next start registers it.
    b.startInvocation("fast", PID + 1);
    addon.handle.hold(blocked(PID + 1, 3_000_000), event({ type: EV_EXITED, tid: PID + 1 }));
    b.startInvocation("fast", PID + 2);
    expect(exits).toEqual([PID + 1]);
    expect(samples.map((s) => s.cpuMs)).toEqual([1, 2, 3]);
    addon.handle.hold(blocked(PID + 2, 4_000_000));
    // status reads counters only (a stalled loop must not consume); the daemon flushes first.
    expect(b.status().counters.nr_samples).toBe(3);
    b.flushEvents();
    expect(b.status().counters.nr_samples).toBe(4);
    addon.handle.hold(blocked(PID + 2, 5_000_000));
    // A level event wakes the daemon: the held ones come first, in the ring's order.
    addon.handle.emit(event({ type: EV_LEVEL, tid: PID + 2, fn: id, level: 3, cpuNs: 1 }));
    expect(samples.map((s) => s.cpuMs)).toEqual([1, 2, 3, 4, 5]);
    addon.handle.hold(blocked(PID + 2, 6_000_000));
    await b.close();
    backend = undefined;
    expect(samples.map((s) => s.cpuMs)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("asks the kernel to report at once the burst end of a task its group counts as running", async () => {
    const addon = new FakeAddon();
    const b = await start(addon);
    b.applyPolicy(policy);
    b.startInvocation("fast", PID);
    // No group weights here: the task's own nice carries its level, nothing follows it running.
    expect(b.actuator.countsRunning(PID)).toBe(false);
    expect((addon.handle.tasks.get(PID)?.flags ?? 0) & TASK_SEEN_RUNNING).toBe(0);
  });

  it("forgets an exited task without a syscall", async () => {
    const addon = new FakeAddon();
    const b = await start(addon);
    b.applyPolicy(policy);
    b.startInvocation("fast", PID);
    addon.handle.calls.length = 0;
    addon.handle.emit(event({ type: EV_EXITED, tid: PID }));
    expect(b.actuator.appliedLevel(PID)).toBeUndefined();
    expect(b.actuator.tids()).toEqual([]);
    expect(addon.handle.calls).toEqual([]);
  });

  it("after ring-buffer drops, re-applies the level the task map holds", async () => {
    vi.useFakeTimers();
    const addon = new FakeAddon();
    const b = await start(addon);
    b.applyPolicy(policy);
    b.startInvocation("slow", PID);
    const task = addon.handle.tasks.get(PID);
    if (task === undefined) throw new Error("the invocation was not registered");
    task.level = 4; // the kernel decided 4; its LEVEL event was dropped
    addon.handle.counterValues[COUNTER_NAMES.indexOf("nr_ringbuf_drops")] = 1n;
    // Drops happen while events pour in: the counter is read after a batch (another task's
    // burst here), at most every 250 ms, with nothing ticking while no event comes.
    addon.handle.emit(event({ type: EV_BLOCKED, tid: PID + 7, cpuNs: 1000 }));
    vi.advanceTimersByTime(300);
    expect(b.actuator.appliedLevel(PID)).toBe(4);
    expect(b.status().counters.nr_resyncs).toBe(1);
    // The same drop is answered once.
    addon.handle.emit(event({ type: EV_BLOCKED, tid: PID + 7, cpuNs: 1000 }));
    vi.advanceTimersByTime(300);
    expect(b.status().counters.nr_resyncs).toBe(1);
    // No event, no check: an idle daemon has no timer for it.
    addon.handle.counterValues[COUNTER_NAMES.indexOf("nr_ringbuf_drops")] = 2n;
    vi.advanceTimersByTime(1000);
    expect(b.status().counters.nr_resyncs).toBe(1);
  });

  it("past its yield bound an invocation yields no more: events, resyncs and resume are capped at base", async () => {
    vi.useFakeTimers();
    const addon = new FakeAddon();
    // A bound of a billionth of a predicted run: passed at the first check (100 ms).
    const b = await start(addon, { yieldBound: 1e-9 });
    b.applyPolicy(policy);
    b.startInvocation("slow", PID);
    const yielding = b.actuator.appliedLevel(PID) ?? BASE_NICE;
    expect(yielding).toBeGreaterThan(BASE_NICE);
    vi.advanceTimersByTime(100);
    expect(b.actuator.appliedLevel(PID) ?? BASE_NICE).toBe(BASE_NICE);
    expect(b.status().counters.nr_yields_lifted).toBe(1);
    // The kernel still posts yields from the predicted remaining time; none is applied.
    addon.handle.emit(event({ type: EV_LEVEL, tid: PID, level: yielding - 1, cpuNs: 1000 }));
    expect(b.actuator.appliedLevel(PID) ?? BASE_NICE).toBe(BASE_NICE);
    // Nor is one re-read from the task map after drops, or on resume.
    const task = addon.handle.tasks.get(PID);
    if (task === undefined) throw new Error("the invocation was not registered");
    task.level = yielding - 2;
    addon.handle.counterValues[COUNTER_NAMES.indexOf("nr_ringbuf_drops")] = 1n;
    addon.handle.emit(event({ type: EV_BLOCKED, tid: PID + 7, cpuNs: 1000 }));
    vi.advanceTimersByTime(300);
    expect(b.status().counters.nr_resyncs).toBe(1);
    expect(b.actuator.appliedLevel(PID) ?? BASE_NICE).toBe(BASE_NICE);
    // The BPF backend has both (the Backend contract makes them optional).
    if (b.suspend === undefined || b.resume === undefined) throw new Error("no suspend/resume");
    b.suspend();
    b.resume();
    expect(b.actuator.appliedLevel(PID) ?? BASE_NICE).toBe(BASE_NICE);
    // A boost is still a boost.
    addon.handle.emit(event({ type: EV_LEVEL, tid: PID, level: -5, cpuNs: 1000 }));
    expect(b.actuator.appliedLevel(PID)).toBe(-5);
    // Counted once.
    vi.advanceTimersByTime(300);
    expect(b.status().counters.nr_yields_lifted).toBe(1);
  });

  it("resume asks the kernel once per task: after a suspension, and after the guardian's restore", async () => {
    const addon = new FakeAddon();
    const b = await start(addon);
    b.applyPolicy(policy);
    b.startInvocation("fast", PID);
    const level = b.actuator.appliedLevel(PID);
    expect(level).toBeLessThan(BASE_NICE);
    if (b.suspend === undefined || b.resume === undefined) throw new Error("no suspend/resume");
    const setAttrs = (): string[] => addon.handle.calls.filter((c) => c.startsWith("setAttr"));
    // The guardian is gone: put back; a new one runs: the level again, once.
    b.suspend();
    addon.handle.calls.length = 0;
    b.resume();
    expect(setAttrs()).toEqual([`setAttr ${PID} ${level}`]);
    // The guardian restored while the daemon did not answer (no suspension): once again.
    addon.handle.calls.length = 0;
    b.resume();
    expect(setAttrs()).toEqual([`setAttr ${PID} ${level}`]);
    b.endInvocation(PID);
  });

  it("ends an invocation by unregistering its tasks, then restoring them", async () => {
    const addon = new FakeAddon();
    const b = await start(addon);
    b.applyPolicy(policy);
    b.startInvocation("fast", PID);
    addon.handle.calls.length = 0;
    b.endInvocation(PID);
    expect(addon.handle.calls).toEqual([`unregisterTask ${PID}`, `setAttr ${PID} 0`]);
    expect(b.actuator.tids()).toEqual([]);
  });

  it("looks for an invocation's children in the task map only when the kernel tracked a fork since its start", async () => {
    const addon = new FakeAddon();
    const b = await start(addon);
    b.applyPolicy(policy);
    const forks = COUNTER_NAMES.indexOf("nr_forks_inherited");
    // No tracked fork anywhere since the start: no walk, only its own task is released.
    b.startInvocation("fast", PID);
    addon.handle.calls.length = 0;
    b.endInvocation(PID);
    expect(addon.handle.calls.filter((c) => c.startsWith("tasksOfRoot"))).toEqual([]);
    // A fork tracked meanwhile (here its child, as the kernel would have
    // put it in the map): the walk finds the child, and it is released too.
    b.startInvocation("fast", PID);
    const child = PID + 1;
    addon.handle.registerTask(child, 1, 0, PID);
    addon.handle.counterValues[forks] = (addon.handle.counterValues[forks] ?? 0n) + 1n;
    addon.handle.calls.length = 0;
    b.endInvocation(PID);
    expect(addon.handle.calls).toContain(`tasksOfRoot ${PID}`);
    expect(addon.handle.calls).toContain(`unregisterTask ${child}`);
    expect(addon.handle.tasks.has(child)).toBe(false);
    // An end for a pid with no open invocation still walks (nothing to compare with).
    addon.handle.calls.length = 0;
    b.endInvocation(PID + 5);
    expect(addon.handle.calls).toContain(`tasksOfRoot ${PID + 5}`);
  });

  it("closes in order: events stop, tasks leave the map, levels are restored, the object closes", async () => {
    const addon = new FakeAddon();
    const b = await start(addon);
    b.applyPolicy(policy);
    b.startInvocation("fast", PID);
    addon.handle.calls.length = 0;
    await b.close();
    expect(addon.handle.calls).toEqual([
      "stopEvents",
      `unregisterTask ${PID}`,
      `setAttr ${PID} 0`,
      "close",
    ]);
    await b.close();
    expect(addon.handle.calls.filter((c) => c === "close")).toHaveLength(1);
  });

  it("observe only: the observe strategy in the config, and no task's level changes", async () => {
    const addon = new FakeAddon();
    const b = await start(addon, { observeOnly: true });
    expect(b.mode).toBe("cfs");
    expect(addon.handle.config?.strategy).toBe(STRATEGY_OBSERVE);
    b.applyPolicy(policy);
    addon.handle.calls.length = 0;
    b.startInvocation("fast", PID);
    expect(addon.handle.calls).toEqual([
      `registerTask ${PID} ${b.fnId("fast")} ${BASE_NICE} ${PID}`,
    ]);
  });
});
