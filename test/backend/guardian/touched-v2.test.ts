/**
 * Record v2: originals of tasks and of cpu cgroups, a preallocated file that
 * a full disk cannot fail while its room lasts, torn lines, the guardian's
 * follower (deleted file, compaction), and restoreCgroup. Cgroups here are
 * plain directories with cpu.weight / cpu.shares / cpu.idle files (the
 * record only reads and writes those files); nothing is changed in the
 * kernel. The ENOSPC case mounts a small tmpfs (root only).
 */
import { execFileSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createMemoryTouched } from "../../../src/backend/guardian/touched-memory.js";
import { restoreCgroup, restoreTasks } from "../../../src/backend/guardian/restore.js";
import { baseAttr, type SchedAttr } from "../../../src/host/syscalls-types.js";
import {
  createTouchedTasks,
  inheritedOriginal,
  readTouchedRecord,
  taskNow,
  touchedFilePath,
} from "../../../src/backend/guardian/touched.js";
import { RecordFollower } from "../../../src/backend/guardian/touched-follow.js";
import { RecordError } from "../../../src/errors.js";
import { isRoot, requireHost } from "../../helpers/host.js";

let dir = "";
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "alps-touched-v2-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const self = process.pid;

/** A directory that looks like a cpu cgroup to the record. */
function fakeCgroup(name: string, files: Record<string, string>): string {
  const d = join(dir, name);
  mkdirSync(d);
  for (const [file, value] of Object.entries(files)) writeFileSync(join(d, file), `${value}\n`);
  return d;
}

const read = (d: string, file: string): string => readFileSync(join(d, file), "utf8").trim();

describe("touched record v2: cgroups", () => {
  it("records a v2 cgroup's weight and idle flag, and a v1 cgroup's shares, before a change", () => {
    const v2 = fakeCgroup("sandbox a", { "cpu.weight": "100", "cpu.idle": "0" });
    const v1 = fakeCgroup("v1", { "cpu.shares": "1024" });
    const touched = createTouchedTasks({ stateDir: join(dir, "state") });
    touched.markCgroup(v2);
    touched.markCgroup(v1);
    // The caller changes them after marking; a second mark records nothing new.
    writeFileSync(join(v2, "cpu.weight"), "10000\n");
    writeFileSync(join(v2, "cpu.idle"), "1\n");
    touched.markCgroup(v2);
    expect(touched.cgroups().sort()).toEqual([v1, v2].sort());
    expect(touched.cgroupOriginal(v2)).toMatchObject({ kind: "v2", weight: 100, idle: 0 });
    expect(touched.cgroupOriginal(v1)).toMatchObject({ kind: "v1", weight: 1024, idle: undefined });
    const record = readTouchedRecord(touched.path);
    expect(record.cgroups.map((c) => c.dir).sort()).toEqual([v1, v2].sort());
    expect(record.cgroups.find((c) => c.dir === v2)?.original).toEqual(touched.cgroupOriginal(v2));
    // A path with a space is escaped in the file and read back whole.
    expect(readFileSync(touched.path, "utf8")).toContain("sandbox%20a");
    touched.releaseCgroup(v1);
    expect(readTouchedRecord(touched.path).cgroups.map((c) => c.dir)).toEqual([v2]);
    touched.close();
  });

  it("refuses a directory that is not a cpu cgroup, and ignores one that is gone", () => {
    const touched = createTouchedTasks({ stateDir: join(dir, "state") });
    expect(() => touched.markCgroup(fakeCgroup("plain", {}))).toThrow(/not a cpu cgroup/);
    touched.markCgroup(join(dir, "no-such-cgroup"));
    expect(touched.cgroups()).toEqual([]);
    touched.close();
  });

  it("restore puts weight and idle back; a gone dir is gone, a recreated one is left alone", () => {
    const kept = fakeCgroup("kept", { "cpu.weight": "250", "cpu.idle": "0" });
    const gone = fakeCgroup("gone", { "cpu.weight": "100" });
    const again = fakeCgroup("again", { "cpu.shares": "512" });
    const touched = createTouchedTasks({ stateDir: join(dir, "state") });
    for (const d of [kept, gone, again]) touched.markCgroup(d);
    writeFileSync(join(kept, "cpu.weight"), "1\n");
    writeFileSync(join(kept, "cpu.idle"), "1\n");
    rmSync(gone, { recursive: true });
    // Same path, another directory (another inode): someone else's cgroup now.
    // The newcomer is made while the old one still exists, so the file system
    // cannot hand it the old inode number (ext4 and tmpfs reuse a freed one),
    // and renamed into place, which keeps its inode.
    const newcomer = fakeCgroup("again.new", { "cpu.shares": "2" });
    expect(statSync(newcomer).ino).not.toBe(statSync(again).ino);
    rmSync(again, { recursive: true });
    renameSync(newcomer, again);
    const original = touched.cgroupOriginal(kept);
    expect(original).toBeDefined();
    const result = restoreTasks(
      touched.path,
      { setAttr: () => {}, setNice: () => {} },
      {
        force: true,
      },
    );
    expect(result.cgroups).toEqual({ restored: 1, gone: 1, recycled: 1, failed: [] });
    expect(read(kept, "cpu.weight")).toBe("250");
    expect(read(kept, "cpu.idle")).toBe("0");
    expect(read(again, "cpu.shares")).toBe("2");
    // restoreCgroup is the lead's helper too: once put back it is idempotent.
    expect(restoreCgroup(kept, original as NonNullable<typeof original>)).toBe("restored");
    touched.close();
  });

  it("a new daemon refuses to start over a cgroup a previous one left changed", () => {
    const cg = fakeCgroup("left", { "cpu.weight": "100" });
    const first = createTouchedTasks({ stateDir: join(dir, "state") });
    first.markCgroup(cg);
    first.close();
    expect(() => createTouchedTasks({ stateDir: join(dir, "state") })).toThrow(/alps restore/);
  });

  it("the memory record (tests) keeps the same originals", () => {
    const cg = fakeCgroup("mem", { "cpu.weight": "42", "cpu.idle": "1" });
    const mem = createMemoryTouched();
    mem.mark(self);
    mem.markCgroup(cg);
    expect(mem.taskOriginal(self)).toEqual(taskNow(self)?.original);
    expect(mem.cgroupOriginal(cg)).toMatchObject({ kind: "v2", weight: 42, idle: 1 });
    mem.release(self);
    mem.releaseCgroup(cg);
    expect(mem.list()).toEqual([]);
    expect(mem.cgroups()).toEqual([]);
  });
});

describe("touched record v2: tasks restored to their original", () => {
  it("restore sets the recorded policy and nice, not SCHED_OTHER nice 0", () => {
    const file = touchedFilePath(dir);
    const start = taskNow(self)?.startTime as number;
    // A recorded original of nice 10 (the syscalls are recorded, not made).
    writeFileSync(file, `# alps touched-tasks v2\n+ ${self} ${start} 0 10 0\n`);
    const calls: string[] = [];
    const result = restoreTasks(file, {
      setAttr: (tid: number, attr: SchedAttr) =>
        calls.push(`attr ${tid} ${attr.policy} ${attr.nice}`),
      setNice: (tid: number, nice: number) => calls.push(`nice ${tid} ${nice}`),
    });
    expect(result.restored).toBe(1);
    expect(calls).toEqual([`attr ${self} 0 10`, `nice ${self} 10`]);
    // A v1 line has no original: SCHED_OTHER nice 0, as before.
    writeFileSync(file, `# alps touched-tasks v1\n+ ${self} ${start}\n`);
    calls.length = 0;
    restoreTasks(file, {
      setAttr: (tid: number, attr: SchedAttr) =>
        calls.push(`attr ${tid} ${attr.policy} ${attr.nice}`),
      setNice: (tid: number, nice: number) => calls.push(`nice ${tid} ${nice}`),
    });
    expect(calls).toEqual([`attr ${self} 0 0`, `nice ${self} 0`]);
    expect(baseAttr().nice).toBe(0);
  });
});

describe("touched record v2: a task created by a changed task", () => {
  it("takes its creator's original, not the state it inherited", () => {
    const parentOriginal = { policy: 0, nice: 7, rtPriority: 0 };
    const recorded = (tid: number) => (tid === 4242 ? parentOriginal : undefined);
    expect(inheritedOriginal(self, 4242, recorded)).toBe(parentOriginal);
    // Neither its parent nor its thread group recorded: its own state is its original.
    expect(inheritedOriginal(self, 4243, recorded)).toBeUndefined();
  });
});

describe("touched record v2: preallocation, room, torn lines", () => {
  it("preallocates its room and writes lines over it; the data ends at the first NUL", () => {
    const touched = createTouchedTasks({ stateDir: dir, bytes: 8192 });
    expect(statSync(touched.path).size).toBe(8192);
    touched.mark(self);
    const text = readFileSync(touched.path, "utf8");
    expect(text.slice(text.indexOf("\0")).replace(/\0/g, "")).toBe("");
    expect(readTouchedRecord(touched.path).entries.map((e) => e.tid)).toEqual([self]);
    touched.close();
  });

  it("ignores a torn last line", () => {
    const file = join(dir, "torn");
    const start = taskNow(self)?.startTime as number;
    writeFileSync(file, `# alps touched-tasks v2\n+ ${self} ${start} 0 0 0\n+ 12 34\0\0\0`);
    const r = readTouchedRecord(file);
    expect(r.torn).toBe(true);
    expect(r.entries.map((e) => e.tid)).toEqual([self]);
  });

  it("compacts into a new file when its room is used up, keeping every live entry", () => {
    const touched = createTouchedTasks({ stateDir: dir, bytes: 4096 });
    // About 13 kB of log through 4 kB of room: only compaction makes it fit.
    for (let i = 0; i < 400; i++) {
      touched.mark(self);
      touched.release(self);
    }
    touched.mark(self);
    const text = readFileSync(touched.path, "utf8");
    expect(text.indexOf("\0")).toBeLessThan(4096);
    expect(readTouchedRecord(touched.path).entries.map((e) => e.tid)).toEqual([self]);
    touched.release(self);
    touched.close();
  });
});

describe("touched record v2: the guardian's follower", () => {
  it("keeps following a deleted record, switches on compaction, and re-reads a line cut short", () => {
    const touched = createTouchedTasks({ stateDir: dir, bytes: 4096 });
    const follower = new RecordFollower(touched.path);
    touched.mark(self);
    follower.refresh();
    expect(follower.record().entries.map((e) => e.tid)).toEqual([self]);
    // Deleted: the daemon writes on through its descriptor, the follower reads the same inode.
    rmSync(touched.path);
    touched.release(self);
    follower.refresh();
    expect(follower.deleted).toBe(true);
    expect(follower.record().entries).toEqual([]);
    touched.mark(self);
    follower.refresh();
    expect(follower.record().entries.map((e) => e.tid)).toEqual([self]);
    // Compaction writes a new file at the path: the follower switches to it.
    for (let i = 0; i < 400; i++) {
      touched.release(self);
      touched.mark(self);
    }
    follower.refresh();
    expect(follower.switches).toBeGreaterThan(0);
    expect(follower.record().entries.map((e) => e.tid)).toEqual([self]);
    follower.close();
    touched.release(self);
    touched.close();
  });
});

describe.skipIf(!requireHost("root, to mount a small tmpfs", isRoot()))(
  "touched record v2: a full state directory (small tmpfs)",
  () => {
    it("marks within the room, refuses past it with a RecordError, and restore still clears it", () => {
      const mnt = join(dir, "tmpfs");
      mkdirSync(mnt);
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", mnt]);
      try {
        const touched = createTouchedTasks({ stateDir: mnt, bytes: 8192 });
        // One task stays recorded throughout: what a restore must still put back at the end.
        touched.mark(process.ppid);
        // Fill the rest of the file system.
        expect(() =>
          execFileSync("dd", ["if=/dev/zero", `of=${join(mnt, "filler")}`, "bs=4k"], {
            stdio: "ignore",
          }),
        ).toThrow();
        expect(() => writeFileSync(join(mnt, "more"), "x".repeat(8192))).toThrow(/ENOSPC/);
        // Within the preallocated room: no ENOSPC.
        let marked = 0;
        let refused: unknown;
        for (let i = 0; i < 1000 && refused === undefined; i++) {
          try {
            touched.mark(self);
            marked++;
            touched.release(self);
          } catch (error) {
            refused = error;
          }
        }
        expect(marked).toBeGreaterThan(100);
        // Past it: compaction needs a second file and the disk is full.
        expect(refused).toBeInstanceOf(RecordError);
        expect(touched.list()).toEqual([process.ppid]); // self not added: its write failed
        // A last line may be torn or not; the record still reads, and a restore clears it in place.
        expect(() => readTouchedRecord(touched.path)).not.toThrow();
        touched.close();
        const restored: number[] = [];
        const result = restoreTasks(
          touched.path,
          { setAttr: (tid) => void restored.push(tid), setNice: () => {} },
          { force: true },
        );
        // A release whose line found no room leaves its task listed too: restoring it is harmless.
        expect(result.failed).toEqual([]);
        expect(restored).toContain(process.ppid);
        expect(() => statSync(touched.path)).toThrow(/ENOENT/);
      } finally {
        execFileSync("umount", [mnt]);
      }
    });
  },
);

describe("touched record v2: autogroups", () => {
  it("reads an autogroup line (its member's start time, its nice) and never restores a recycled or gone member", () => {
    const file = join(dir, "record");
    const stat = readFileSync(`/proc/${self}/stat`, "utf8");
    const start = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    writeFileSync(
      file,
      [
        "# alps touched-tasks v2 owner=1 start=1",
        `+cg ${start + 1} autogroup -5 - /proc/${self}/autogroup`,
        "+cg 7 autogroup 3 - /proc/999999999/autogroup",
        "",
      ].join("\n"),
    );
    const record = readTouchedRecord(file);
    expect(record.cgroups).toEqual([
      {
        dir: `/proc/${self}/autogroup`,
        original: { ino: BigInt(start + 1), kind: "autogroup", weight: -5, idle: undefined },
      },
      {
        dir: "/proc/999999999/autogroup",
        original: { ino: 7n, kind: "autogroup", weight: 3, idle: undefined },
      },
    ]);
    const [recycled, gone] = record.cgroups;
    // Our own start time differs by one: the member is someone else now.
    expect(restoreCgroup(recycled?.dir ?? "", recycled?.original as never)).toBe("recycled");
    expect(restoreCgroup(gone?.dir ?? "", gone?.original as never)).toBe("gone");
  });
});
