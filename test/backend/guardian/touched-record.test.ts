/**
 * The touched-task record: what it writes, that repeated marks are free,
 * that the log is compacted, that damage is an error naming the line, and
 * that a new daemon never starts over tasks a previous one left changed.
 * Uses this test process's own tids (mark only records; nothing is changed).
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createTouchedTasks,
  readTouchedRecord,
  taskNow,
  touchedFilePath,
  writeTouchedRecord,
} from "../../../src/backend/guardian/touched.js";
import { taskStartTime } from "../../../src/host/proc-task.js";
import { InputError, UsageError } from "../../../src/errors.js";

let dir = "";
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "alps-touched-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const self = process.pid;

describe("touched-task record", () => {
  it("records a tid with its start time before a change and forgets it on release", () => {
    const touched = createTouchedTasks({ stateDir: dir });
    expect(touched.path).toBe(touchedFilePath(dir));
    const start = taskStartTime(self);
    expect(start).toBeGreaterThan(0);
    touched.mark(self);
    expect(touched.list()).toEqual([self]);
    expect(touched.startTimeOf(self)).toBe(start);
    const original = taskNow(self)?.original;
    expect(original).toMatchObject({ policy: 0, rtPriority: 0 });
    expect(touched.taskOriginal(self)).toEqual(original);
    expect(readTouchedRecord(touched.path)).toEqual({
      owner: { tid: self, startTime: start },
      entries: [{ tid: self, startTime: start, original }],
      cgroups: [],
      torn: false,
    });
    expect(statSync(touched.path).mode & 0o777).toBe(0o600);
    touched.release(self);
    expect(touched.list()).toEqual([]);
    expect(readTouchedRecord(touched.path).entries).toEqual([]);
    touched.close();
  });

  it("writes nothing for a repeated mark or a release of an unknown tid", () => {
    const touched = createTouchedTasks({ stateDir: dir });
    touched.mark(self);
    const size = statSync(touched.path).size;
    for (let i = 0; i < 1000; i++) touched.mark(self);
    touched.release(123_456_789);
    expect(statSync(touched.path).size).toBe(size);
    touched.close();
  });

  it("does not record a task that is already gone", () => {
    const touched = createTouchedTasks({ stateDir: dir });
    touched.mark(2 ** 22 + 7); // above pid_max: never a live task
    expect(touched.list()).toEqual([]);
    touched.close();
  });

  it("compacts the log so it stays proportional to the live set", () => {
    const touched = createTouchedTasks({ stateDir: dir });
    for (let i = 0; i < 5000; i++) {
      touched.mark(self);
      touched.release(self);
    }
    touched.mark(self);
    // Without compaction: 10001 lines of about 20 bytes. The file keeps its
    // preallocated size; the data ends at the first NUL.
    const data = readFileSync(touched.path, "utf8");
    expect(data.indexOf("\0")).toBeLessThan(40_000);
    expect(readTouchedRecord(touched.path).entries.map((e) => e.tid)).toEqual([self]);
    touched.release(self);
    touched.close();
  });

  it("deletes an empty record on close and keeps a non-empty one", () => {
    const a = createTouchedTasks({ stateDir: dir });
    a.close();
    expect(() => statSync(a.path)).toThrow();
    const b = createTouchedTasks({ stateDir: dir });
    b.mark(self);
    b.close();
    expect(readTouchedRecord(b.path).entries.map((e) => e.tid)).toEqual([self]);
  });

  it("refuses to start over live tasks a previous daemon left, but not over gone ones", () => {
    const file = touchedFilePath(dir);
    writeTouchedRecord(file, undefined, [{ tid: self, startTime: taskStartTime(self) as number }]);
    expect(() => createTouchedTasks({ stateDir: dir })).toThrow(UsageError);
    expect(() => createTouchedTasks({ stateDir: dir })).toThrow(/alps restore/);
    // Same tid, other start time: a recycled tid, nothing to restore.
    writeTouchedRecord(file, undefined, [
      { tid: self, startTime: (taskStartTime(self) as number) + 1 },
    ]);
    const touched = createTouchedTasks({ stateDir: dir });
    expect(touched.list()).toEqual([]);
    touched.close();
  });

  it("refuses a record owned by another running alps", () => {
    const file = touchedFilePath(dir);
    writeTouchedRecord(file, { tid: 1, startTime: taskStartTime(1) as number }, []);
    expect(() => createTouchedTasks({ stateDir: dir })).toThrow(/still running/);
  });

  it("reads a missing record as empty and names the line and field of damage", () => {
    expect(readTouchedRecord(join(dir, "none"))).toEqual({
      owner: undefined,
      entries: [],
      cgroups: [],
      torn: false,
    });
    const file = join(dir, "bad");
    writeFileSync(file, "# alps touched-tasks v1\n+ 12 345\n+ 13 x\n");
    const error = (() => {
      try {
        readTouchedRecord(file);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(InputError);
    expect(error).toMatchObject({ file, line: 3, field: "start" });
    writeFileSync(file, "# alps touched-tasks v2\n+ 12 345 0 x 0\n");
    expect(() => readTouchedRecord(file)).toThrow(/bad:2: field 'nice'/);
    writeFileSync(file, "+ 12 345\n* 13\n");
    expect(() => readTouchedRecord(file)).toThrow(/bad:2: field 'op'/);
    writeFileSync(file, "+ 12 345\n- 12\n+ 14 7\n");
    expect(readTouchedRecord(file).entries).toEqual([{ tid: 14, startTime: 7 }]);
    expect(readFileSync(file, "utf8")).toContain("- 12");
  });
});
