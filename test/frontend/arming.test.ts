/**
 * The daemon arms on its touched-task record (src/frontend/arming.ts): the
 * mark that takes the record from empty to non-empty calls onArm (the
 * immediate heartbeat and the fast tick) once the entry is written and
 * before the caller can change anything; every later empty → non-empty
 * arms again; a mark the record refuses arms nothing.
 */
import { describe, expect, it } from "vitest";
import { armingRecord } from "../../src/frontend/arming.js";
import { createMemoryTouched } from "../../src/backend/guardian/touched-memory.js";
import type { TouchedRecorder } from "../../src/backend/guardian/touched-types.js";

// Made-up tids far above pid_max: recorded with an unknown original, nothing on the host read or changed.
const TID = 4_000_000_001;
const TID2 = 4_000_000_002;

describe("armingRecord", () => {
  it("arms on the first mark, after the entry is recorded, and not on later ones", () => {
    const inner = createMemoryTouched();
    const seenAtArm: number[][] = [];
    const record = armingRecord(inner, () => seenAtArm.push(inner.list()));
    expect(record.empty).toBe(true);
    record.mark(TID);
    expect(seenAtArm).toEqual([[TID]]);
    record.mark(TID2);
    record.mark(TID);
    expect(record.arms).toBe(1);
    expect(record.empty).toBe(false);
    expect(record.list().sort()).toEqual([TID, TID2]);
  });

  it("arms again on the next mark once every task and cgroup is released", () => {
    const inner = createMemoryTouched();
    let arms = 0;
    const record = armingRecord(inner, () => arms++);
    record.mark(TID);
    record.markCgroup("/nonexistent/alps-test-cgroup");
    record.release(TID);
    // A cgroup is still recorded: not empty, no new arm.
    expect(record.empty).toBe(false);
    record.mark(TID2);
    expect(arms).toBe(1);
    record.release(TID2);
    record.releaseCgroup("/nonexistent/alps-test-cgroup");
    expect(record.empty).toBe(true);
    // A cgroup weight alone arms too (the lead's actuator writes those).
    record.markCgroup("/nonexistent/alps-test-cgroup");
    expect(arms).toBe(2);
    expect(record.cgroups()).toEqual(["/nonexistent/alps-test-cgroup"]);
  });

  it("does not arm when the record refuses the entry (then nothing is changed either)", () => {
    const inner: TouchedRecorder = {
      ...createMemoryTouched(),
      mark: () => {
        throw new Error("record full");
      },
    };
    let arms = 0;
    const record = armingRecord(inner, () => arms++);
    expect(() => record.mark(TID)).toThrow(/record full/);
    expect(arms).toBe(0);
    expect(record.empty).toBe(true);
  });

  it("starts armed when the record already holds entries (a restart that found tasks still changed)", () => {
    const inner = createMemoryTouched();
    inner.mark(TID);
    let arms = 0;
    const record = armingRecord(inner, () => arms++);
    expect(record.empty).toBe(false);
    record.mark(TID2);
    expect(arms).toBe(0);
  });
});
