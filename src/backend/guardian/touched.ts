/**
 * The persistent record of every task and cpu cgroup whose scheduling alps
 * changes (safety invariant 3, docs/safety.md). The daemon marks a tid (or a cgroup
 * directory) before it changes it and releases it after undoing the change;
 * the guardian and `alps restore` read the same file after the daemon died
 * and put everything recorded back as it was.
 *
 * Format (v2): a log, one line per change of the set, then NUL bytes up to
 * the preallocated size:
 *
 *   # alps touched-tasks v2 owner=<pid> start=<owner start time>
 *   + <tid> <start> <policy> <nice> <rt priority>    about to change tid; how it was
 *   - <tid>                                           tid is back as it was (or gone)
 *   +cg <ino> <v2|v1> <weight> <idle|-> <dir>         about to change cgroup dir; how it was
 *   +cg <start> autogroup <nice> - /proc/<pid>/autogroup   about to change pid's autogroup
 *   -cg <dir>                                         dir's weight and idle are back (or it is gone)
 *
 * `<dir>` escapes '%', space, newline and NUL as %25 %20 %0A %00. A reader
 * stops at the first NUL and ignores a last line without its newline (a
 * torn write). v1 records (`+ <tid> <start>`, no originals) are still read:
 * their tasks go back to SCHED_OTHER nice 0.
 *
 * Why a log: `mark` sits on the hot path (every level change calls it).
 * Repeated marks are answered from memory and write nothing; a new tid costs
 * one read of /proc/<tid>/stat (which also gives its policy and nice) and one
 * small `pwrite(2)`: a few microseconds. A write that returned is in the page
 * cache, so it survives the daemon's SIGKILL (no fsync: a host crash takes
 * the tasks with it).
 *
 * Why preallocated: the file is created at its full size (NUL bytes), and
 * lines are written over those bytes, never past them, so a full state
 * directory (ENOSPC) cannot fail a mark while the room lasts; an entry joins
 * the in-memory set only after its line was written. When the room is used
 * up, the log is compacted into a new file of the live set (tmp + rename,
 * atomic for readers); if that fails too, `mark` throws a RecordError and
 * the caller leaves the task alone. A release that cannot be written is
 * harmless: restoring a task that is already back changes nothing.
 *
 * Each task entry carries its start time (/proc/<tid>/stat field 22) and
 * each cgroup entry its directory's inode, so a tid or path the kernel gave
 * to something new is never "restored".
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { InputError, RecordError, UsageError } from "../../errors.js";
import { cgroup2MountIfAny } from "../../host/cgroups.js";
import { isGone } from "../../host/errno.js";
import { readProcFile } from "../../host/proc-file.js";
import { parseStat, threadGroupOf } from "../../host/proc-stat.js";
import { taskStartTime } from "../../host/proc-task.js";
import type { CgroupOriginal, TaskOriginal, TouchedRecorder } from "./touched-types.js";

export const DEFAULT_STATE_DIR = "/run/alps";
export const TOUCHED_FILE_NAME = "touched-tasks";
const HEADER_PREFIX = "# alps touched-tasks v2";
/** Default room of the record: about 20,000 task lines. */
export const DEFAULT_RECORD_BYTES = 1 << 20;
const ZEROS = Buffer.alloc(64 * 1024);

/** One task in the record: its tid, the start time that identifies it, and how it was. */
export interface TouchedEntry {
  tid: number;
  /** Clock ticks after boot at which the task started (/proc stat field 22). */
  startTime: number;
  /** Its scheduling before alps changed it; absent in a v1 record. */
  original?: TaskOriginal;
}

/** One cpu cgroup in the record. */
export interface TouchedCgroup {
  dir: string;
  original: CgroupOriginal;
}

/** What a record file says: its owner (the daemon) and the live entries. */
export interface TouchedRecord {
  owner: { tid: number; startTime: number } | undefined;
  entries: TouchedEntry[];
  cgroups: TouchedCgroup[];
  /** The last line had no newline (a write cut short): ignored. */
  torn: boolean;
}

export type PersistentTouchedTasks = TouchedRecorder & {
  /** Where the record lives. */
  readonly path: string;
  /** Start time recorded for `tid`, if it is in the record. */
  startTimeOf(tid: number): number | undefined;
  /** Releases whose line could not be written (harmless; counted). */
  readonly releaseWriteErrors: number;
  /**
   * Stop recording. An empty record is deleted (which also tells the
   * guardian its job is over); a non-empty one is kept for `alps restore`.
   */
  close(): void;
};

/** Path of the record inside a state directory. */
export function touchedFilePath(stateDir: string = DEFAULT_STATE_DIR): string {
  return join(stateDir, TOUCHED_FILE_NAME);
}

/** Start time, parent and scheduling of a task from one read of its stat, or undefined when it is gone. */
export function taskNow(
  tid: number,
): { startTime: number; ppid: number; original: TaskOriginal } | undefined {
  let text: string;
  try {
    text = readProcFile(`/proc/${tid}/stat`);
  } catch (error) {
    if (isGone(error)) return undefined;
    throw error;
  }
  const st = parseStat(text);
  if (![st.startTime, st.nice, st.rtPriority, st.policy].every(Number.isSafeInteger))
    throw new Error(`/proc/${tid}/stat: cannot read start time, nice and policy`);
  return {
    startTime: st.startTime,
    ppid: st.ppid,
    original: { nice: st.nice, rtPriority: st.rtPriority, policy: st.policy },
  };
}

/**
 * What a task had before alps, when it was created by a task alps had
 * changed: reset-on-fork clears only a real-time policy and a negative
 * nice, so a child (or thread) of a yielding task starts under SCHED_IDLE
 * or at the positive nice alps gave its creator. Its original is then its
 * creator's: the parent's (`ppid`), or for a thread its thread group's
 * leader's. Undefined when neither is recorded (its own state is its
 * original). Only a new tid pays the extra read of the thread group.
 */
export function inheritedOriginal(
  tid: number,
  ppid: number,
  recorded: (tid: number) => TaskOriginal | undefined,
): TaskOriginal | undefined {
  const parent = recorded(ppid);
  if (parent !== undefined) return parent;
  const tgid = threadGroupOf(tid);
  return tgid !== undefined && tgid !== tid ? recorded(tgid) : undefined;
}

/** Whether the task recorded as `entry` is still the same task. */
export function isSameTask(entry: { tid: number; startTime: number }): boolean {
  return taskStartTime(entry.tid) === entry.startTime;
}

function readSmallFile(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * A cpu cgroup's weight and idle flag now, or undefined when the directory
 * is gone. Throws when `dir` exists but has no cpu controller.
 */
export function cgroupNow(dir: string): CgroupOriginal | undefined {
  const member = autogroupMember(dir);
  if (member !== undefined) {
    const start = taskStartTime(member);
    const text = readSmallFile(dir);
    if (start === undefined || text === undefined) return undefined;
    const nice = /nice\s+(-?\d+)/.exec(text)?.[1];
    if (nice === undefined) throw new Error(`${dir}: cannot read the autogroup's nice ('${text}')`);
    return { ino: BigInt(start), kind: "autogroup", weight: Number(nice), idle: undefined };
  }
  let ino: bigint;
  try {
    ino = statSync(dir, { bigint: true }).ino;
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENOENT") return undefined;
    throw error;
  }
  // The file the directory's hierarchy has is read first (under the v2
  // mount: cpu.weight; elsewhere: v1's cpu.shares), the other only when it
  // is missing: a failed open is an exception in Node, and this runs on
  // every registration that weights a sandbox.
  const mount = cgroup2MountIfAny(); // cached by cgroups.ts once found
  const v2First = mount !== undefined && dir.startsWith(`${mount}/`);
  let v2: string | undefined;
  let v1: string | undefined;
  if (v2First) {
    v2 = readSmallFile(join(dir, "cpu.weight"));
    if (v2 === undefined) v1 = readSmallFile(join(dir, "cpu.shares"));
  } else {
    v1 = readSmallFile(join(dir, "cpu.shares"));
    if (v1 === undefined) v2 = readSmallFile(join(dir, "cpu.weight"));
  }
  const raw = v2 ?? v1;
  if (raw === undefined)
    throw new Error(`${dir} has neither cpu.weight nor cpu.shares: not a cpu cgroup`);
  const weight = Number(raw);
  if (!Number.isSafeInteger(weight)) throw new Error(`${dir}: cannot read its weight ('${raw}')`);
  const idleText = readSmallFile(join(dir, "cpu.idle"));
  const idle = idleText === undefined ? undefined : Number(idleText);
  return { ino, kind: v2 !== undefined ? "v2" : "v1", weight, idle };
}

/** The member pid when `dir` names an autogroup (`/proc/<pid>/autogroup`). */
export function autogroupMember(dir: string): number | undefined {
  const match = /^\/proc\/(\d+)\/autogroup$/.exec(dir);
  return match === null ? undefined : Number(match[1]);
}

export function escapeDir(dir: string): string {
  return dir.replace(/[% \n\0]/g, (c) =>
    c === "%" ? "%25" : c === " " ? "%20" : c === "\n" ? "%0A" : "%00",
  );
}

function unescapeDir(text: string): string {
  return text.replace(/%(25|20|0A|00)/g, (_, code: string) =>
    code === "25" ? "%" : code === "20" ? " " : code === "0A" ? "\n" : "\0",
  );
}

export function taskLine(tid: number, startTime: number, o: TaskOriginal | undefined): string {
  return o === undefined
    ? `+ ${tid} ${startTime}\n`
    : `+ ${tid} ${startTime} ${o.policy} ${o.nice} ${o.rtPriority}\n`;
}

export function cgroupLine(dir: string, o: CgroupOriginal): string {
  return `+cg ${o.ino} ${o.kind} ${o.weight} ${o.idle ?? "-"} ${escapeDir(dir)}\n`;
}

function headerLine(owner: TouchedRecord["owner"]): string {
  return owner === undefined
    ? `${HEADER_PREFIX}\n`
    : `${HEADER_PREFIX} owner=${owner.tid} start=${owner.startTime}\n`;
}

function parseInteger(file: string, line: number, name: string, text: string | undefined): number {
  const value = Number(text);
  if (text === undefined || !/^-?\d+$/.test(text) || !Number.isSafeInteger(value)) {
    throw new InputError(file, line, name, `expected an integer, got '${text ?? ""}'`);
  }
  return value;
}

function parseNonNegative(file: string, line: number, name: string, text: string | undefined) {
  const value = parseInteger(file, line, name, text);
  if (value < 0) throw new InputError(file, line, name, `expected a non-negative integer`);
  return value;
}

/**
 * Parses a record incrementally: `feed` takes text (possibly ending inside
 * a line) and applies every complete line, keeping the rest for the next
 * call; a NUL ends the data. Damage in a complete line is an InputError
 * naming the file, line and field: the file is only ever written by alps,
 * so damage means something is wrong and must be seen, not skipped.
 */
export class TouchedRecordParser {
  owner: TouchedRecord["owner"];
  readonly tasks = new Map<number, TouchedEntry>();
  readonly cgroups = new Map<string, CgroupOriginal>();
  /** Text after the last newline (a line being written, or a torn one). */
  pending = "";
  #line = 0;

  constructor(readonly file: string) {}

  /** Applies the complete lines of `text`; returns the bytes consumed up to the last newline. */
  feed(text: string): void {
    const nul = text.indexOf("\0");
    const data = this.pending + (nul < 0 ? text : text.slice(0, nul));
    const lines = data.split("\n");
    this.pending = lines.pop() ?? "";
    for (const line of lines) this.#apply(line, ++this.#line);
  }

  #apply(line: string, n: number): void {
    const file = this.file;
    if (line === "") return;
    if (line.startsWith("#")) {
      const match = /^# alps touched-tasks v[12] owner=(\d+) start=(\d+)$/.exec(line);
      if (match !== null) this.owner = { tid: Number(match[1]), startTime: Number(match[2]) };
      return;
    }
    const parts = line.split(" ");
    const op = parts[0];
    if (op === "+" && (parts.length === 3 || parts.length === 6)) {
      const tid = parseNonNegative(file, n, "tid", parts[1]);
      const startTime = parseNonNegative(file, n, "start", parts[2]);
      const entry: TouchedEntry = { tid, startTime };
      if (parts.length === 6) {
        entry.original = {
          policy: parseNonNegative(file, n, "policy", parts[3]),
          nice: parseInteger(file, n, "nice", parts[4]),
          rtPriority: parseNonNegative(file, n, "rt_priority", parts[5]),
        };
      }
      this.tasks.set(tid, entry);
    } else if (op === "-" && parts.length === 2) {
      this.tasks.delete(parseNonNegative(file, n, "tid", parts[1]));
    } else if (op === "+cg" && parts.length === 6) {
      const kind = parts[2];
      if (kind !== "v1" && kind !== "v2" && kind !== "autogroup")
        throw new InputError(file, n, "kind", `expected v1, v2 or autogroup, got '${kind ?? ""}'`);
      const inoText = parts[1] ?? "";
      if (!/^\d+$/.test(inoText))
        throw new InputError(file, n, "ino", `expected a non-negative integer, got '${inoText}'`);
      this.cgroups.set(unescapeDir(parts[5] ?? ""), {
        ino: BigInt(inoText),
        kind,
        weight:
          kind === "autogroup"
            ? parseInteger(file, n, "nice", parts[3])
            : parseNonNegative(file, n, "weight", parts[3]),
        idle: parts[4] === "-" ? undefined : parseNonNegative(file, n, "idle", parts[4]),
      });
    } else if (op === "-cg" && parts.length === 2) {
      this.cgroups.delete(unescapeDir(parts[1] ?? ""));
    } else {
      throw new InputError(
        file,
        n,
        "op",
        `expected '+ <tid> <start> <policy> <nice> <rt priority>', '- <tid>', '+cg …' or '-cg <dir>', got '${line}'`,
      );
    }
  }

  record(): TouchedRecord {
    return {
      owner: this.owner,
      entries: [...this.tasks.values()],
      cgroups: [...this.cgroups].map(([dir, original]) => ({ dir, original })),
      torn: this.pending !== "",
    };
  }
}

/**
 * Reads a record file. A missing file is an empty record (nothing to do).
 * A malformed line is an InputError (see TouchedRecordParser); a torn last
 * line is ignored.
 */
export function readTouchedRecord(file: string): TouchedRecord {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENOENT")
      return { owner: undefined, entries: [], cgroups: [], torn: false };
    throw error;
  }
  const parser = new TouchedRecordParser(file);
  parser.feed(text);
  return parser.record();
}

function isNoSpace(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

/** Writes all of `buf` at `offset`; a short write is an ENOSPC-like error. */
function writeAllAt(fd: number, buf: Buffer, offset: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = writeSync(fd, buf, done, buf.length - done, offset + done);
    if (n <= 0) throw Object.assign(new Error("short write"), { code: "ENOSPC" });
    done += n;
  }
}

/** Writes `content` then NUL bytes up to `size` (the preallocation). */
function writePadded(fd: number, content: string, size: number): void {
  const head = Buffer.from(content, "utf8");
  writeAllAt(fd, head, 0);
  for (let at = head.length; at < size; at += ZEROS.length)
    writeAllAt(fd, ZEROS.subarray(0, Math.min(ZEROS.length, size - at)), at);
}

/**
 * Writes a record holding exactly `entries` and `cgroups`, padded to `size`
 * bytes: tmp + rename (atomic for readers). Where the directory has no room
 * for a second file, it overwrites `file` in place instead (restoring with a
 * full disk must still be able to clear what it restored).
 */
export function writeTouchedRecord(
  file: string,
  owner: TouchedRecord["owner"],
  entries: readonly TouchedEntry[],
  cgroups: readonly TouchedCgroup[] = [],
  size = 0,
): void {
  const content =
    headerLine(owner) +
    entries.map((e) => taskLine(e.tid, e.startTime, e.original)).join("") +
    cgroups.map((c) => cgroupLine(c.dir, c.original)).join("");
  const tmp = `${file}.tmp-${process.pid}`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "w", 0o600);
    writePadded(fd, content, Math.max(size, Buffer.byteLength(content)));
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
    return;
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // never created
    }
    if (!isNoSpace(error) || !existsSync(file)) throw error;
  }
  // In place: the old file's bytes are already allocated.
  const old = statSync(file).size;
  if (Buffer.byteLength(content) > old)
    throw new RecordError(`${file}: no room to rewrite the record (the state directory is full)`);
  const inPlace = openSync(file, "r+");
  try {
    writePadded(inPlace, content, old);
  } finally {
    closeSync(inPlace);
  }
}

export interface TouchedOptions {
  /** Directory of the record, created 0700 if missing. Default /run/alps. */
  stateDir?: string;
  /** Full path of the record; overrides stateDir. */
  file?: string;
  /** Bytes to preallocate; default DEFAULT_RECORD_BYTES. */
  bytes?: number;
}

/** Leftover tmp files of compactions cut short (a daemon killed mid-way). */
function removeLeftoverTmp(path: string): void {
  const dir = dirname(path);
  const prefix = `${path.slice(dir.length + 1)}.tmp-`;
  try {
    for (const name of readdirSync(dir)) if (name.startsWith(prefix)) unlinkSync(join(dir, name));
  } catch {
    // best effort
  }
}

/**
 * Opens the record for this process (the daemon). Refuses to start over a
 * record that still lists live tasks or cgroups: they belong to a daemon
 * that died without restoring them (or to one still running) and must be
 * restored first (`alps restore`), never forgotten. Throws a RecordError
 * when the state directory has no room for the preallocated file.
 */
export function createTouchedTasks(opts: TouchedOptions = {}): PersistentTouchedTasks {
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const path = opts.file ?? touchedFilePath(stateDir);
  let size = Math.max(4096, opts.bytes ?? DEFAULT_RECORD_BYTES);
  if (opts.file === undefined) mkdirSync(stateDir, { recursive: true, mode: 0o700 });

  const previous = readTouchedRecord(path);
  if (
    previous.owner !== undefined &&
    previous.owner.tid !== process.pid &&
    isSameTask(previous.owner)
  ) {
    throw new UsageError(
      `${path} belongs to alps process ${previous.owner.tid}, which is still running`,
    );
  }
  const stillThere = previous.entries.filter(isSameTask);
  const cgroupsThere = previous.cgroups.filter((c) => cgroupNow(c.dir)?.ino === c.original.ino);
  if (stillThere.length > 0 || cgroupsThere.length > 0) {
    const what = [
      ...stillThere.slice(0, 5).map((e) => `tid ${e.tid}`),
      ...cgroupsThere.slice(0, 2).map((c) => c.dir),
    ];
    throw new UsageError(
      `${path} still lists ${stillThere.length} task(s) and ${cgroupsThere.length} cgroup(s) a previous alps changed (${what.join(", ")}${stillThere.length + cgroupsThere.length > what.length ? ", ..." : ""}); run \`alps restore\` first`,
    );
  }
  removeLeftoverTmp(path);

  const selfStart = taskStartTime(process.pid);
  const owner = selfStart === undefined ? undefined : { tid: process.pid, startTime: selfStart };
  const live = new Map<number, TouchedEntry>();
  const liveCgroups = new Map<string, CgroupOriginal>();
  let fd: number | undefined;
  let offset = 0;
  let logLines = 0;
  let releaseWriteErrors = 0;

  /** A fresh file holding the live set, padded to `size`; the write position after it. */
  const rewrite = (): void => {
    const entries = [...live.values()];
    const cgroups = [...liveCgroups].map(([dir, original]) => ({ dir, original }));
    const content =
      headerLine(owner) +
      entries.map((e) => taskLine(e.tid, e.startTime, e.original)).join("") +
      cgroups.map((c) => cgroupLine(c.dir, c.original)).join("");
    const bytes = Buffer.byteLength(content);
    // The live set keeps at least half the room free for the log.
    const want = Math.max(size, 2 * bytes + 4096);
    try {
      const tmp = `${path}.tmp-${process.pid}`;
      const tfd = openSync(tmp, "w", 0o600);
      try {
        writePadded(tfd, content, want);
      } catch (error) {
        closeSync(tfd);
        unlinkSync(tmp);
        throw error;
      }
      renameSync(tmp, path);
      if (fd !== undefined) closeSync(fd);
      fd = tfd;
    } catch (error) {
      if (isNoSpace(error))
        throw new RecordError(
          `cannot write the touched-task record ${path}: the state directory is full (${(error as Error).message})`,
        );
      throw error;
    }
    size = want;
    offset = bytes;
    logLines = entries.length + cgroups.length;
  };

  const append = (line: string): void => {
    if (fd === undefined) throw new Error(`touched-task record ${path} is closed`);
    const buf = Buffer.from(line, "utf8");
    if (offset + buf.length > size) rewrite(); // out of room: compact (throws RecordError when it cannot)
    if (offset + buf.length > size)
      throw new RecordError(`touched-task record ${path}: no room for another entry`);
    writeAllAt(fd, buf, offset);
    offset += buf.length;
    logLines++;
  };

  /** Compacts when the log is mostly history, so readers stay proportional to the live set. */
  const maybeCompact = (): void => {
    if (logLines > 1024 && logLines > 4 * (live.size + liveCgroups.size)) {
      try {
        rewrite();
      } catch (error) {
        if (!(error instanceof RecordError)) throw error;
        // No room for a new file: go on in this one while it has room.
      }
    }
  };

  rewrite();

  return {
    path,
    mark(tid: number): void {
      if (live.has(tid)) return;
      const now = taskNow(tid);
      // A task that is already gone cannot be changed (the syscall will say
      // ESRCH), so there is nothing that could ever need restoring.
      if (now === undefined) return;
      const original =
        (live.size > 0
          ? inheritedOriginal(tid, now.ppid, (t) => live.get(t)?.original)
          : undefined) ?? now.original;
      append(taskLine(tid, now.startTime, original));
      live.set(tid, { tid, startTime: now.startTime, original });
      maybeCompact();
    },
    release(tid: number): void {
      if (!live.delete(tid)) return;
      try {
        append(`- ${tid}\n`);
      } catch (error) {
        if (!(error instanceof RecordError)) throw error;
        releaseWriteErrors++;
      }
      maybeCompact();
    },
    list(): number[] {
      return [...live.keys()];
    },
    markCgroup(dir: string): void {
      if (liveCgroups.has(dir)) return;
      const now = cgroupNow(dir);
      if (now === undefined) return;
      append(cgroupLine(dir, now));
      liveCgroups.set(dir, now);
      maybeCompact();
    },
    releaseCgroup(dir: string): void {
      if (!liveCgroups.delete(dir)) return;
      try {
        append(`-cg ${escapeDir(dir)}\n`);
      } catch (error) {
        if (!(error instanceof RecordError)) throw error;
        releaseWriteErrors++;
      }
      maybeCompact();
    },
    cgroups(): string[] {
      return [...liveCgroups.keys()];
    },
    taskOriginal(tid: number): TaskOriginal | undefined {
      return live.get(tid)?.original;
    },
    cgroupOriginal(dir: string): CgroupOriginal | undefined {
      return liveCgroups.get(dir);
    },
    startTimeOf(tid: number): number | undefined {
      return live.get(tid)?.startTime;
    },
    get releaseWriteErrors(): number {
      return releaseWriteErrors;
    },
    close(): void {
      if (fd === undefined) return;
      closeSync(fd);
      fd = undefined;
      if (live.size === 0 && liveCgroups.size === 0 && existsSync(path)) unlinkSync(path);
    },
  };
}
