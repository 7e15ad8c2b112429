/**
 * Reading one task's scheduling facts from /proc: the proc sensor's only
 * source of truth when BPF is unavailable, what the touched-task record
 * identifies a task by, and what tests use to check the policy a task
 * really has. The one parser of /proc/<pid>/stat lives here.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import { isGone } from "./errno.js";
import { readProcFile } from "./proc-file.js";

export interface TaskStat {
  /** One-letter state: R running/runnable, S sleeping, D disk sleep, T stopped, Z zombie... */
  state: string;
  /** stat field 4: the parent's pid. */
  ppid: number;
  /** stat field 6: the session id (the pid of the session's leader). */
  session: number;
  /** stat fields 14 + 15: user + system CPU, clock ticks. */
  cpuTicks: number;
  /** stat field 19. */
  nice: number;
  /** stat field 20: the threads of the task's process. */
  threads: number;
  /** stat field 22: clock ticks after boot at which the task started. */
  startTime: number;
  /** stat field 41: 0 SCHED_OTHER, 1 SCHED_FIFO, 2 SCHED_RR... */
  policy: number;
  /** stat field 40: SCHED_FIFO/RR priority (0 for the fair class). */
  rtPriority: number;
}

/**
 * Parses /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat. The command name
 * (field 2) may hold spaces and parentheses, so fields are counted from the
 * last ')'.
 */
export function parseStat(text: string): TaskStat {
  const close = text.lastIndexOf(")");
  if (close < 0) throw new Error(`not a /proc stat line: ${text.slice(0, 60)}`);
  // After ") " comes field 3 (state), so field N is at index N - 3.
  const fields = text.slice(close + 2).split(" ");
  const field = (n: number): string => {
    const value = fields[n - 3];
    if (value === undefined) throw new Error(`/proc stat line has no field ${n}`);
    return value;
  };
  return {
    state: field(3),
    ppid: Number(field(4)),
    session: Number(field(6)),
    cpuTicks: Number(field(14)) + Number(field(15)),
    nice: Number(field(19)),
    threads: Number(field(20)),
    startTime: Number(field(22)),
    rtPriority: Number(field(40)),
    policy: Number(field(41)),
  };
}

/** /proc/<pid>/schedstat text: time on CPU and time runnable but waiting, ns. */
export function parseSchedstat(text: string): { cpuNs: number; waitNs: number } {
  const [run, wait] = text.split(" ");
  return { cpuNs: decimal(run), waitNs: decimal(wait) };
}

/** A field of digits as a number; NaN for anything else (Number("") would be 0). */
function decimal(field: string | undefined): number {
  return field !== undefined && /^\d+\s*$/.test(field) ? Number(field) : Number.NaN;
}

function taskDir(pid: number, tid: number): string {
  return `/proc/${pid}/task/${tid}`;
}

/** The task's stat, or undefined when it is gone. */
export function readTaskStat(pid: number, tid: number = pid): TaskStat | undefined {
  try {
    return parseStat(readProcFile(`${taskDir(pid, tid)}/stat`));
  } catch (error) {
    if (isGone(error)) return undefined;
    throw error;
  }
}

/** Whether a task whose stat reads `stat` has exited: dead, or a zombie not reaped yet. */
export function exitedStat(stat: TaskStat): boolean {
  return stat.state === "Z" || stat.state === "X";
}

/** Whether process `pid` has exited: gone, or exitedStat. */
export function hasExited(pid: number): boolean {
  const stat = readTaskStat(pid);
  return stat === undefined || exitedStat(stat);
}

/** CPU time the task has run, ns (schedstat field 1), or undefined when it is gone. */
export function readTaskCpuNs(pid: number, tid: number = pid): number | undefined {
  try {
    return parseSchedstat(readProcFile(`${taskDir(pid, tid)}/schedstat`)).cpuNs;
  } catch (error) {
    if (isGone(error)) return undefined;
    throw error;
  }
}

/**
 * Thread ids of process `pid` other than `pid` itself (empty when it is gone
 * or has no other). A process of one thread (stat field 20) is not listed:
 * one read of a file the daemon keeps open, against the directory's open,
 * stat, two getdents and close.
 */
export function otherThreadsOf(pid: number): number[] {
  let stat: TaskStat;
  try {
    stat = parseStat(readProcFile(`/proc/${pid}/stat`));
  } catch (error) {
    if (isGone(error)) return [];
    throw error;
  }
  return stat.threads === 1 ? [] : threadsOf(pid).filter((tid) => tid !== pid);
}

/** Thread ids of process `pid` (empty when it is gone). */
export function threadsOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number).filter(Number.isInteger);
  } catch (error) {
    if (isGone(error)) return [];
    throw error;
  }
}

/** Child processes of thread `tid` of `pid` (needs CONFIG_PROC_CHILDREN). */
export function listChildren(pid: number, tid: number = pid): number[] {
  try {
    const text = readFileSync(`${taskDir(pid, tid)}/children`, "utf8").trim();
    return text === "" ? [] : text.split(" ").map(Number);
  } catch (error) {
    if (isGone(error)) return [];
    throw error;
  }
}

/** Process id (tgid) a thread belongs to, or undefined when it is gone. */
export function threadGroupOf(tid: number): number | undefined {
  try {
    const match = /^Tgid:\s+(\d+)$/m.exec(readFileSync(`/proc/${tid}/status`, "utf8"));
    return match?.[1] === undefined ? undefined : Number(match[1]);
  } catch (error) {
    if (isGone(error)) return undefined;
    throw error;
  }
}

/**
 * A task's schedstat and stat files, kept open and re-read with pread: the
 * SFS poller reads them every millisecond, and open/close is most of the
 * cost of a read (about 3× here with 50 tasks).
 */
export class TaskFiles {
  static readonly #buf = Buffer.alloc(1024);
  #schedstat: number | undefined;
  #stat: number | undefined;

  /** Undefined when the task is gone. */
  static open(pid: number, tid: number): TaskFiles | undefined {
    const files = new TaskFiles();
    try {
      files.#schedstat = openSync(`${taskDir(pid, tid)}/schedstat`, "r");
      files.#stat = openSync(`${taskDir(pid, tid)}/stat`, "r");
      return files;
    } catch (error) {
      files.close();
      if (isGone(error)) return undefined;
      throw error;
    }
  }

  /** CPU ns and stat now, or undefined when the task is gone. */
  read(): { cpuNs: number; stat: TaskStat } | undefined {
    if (this.#schedstat === undefined || this.#stat === undefined) return undefined;
    const buf = TaskFiles.#buf;
    try {
      let n = readSync(this.#schedstat, buf, 0, buf.length, 0);
      if (n === 0) return undefined;
      const { cpuNs } = parseSchedstat(buf.toString("latin1", 0, n));
      n = readSync(this.#stat, buf, 0, buf.length, 0);
      if (n === 0) return undefined;
      return { cpuNs, stat: parseStat(buf.toString("latin1", 0, n)) };
    } catch (error) {
      if (isGone(error)) return undefined;
      throw error;
    }
  }

  close(): void {
    for (const fd of [this.#schedstat, this.#stat]) if (fd !== undefined) closeSync(fd);
    this.#schedstat = undefined;
    this.#stat = undefined;
  }
}
