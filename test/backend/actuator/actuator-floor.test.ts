/**
 * The actuator's rules for a caller that is not root, on recorded syscalls
 * (no task is changed): levels never below the floor, never better than
 * the task's own nice, "base" meaning the task as it was, and changes held
 * while suspended then applied on resume. A record that cannot take a task
 * leaves it unchanged.
 */
import { describe, expect, it } from "vitest";
import { Actuator } from "../../../src/backend/actuator/actuator.js";
import type { TaskOriginal, TouchedRecorder } from "../../../src/backend/guardian/touched-types.js";
import { RecordError } from "../../../src/errors.js";
import { baseAttr, type SchedAttr, type Syscalls } from "../../../src/host/syscalls-types.js";

function recorder(originals: Record<number, TaskOriginal>, full = false): TouchedRecorder {
  const marked = new Set<number>();
  return {
    mark(tid) {
      if (full) throw new RecordError("full");
      marked.add(tid);
    },
    release: (tid) => void marked.delete(tid),
    list: () => [...marked],
    markCgroup: () => {},
    releaseCgroup: () => {},
    cgroups: () => [],
    taskOriginal: (tid) => (marked.has(tid) ? originals[tid] : undefined),
    cgroupOriginal: () => undefined,
  };
}

function fakeSyscalls(calls: { tid: number; attr: SchedAttr }[]): Syscalls {
  return {
    kind: "ffi",
    setNice: () => {},
    getNice: () => 0,
    setAttr: (tid, attr) => void calls.push({ tid, attr }),
    getAttr: () => baseAttr(),
    setAffinity: () => {},
    getAffinity: () => [],
  };
}

const NORMAL: TaskOriginal = { policy: 0, nice: 0, rtPriority: 0 };

describe("the actuator under a floor", () => {
  it("raises boosts to the floor and applies nothing when the floor is base", () => {
    const calls: { tid: number; attr: SchedAttr }[] = [];
    const a = new Actuator({
      strategy: "dynamic",
      syscalls: fakeSyscalls(calls),
      touched: recorder({ 11: NORMAL, 12: NORMAL }),
    });
    expect(a.apply(11, -20, 0n, 0, 0)).toBe(true);
    expect(calls).toEqual([]); // floor 0 = base: the task stays as it was
    expect(a.apply(12, -20, 0n, 0, -5)).toBe(true);
    expect(calls.map((c) => c.attr.nice)).toEqual([-5]);
    expect(a.apply(12, 7, 0n, 0, -5)).toBe(true); // a yield is allowed
    expect(calls.map((c) => c.attr.nice)).toEqual([-5, 7]);
    expect(a.counters.floored).toBe(2);
    // Root (no floor) gets the level as asked.
    expect(a.apply(13, -20)).toBe(true);
    expect(calls.at(-1)?.attr.nice).toBe(-20);
  });

  it("never betters a task's own nice or its own SCHED_IDLE", () => {
    const calls: { tid: number; attr: SchedAttr }[] = [];
    const a = new Actuator({
      strategy: "dynamic",
      syscalls: fakeSyscalls(calls),
      touched: recorder({
        21: { policy: 0, nice: 10, rtPriority: 0 },
        22: { policy: 5, nice: 0, rtPriority: 0 },
      }),
    });
    a.apply(21, 5, 0n, 0, 0); // 5 would raise a nice-10 task
    a.apply(22, 5, 0n, 0, 0); // a yield to nice 5 would take it off SCHED_IDLE
    expect(calls).toEqual([]);
    a.apply(21, 15, 0n, 0, 0); // a real yield below its own nice is fine
    expect(calls.map((c) => [c.tid, c.attr.nice])).toEqual([[21, 15]]);
    // Back to base: its own nice 10 again, not 0.
    a.restore(21);
    expect(calls.at(-1)?.attr).toMatchObject({ policy: 0, nice: 10 });
  });

  it("leaves a task alone when the record cannot take it", () => {
    const calls: { tid: number; attr: SchedAttr }[] = [];
    const logs: string[] = [];
    const a = new Actuator({
      strategy: "dynamic",
      syscalls: fakeSyscalls(calls),
      touched: recorder({}, true),
      log: (m) => logs.push(m),
    });
    expect(a.apply(31, -10)).toBe(false);
    expect(a.apply(32, -10)).toBe(false);
    expect(calls).toEqual([]);
    expect(a.counters.recordErrors).toBe(2);
    expect(logs).toHaveLength(1); // at most one line per 10 s
    expect(() => a.ensureMarked(33)).toThrow(RecordError);
  });

  it("holds changes while suspended, restores on suspend, applies on resume, and re-applies on demand", () => {
    const calls: { tid: number; attr: SchedAttr }[] = [];
    const a = new Actuator({
      strategy: "dynamic",
      syscalls: fakeSyscalls(calls),
      touched: recorder({ 41: NORMAL, 42: NORMAL }),
    });
    a.apply(41, -10);
    a.suspend();
    expect(calls.at(-1)).toEqual({ tid: 41, attr: { ...baseAttr() } }); // put back
    const n = calls.length;
    a.apply(42, -3); // held
    a.apply(41, -12); // held
    expect(calls.length).toBe(n);
    a.resume();
    expect(calls.slice(n).map((c) => [c.tid, c.attr.nice])).toEqual([
      [41, -12],
      [42, -3],
    ]);
    expect(a.reapply()).toBe(2);
  });

  it("on resume puts a task back at base only if the boost held before it would have changed it", () => {
    const calls: { tid: number; attr: SchedAttr }[] = [];
    const a = new Actuator({
      strategy: "dynamic",
      syscalls: fakeSyscalls(calls),
      touched: recorder({
        51: NORMAL,
        52: NORMAL,
        53: NORMAL,
        54: { policy: 0, nice: 10, rtPriority: 0 },
      }),
    });
    a.suspend();
    // Each asked for a boost (or a yield), then back to base, both while held.
    a.apply(51, -10, 0n, 51, 0); // a tenant's task: floor 0 leaves it as it was
    a.apply(52, -10, 0n, 52, -5); // an operator's grant of -5
    a.apply(53, -10, 0n, 53); // root: no floor
    a.apply(54, 5, 0n, 54, 0); // a yield above nothing: its own nice is 10
    for (const tid of [51, 52, 53, 54]) a.apply(tid, 0, 0n, tid, tid === 53 ? undefined : 0);
    expect(calls).toEqual([]);
    a.resume();
    // Outside a suspension the same levels change 52 and 53 and put them
    // back; 51 and 54 are never touched, and so it is after a resume.
    expect(calls.map((c) => [c.tid, c.attr.nice])).toEqual([
      [52, 0],
      [53, 0],
    ]);
    const direct: { tid: number; attr: SchedAttr }[] = [];
    const b = new Actuator({
      strategy: "dynamic",
      syscalls: fakeSyscalls(direct),
      touched: recorder({ 51: NORMAL, 54: { policy: 0, nice: 10, rtPriority: 0 } }),
    });
    b.apply(51, -10, 0n, 51, 0);
    b.apply(54, 5, 0n, 54, 0);
    b.apply(51, 0, 0n, 51, 0);
    b.apply(54, 0, 0n, 54, 0);
    expect(direct).toEqual([]);
  });
});
