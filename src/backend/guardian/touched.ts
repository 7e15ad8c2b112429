/**
 * The persistent record of every task whose scheduling alps changes
 * (safety invariant 3, docs/safety.md). The daemon marks a tid before it changes it and
 * releases it after undoing the change; the guardian and `alps restore` read
 * the same file after the daemon died and put every recorded task back.
 *
 * Format: an append-only log, one line per change of the set.
 *
 *   # alps touched-tasks v1 owner=<pid> start=<owner start time>
 *   + <tid> <start time>      the daemon is about to change tid
 *   - <tid>                   tid is back on SCHED_OTHER nice 0 (or gone)
 *
 * Why a log and not a snapshot rewritten on each change: `mark` sits on the
 * hot path (every level change calls it). Repeated marks of the same tid are
 * answered from the in-memory map and write nothing; a new tid costs one
 * small `write(2)` on an O_APPEND descriptor, a few microseconds, where a
 * snapshot would cost open + write of the whole set + rename. A write that
 * returned is in the kernel's page cache, so it survives the daemon's
 * SIGKILL (no fsync: a host crash takes the tasks with it). The log is
 * compacted (tmp file + rename, atomic for readers) when it has grown to
 * several times the live set.
 *
 * Each entry carries the task's start time (/proc/<tid>/stat field 22), so
 * a tid the kernel recycled for an unrelated task is never "restored".
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { InputError, UsageError } from "../../errors.js";
import { taskStartTime } from "../../host/proc-task.js";
import type { TouchedTasks } from "./touched-types.js";

export const DEFAULT_STATE_DIR = "/run/alps";
export const TOUCHED_FILE_NAME = "touched-tasks";
const HEADER_PREFIX = "# alps touched-tasks v1";

/** One task in the record: its tid and the start time that identifies it. */
export interface TouchedEntry {
  tid: number;
  /** Clock ticks after boot at which the task started (/proc stat field 22). */
  startTime: number;
}

/** What a record file says: its owner (the daemon) and the live entries. */
export interface TouchedRecord {
  owner: TouchedEntry | undefined;
  entries: TouchedEntry[];
}

export type PersistentTouchedTasks = TouchedTasks & {
  /** Where the record lives. */
  readonly path: string;
  /** Start time recorded for `tid`, if it is in the record. */
  startTimeOf(tid: number): number | undefined;
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

/** Whether the task recorded as `entry` is still the same task. */
export function isSameTask(entry: TouchedEntry): boolean {
  return taskStartTime(entry.tid) === entry.startTime;
}

function parseInteger(file: string, line: number, field: string, text: string | undefined): number {
  const value = Number(text);
  if (text === undefined || !/^\d+$/.test(text) || !Number.isSafeInteger(value)) {
    throw new InputError(file, line, field, `expected a non-negative integer, got '${text ?? ""}'`);
  }
  return value;
}

/**
 * Reads a record file. A missing file is an empty record (nothing to do).
 * A malformed line is an InputError naming the file, line and field: the
 * file is only ever written by alps, so damage means something is wrong and
 * must be seen, not skipped.
 */
export function readTouchedRecord(file: string): TouchedRecord {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENOENT") return { owner: undefined, entries: [] };
    throw error;
  }
  let owner: TouchedEntry | undefined;
  const live = new Map<number, number>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const n = i + 1;
    if (line === "") continue;
    if (line.startsWith("#")) {
      const match = /^# alps touched-tasks v1 owner=(\d+) start=(\d+)$/.exec(line);
      if (match !== null) owner = { tid: Number(match[1]), startTime: Number(match[2]) };
      continue;
    }
    const parts = line.split(" ");
    if (parts[0] === "+" && parts.length === 3) {
      live.set(parseInteger(file, n, "tid", parts[1]), parseInteger(file, n, "start", parts[2]));
    } else if (parts[0] === "-" && parts.length === 2) {
      live.delete(parseInteger(file, n, "tid", parts[1]));
    } else {
      throw new InputError(file, n, "op", `expected '+ <tid> <start>' or '- <tid>', got '${line}'`);
    }
  }
  return { owner, entries: [...live].map(([tid, startTime]) => ({ tid, startTime })) };
}

/** Writes a record holding exactly `entries`, atomically (tmp + rename). */
export function writeTouchedRecord(
  file: string,
  owner: TouchedEntry | undefined,
  entries: readonly TouchedEntry[],
): void {
  const header =
    owner === undefined
      ? `${HEADER_PREFIX}\n`
      : `${HEADER_PREFIX} owner=${owner.tid} start=${owner.startTime}\n`;
  const body = entries.map((e) => `+ ${e.tid} ${e.startTime}\n`).join("");
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, header + body, { mode: 0o600 });
  renameSync(tmp, file);
}

export interface TouchedOptions {
  /** Directory of the record, created 0700 if missing. Default /run/alps. */
  stateDir?: string;
  /** Full path of the record; overrides stateDir. */
  file?: string;
}

/**
 * Opens the record for this process (the daemon). Refuses to start over a
 * record that still lists live tasks: they belong to a daemon that died
 * without restoring them (or to one still running) and must be restored
 * first (`alps restore`), never forgotten.
 */
export function createTouchedTasks(opts: TouchedOptions = {}): PersistentTouchedTasks {
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const path = opts.file ?? touchedFilePath(stateDir);
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
  if (stillThere.length > 0) {
    throw new UsageError(
      `${path} still lists ${stillThere.length} task(s) a previous alps changed (tids ${stillThere
        .slice(0, 5)
        .map((e) => e.tid)
        .join(", ")}${stillThere.length > 5 ? ", ..." : ""}); run \`alps restore\` first`,
    );
  }

  const selfStart = taskStartTime(process.pid);
  const owner: TouchedEntry | undefined =
    selfStart === undefined ? undefined : { tid: process.pid, startTime: selfStart };
  const live = new Map<number, number>();
  writeTouchedRecord(path, owner, []);
  let fd: number | undefined = openSync(path, "a");
  let logLines = 0;

  const append = (line: string): void => {
    if (fd === undefined) throw new Error(`touched-task record ${path} is closed`);
    writeSync(fd, line);
    logLines++;
    // Compact when the log is mostly history: keeps reads by the guardian
    // and restore proportional to the live set.
    if (logLines > 1024 && logLines > 4 * live.size) {
      writeTouchedRecord(
        path,
        owner,
        [...live].map(([tid, startTime]) => ({ tid, startTime })),
      );
      closeSync(fd);
      fd = openSync(path, "a");
      logLines = live.size;
    }
  };

  return {
    path,
    mark(tid: number): void {
      if (live.has(tid)) return;
      const startTime = taskStartTime(tid);
      // A task that is already gone cannot be changed (the syscall will say
      // ESRCH), so there is nothing that could ever need restoring.
      if (startTime === undefined) return;
      live.set(tid, startTime);
      append(`+ ${tid} ${startTime}\n`);
    },
    release(tid: number): void {
      if (!live.delete(tid)) return;
      append(`- ${tid}\n`);
    },
    list(): number[] {
      return [...live.keys()];
    },
    startTimeOf(tid: number): number | undefined {
      return live.get(tid);
    },
    close(): void {
      if (fd === undefined) return;
      closeSync(fd);
      fd = undefined;
      if (live.size === 0 && existsSync(path)) unlinkSync(path);
    },
  };
}
