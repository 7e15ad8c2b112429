/**
 * Where an invocation's level must be written so that the scheduler weighs
 * it against its competitors.
 *
 * The fair class compares weights only among the entities of one scheduling
 * group. A task's nice therefore orders it against tasks of its own group,
 * and nothing else: two tasks in two cpu cgroups split a core by the groups'
 * weights whatever their nice, and so do two tasks in two autogroups (one per
 * session when `kernel.sched_autogroup_enabled` is 1 and the task is in the
 * root cpu group). Platforms give every sandbox a cpu cgroup of its own
 * (Docker: one per container; OpenLambda: one per sandbox), so on a real
 * worker host a level is only felt when it is written on that group.
 *
 * A WeightTarget says which entity carries a task's level:
 * - `task`: its competitors share its group: the task's own nice is enough.
 * - `cgroup`: the task's cpu cgroup holds nothing but this invocation (or
 *   this declared sandbox): the group's weight carries the level, scaled
 *   from the group's own weight (so a platform's proportional shares keep
 *   their proportions), and its `cpu.idle` carries the deepest yields.
 * - `autogroup`: the task is in the root cpu group, autogroup is on and the
 *   invocation leads its own session: the autogroup's nice carries it.
 * A group several invocations share takes the most urgent level among the
 * members running a burst (a sleeping member's level is its next burst's);
 * their own nice levels still order them inside it. The task's own nice is
 * always written too (the Actuator does that), so the order inside a group
 * holds on every target.
 *
 * Everything changed here is recorded in the touched record before it is
 * changed and put back (the group's original weight and idle flag) when the
 * last member leaves, on close, and by the guardian after a crash.
 */
import { accessSync, closeSync, constants, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { RecordError } from "../../errors.js";
import { BASE_NICE, DEFAULT_IDLE_FROM, niceWeight, runsIdle } from "../../contracts/levels.js";
import {
  type CpuHierarchy,
  cpuGroupFrom,
  parseProcCgroup,
  processesUnder,
  readCpuHierarchy,
} from "../../host/cpu-cgroups.js";
import { readProcFile } from "../../host/proc-file.js";
import { parseStat } from "../../host/proc-stat.js";
import { isSelfOrDescendant } from "../../host/proc-task.js";
import type { TouchedOriginals, TouchedTasks } from "../guardian/touched-types.js";

/** The record the targets write to; its originals when it keeps them (the file and memory records do). */
type GroupRecord = TouchedTasks & Partial<Pick<TouchedOriginals, "cgroupOriginal">>;

export type WeightTarget =
  | { kind: "task"; why: TaskTargetReason }
  | { kind: "cgroup"; dir: string; hierarchy: "v1" | "v2" }
  | { kind: "autogroup"; pid: number };

/** Why a task's level stays on the task. */
export type TaskTargetReason =
  /** The task is in the root cpu group and autogroup is off: all root tasks share one group. */
  | "root-group"
  /** Root cpu group, autogroup on, but the invocation does not lead its own session. */
  | "shared-autogroup"
  /** Its cpu cgroup holds processes outside the invocation (or sandbox): a shared group. */
  | "shared-cgroup"
  /** No cpu controller is mounted, or the task's cgroup could not be read. */
  | "no-cpu-controller"
  /** The task is gone, or strategy rt (real-time levels are global, groups do not weigh them). */
  | "not-applicable";

/** Values a group had before alps first wrote it: what restore puts back. */
export interface GroupOriginal {
  /** v1 cpu.shares or v2 cpu.weight. */
  weight: number;
  /** cpu.idle (0 or 1); undefined where the kernel has no cpu.idle. */
  idle: number | undefined;
}

/** v1 `cpu.shares` bounds (kernel MIN_SHARES, MAX_SHARES). */
const V1_MIN = 2;
const V1_MAX = 262_144;
/** v2 `cpu.weight` bounds. */
const V2_MIN = 1;
const V2_MAX = 10_000;
/** A group with more processes than this is not a sandbox of one invocation. */
const MAX_GROUP_PROCS = 256;

/** The session of task `tid` (stat field 6), or undefined when it is gone. */
function sessionOf(tid: number): number | undefined {
  try {
    return parseStat(readProcFile(`/proc/${tid}/stat`)).session;
  } catch {
    return undefined;
  }
}

/** How the targets read and write the kernel's files (injected by unit tests). */
export interface WeightFiles {
  read(path: string): string;
  write(path: string, value: string): void;
}

/** Descriptors kept open at most: a host's sandboxes, each with its weight and idle files. */
const MAX_OPEN_FILES = 1024;

/**
 * Writes each value with one write(2) on a descriptor kept open per file (a
 * cgroup file takes each write whole). A sandbox's files stay open after its
 * group is put back, for its next invocation: closing a cgroup file cost
 * about 0.1 ms here, opening one again as much. The oldest is closed past
 * MAX_OPEN_FILES; a write that fails (the group was removed) closes its file.
 */
export class CachedWeightFiles implements WeightFiles {
  readonly #fds = new Map<string, number>();
  read(path: string): string {
    return readFileSync(path, "utf8");
  }
  write(path: string, value: string): void {
    const cached = this.#fds.get(path);
    if (cached !== undefined) {
      try {
        writeSync(cached, value);
        return;
      } catch {
        // The group was removed (and maybe made again under the same path):
        // its old file is dead. Once more on a fresh open, which says why.
        this.forget(path);
      }
    }
    const fd = openSync(path, "w");
    try {
      writeSync(fd, value);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.#fds.set(path, fd);
    if (this.#fds.size > MAX_OPEN_FILES) {
      const oldest = this.#fds.keys().next().value;
      if (oldest !== undefined) this.forget(oldest);
    }
  }
  /** Close the descriptor of `path` (its group was released or removed). */
  forget(path: string): void {
    const fd = this.#fds.get(path);
    if (fd === undefined) return;
    this.#fds.delete(path);
    try {
      closeSync(fd);
    } catch {
      // already closed by the kernel side (directory removed): nothing to do
    }
  }
  closeAll(): void {
    for (const path of [...this.#fds.keys()]) this.forget(path);
  }
}

/** The weight a level gives a group whose own weight is `original`, in the file's units. */
export function groupWeight(level: number, original: number, hierarchy: "v1" | "v2"): number {
  const scaled = Math.round((original * niceWeight(level)) / niceWeight(BASE_NICE));
  return hierarchy === "v1"
    ? Math.min(V1_MAX, Math.max(V1_MIN, scaled))
    : Math.min(V2_MAX, Math.max(V2_MIN, scaled));
}

export interface WeightTargetCounters {
  /** Tasks whose level went to each kind of target (first resolution of each task). */
  targets_task: number;
  targets_cgroup: number;
  targets_autogroup: number;
  /** Writes of a group's weight or idle flag, or an autogroup's nice. */
  group_writes: number;
  /** Groups put back to their original weight and idle flag. */
  group_restores: number;
  /** Writes the kernel refused (logged). */
  group_write_errors: number;
  /** Groups left alone because the touched record had no room for them (logged). */
  group_record_full: number;
}

export interface WeightTargetsOptions {
  hierarchy?: CpuHierarchy;
  /** Strategy dynamic puts the deepest yields on cpu.idle (runsIdle); others never. */
  idleFrom: number | undefined;
  touched?: GroupRecord;
  files?: WeightFiles;
  log?: (message: string) => void;
  /** Reads /proc/<tid>/cgroup (tests inject). */
  procCgroup?: (tid: number) => string | undefined;
  /** Decides a task's target (tests inject; default: resolve() from /proc and the cgroup files). */
  resolve?: (tid: number, root: number) => WeightTarget;
}

type GroupKey = string;

interface Group {
  target: Exclude<WeightTarget, { kind: "task" }>;
  /** Level of each member task (BASE_NICE once its boost expired). */
  members: Map<number, number>;
  /** Members asleep since their last burst: their level is their next burst's, not a competitor's. */
  asleep: Set<number>;
  original: GroupOriginal;
  /** Level written now (undefined: untouched, original in force). */
  written: number | undefined;
  idleWritten: boolean;
}

function keyOf(target: Exclude<WeightTarget, { kind: "task" }>): GroupKey {
  return target.kind === "cgroup" ? `cg:${target.dir}` : `ag:${target.pid}`;
}

export class WeightTargets {
  readonly counters: WeightTargetCounters = {
    targets_task: 0,
    targets_cgroup: 0,
    targets_autogroup: 0,
    group_writes: 0,
    group_restores: 0,
    group_write_errors: 0,
    group_record_full: 0,
  };
  readonly hierarchy: CpuHierarchy;
  readonly #idleFrom: number | undefined;
  readonly #touched: GroupRecord | undefined;
  readonly #files: WeightFiles;
  readonly #log: (message: string) => void;
  readonly #procCgroup: (tid: number) => string | undefined;
  readonly #resolve: (tid: number, root: number) => WeightTarget;
  /** Each task's target and its group (if any). */
  readonly #taskGroup = new Map<number, GroupKey | null>();
  readonly #groups = new Map<GroupKey, Group>();

  constructor(opts: WeightTargetsOptions) {
    this.hierarchy = opts.hierarchy ?? readCpuHierarchy();
    this.#idleFrom = opts.idleFrom;
    this.#touched = opts.touched;
    this.#files = opts.files ?? new CachedWeightFiles();
    this.#log = opts.log ?? (() => {});
    this.#procCgroup =
      opts.procCgroup ??
      ((tid) => {
        try {
          return readProcFile(`/proc/${tid}/cgroup`);
        } catch {
          return undefined;
        }
      });
    this.#resolve = opts.resolve ?? ((tid, root) => this.resolve(tid, root));
  }

  /**
   * Where the level of `tid` goes. `root` is the invocation's root pid (0 for
   * a task found through a declared sandbox's cgroup): a group counts as the
   * invocation's own only when every process in it is `root` or descends
   * from it (or, for root 0, shares the task's v2 cgroup: the sandbox).
   */
  resolve(tid: number, root: number): WeightTarget {
    const text = this.#procCgroup(tid);
    if (text === undefined) return { kind: "task", why: "not-applicable" };
    const group = cpuGroupFrom(text, this.hierarchy);
    if (group === undefined) return { kind: "task", why: "no-cpu-controller" };
    if (group.dir !== null) {
      const procs = processesUnder(group.dir, MAX_GROUP_PROCS);
      const own =
        procs !== undefined &&
        procs.length > 0 &&
        (root > 0
          ? procs.every((p) => isSelfOrDescendant(p, root))
          : procs.every((p) => this.#sameSandbox(p, text)));
      return own
        ? { kind: "cgroup", dir: group.dir, hierarchy: group.hierarchy }
        : { kind: "task", why: "shared-cgroup" };
    }
    if (!this.hierarchy.autogroup) return { kind: "task", why: "root-group" };
    // The autogroup is the session's: it is the invocation's own when the
    // invocation leads that session.
    const leader = root > 0 ? root : tid;
    const session = sessionOf(tid);
    return session !== undefined && session === leader && root > 0
      ? { kind: "autogroup", pid: root }
      : { kind: "task", why: "shared-autogroup" };
  }

  /** The v2 path of `pid` is the one in `taskCgroup` (both in the same declared sandbox). */
  #sameSandbox(pid: number, taskCgroup: string): boolean {
    const own = parseProcCgroup(taskCgroup).find((l) => l.controllers.length === 0)?.path;
    const text = this.#procCgroup(pid);
    if (own === undefined || text === undefined) return false;
    return parseProcCgroup(text).find((l) => l.controllers.length === 0)?.path === own;
  }

  /** The group `tid` is counted in, if its level goes to one. */
  targetOf(tid: number): WeightTarget | undefined {
    const key = this.#taskGroup.get(tid);
    if (key === undefined) return undefined;
    if (key === null) return { kind: "task", why: "shared-cgroup" };
    return this.#groups.get(key)?.target;
  }

  /** `tid` (of invocation `root`) is now at `level`: its group follows the most urgent member. */
  onLevel(tid: number, root: number, level: number): void {
    let key = this.#taskGroup.get(tid);
    if (key === undefined) {
      const target = this.#resolve(tid, root);
      if (target.kind === "task") {
        this.counters.targets_task++;
        this.#taskGroup.set(tid, null);
        return;
      }
      if (target.kind === "cgroup") this.counters.targets_cgroup++;
      else this.counters.targets_autogroup++;
      key = keyOf(target);
      if (!this.#groups.has(key)) {
        const original = this.#readOriginal(target);
        if (original === undefined) {
          this.#taskGroup.set(tid, null);
          return;
        }
        this.#groups.set(key, {
          target,
          members: new Map(),
          asleep: new Set(),
          original,
          written: undefined,
          idleWritten: false,
        });
      }
      this.#taskGroup.set(tid, key);
    }
    if (key === null) return;
    const group = this.#groups.get(key);
    if (group === undefined) return;
    // A new member runs when it is the invocation's own task, given its
    // level as it is let go; any other (a helper thread, a child) joins
    // through a level the kernel posted, and counts once it is seen running.
    if (!group.members.has(tid) && !(root > 0 && tid === root)) group.asleep.add(tid);
    group.members.set(tid, level);
    this.#sync(group);
  }

  /** `tid` left (restored, ended or exited): its group follows the members left, or goes back. */
  onRelease(tid: number): void {
    const key = this.#taskGroup.get(tid);
    this.#taskGroup.delete(tid);
    if (key === undefined || key === null) return;
    const group = this.#groups.get(key);
    if (group === undefined) return;
    group.members.delete(tid);
    group.asleep.delete(tid);
    if (group.members.size > 0) this.#sync(group);
    else this.#release(key, group);
  }

  /**
   * `tid` went to sleep (`running` false: its burst ended) or is running a
   * burst again. A sleeping member's level is the boost of its next burst
   * (the kernel posts it as the task blocks); counting it would hold the
   * whole group at that boost while another member runs down its slice. A
   * runtime's helper threads sleep nearly always, so with them counted a
   * warm worker's group never lost its boost. Returns false when `tid` is
   * not known yet (its first level is still to come).
   */
  onRunning(tid: number, running: boolean): boolean {
    const key = this.#taskGroup.get(tid);
    if (key === undefined) return false;
    if (key === null) return true;
    const group = this.#groups.get(key);
    if (group === undefined || !group.members.has(tid)) return false;
    if (running === !group.asleep.has(tid)) return true;
    if (running) group.asleep.delete(tid);
    else group.asleep.add(tid);
    this.#sync(group);
    return true;
  }

  /**
   * Whether `tid` counts as running a burst in its group: the end of that
   * burst changes the group's level, so the sensor must report it at once.
   */
  countsRunning(tid: number): boolean {
    const key = this.#taskGroup.get(tid);
    if (key === undefined || key === null) return false;
    const group = this.#groups.get(key);
    return group !== undefined && group.members.has(tid) && !group.asleep.has(tid);
  }

  /**
   * Forget what was written (the guardian put every group back while the
   * daemon did not answer): the next level of each group is written again.
   */
  invalidate(): void {
    for (const group of this.#groups.values()) {
      group.written = undefined;
      group.idleWritten = false;
    }
  }

  /** Put every group back (the daemon closes). */
  restoreAll(): void {
    for (const [key, group] of [...this.#groups]) this.#release(key, group);
    this.#taskGroup.clear();
    if (this.#files instanceof CachedWeightFiles) this.#files.closeAll();
  }

  /** Groups alps holds changed now. */
  groups(): WeightTarget[] {
    return [...this.#groups.values()].map((g) => g.target);
  }

  #readOriginal(target: Exclude<WeightTarget, { kind: "task" }>): GroupOriginal | undefined {
    // Recorded before anything is written: a record without room (RecordError)
    // means the group must be left alone, since nothing could undo a change.
    try {
      this.#touched?.markCgroup(recordPath(target));
    } catch (err) {
      if (!(err instanceof RecordError)) throw err;
      this.counters.group_record_full++;
      this.#log(`weights: ${describe(target)} left alone: ${err.message}`);
      return undefined;
    }
    // The record read the original as it took the group: no second read.
    const recorded = this.#touched?.cgroupOriginal?.(recordPath(target));
    if (
      recorded !== undefined &&
      recorded.kind === (target.kind === "cgroup" ? target.hierarchy : "autogroup")
    )
      return { weight: recorded.weight, idle: recorded.idle };
    try {
      if (target.kind === "autogroup") {
        const m = /nice\s+(-?\d+)/.exec(this.#files.read(recordPath(target)));
        return { weight: Number(m?.[1] ?? 0), idle: undefined };
      }
      const file = target.hierarchy === "v1" ? "cpu.shares" : "cpu.weight";
      const weight = Number(this.#files.read(join(target.dir, file)).trim());
      let idle: number | undefined;
      try {
        idle = Number(this.#files.read(join(target.dir, "cpu.idle")).trim());
      } catch {
        idle = undefined; // a kernel before 5.15: no group idle, the weight alone
      }
      return { weight, idle };
    } catch (err) {
      this.#touched?.releaseCgroup(recordPath(target));
      this.counters.group_write_errors++;
      this.#log(`weights: cannot read ${describe(target)}: ${(err as Error).message}`);
      return undefined;
    }
  }

  /**
   * Write the group's level: the most urgent running member's. With every
   * member asleep, the most urgent next burst's: the group is boosted
   * before the wake-up, as a task's own nice is.
   */
  #sync(group: Group): void {
    let level = Number.POSITIVE_INFINITY;
    let sleeping = Number.POSITIVE_INFINITY;
    for (const [tid, l] of group.members) {
      if (group.asleep.has(tid)) sleeping = Math.min(sleeping, l);
      else level = Math.min(level, l);
    }
    if (level === Number.POSITIVE_INFINITY) level = sleeping;
    if (level === group.written) return;
    const t = group.target;
    try {
      if (t.kind === "autogroup") {
        // No idle flag for an autogroup: the last nice level is the deepest yield it has.
        this.#files.write(`/proc/${t.pid}/autogroup`, `${Math.min(19, level)}\n`);
      } else {
        const idle =
          this.#idleFrom !== undefined &&
          group.original.idle !== undefined &&
          runsIdle(level, this.#idleFrom);
        if (idle !== group.idleWritten) {
          this.#files.write(
            join(t.dir, "cpu.idle"),
            idle ? "1\n" : `${group.original.idle ?? 0}\n`,
          );
          group.idleWritten = idle;
          this.counters.group_writes++;
        }
        if (!idle) {
          const file = t.hierarchy === "v1" ? "cpu.shares" : "cpu.weight";
          this.#files.write(
            join(t.dir, file),
            `${groupWeight(level, group.original.weight, t.hierarchy)}\n`,
          );
        }
      }
      group.written = level;
      this.counters.group_writes++;
    } catch (err) {
      this.counters.group_write_errors++;
      this.#log(
        `weights: writing level ${level} to ${describe(t)} failed: ${(err as Error).message}`,
      );
    }
  }

  #release(key: GroupKey, group: Group): void {
    this.#groups.delete(key);
    for (const tid of group.members.keys()) this.#taskGroup.delete(tid);
    if (group.written === undefined) {
      this.#touched?.releaseCgroup(recordPath(group.target));
      return;
    }
    const t = group.target;
    try {
      if (t.kind === "autogroup") {
        this.#files.write(`/proc/${t.pid}/autogroup`, `${group.original.weight}\n`);
      } else {
        // The kernel refuses a weight while the group is idle (EINVAL): the
        // weight goes back while the group is not idle, the idle flag around it.
        const file = join(t.dir, t.hierarchy === "v1" ? "cpu.shares" : "cpu.weight");
        const idleFile = join(t.dir, "cpu.idle");
        if (group.idleWritten) this.#files.write(idleFile, "0\n");
        this.#files.write(file, `${group.original.weight}\n`);
        if (group.original.idle === 1) this.#files.write(idleFile, "1\n");
      }
      this.counters.group_restores++;
    } catch (err) {
      // A removed group or an exited session has nothing left to restore.
      const code = (err as { code?: string }).code;
      if (code !== "ENOENT" && code !== "ESRCH") {
        this.counters.group_write_errors++;
        this.#log(`weights: restoring ${describe(t)} failed: ${(err as Error).message}`);
      }
    }
    // A cgroup's files stay open for its next invocation (CachedWeightFiles);
    // an autogroup's belongs to one process, whose pid may be reused.
    if (t.kind === "autogroup" && this.#files instanceof CachedWeightFiles)
      this.#files.forget(`/proc/${t.pid}/autogroup`);
    this.#touched?.releaseCgroup(recordPath(t));
  }
}

/** Where the touched record keeps a group: its cgroup directory, or `/proc/<pid>/autogroup`. */
function recordPath(t: Exclude<WeightTarget, { kind: "task" }>): string {
  return t.kind === "cgroup" ? t.dir : `/proc/${t.pid}/autogroup`;
}

function describe(t: WeightTarget): string {
  if (t.kind === "cgroup") return `cgroup ${t.dir}`;
  if (t.kind === "autogroup") return `the autogroup of ${t.pid}`;
  return "the task";
}

/**
 * The targets a backend of `strategy` uses: none for rt (real-time levels
 * are global, no group weighs them); cpu.idle only for dynamic's deepest yields.
 */
export function createWeightTargets(
  strategy: "dynamic" | "static" | "rt",
  idleFrom: number | undefined,
  touched: GroupRecord | undefined,
  log: (message: string) => void,
): WeightTargets | undefined {
  if (strategy === "rt") return undefined;
  return new WeightTargets({
    idleFrom: strategy === "dynamic" ? (idleFrom ?? DEFAULT_IDLE_FROM) : undefined,
    ...(touched === undefined ? {} : { touched }),
    log,
  });
}

/** What the status says about where levels are written. */
export function targetsReason(targets: WeightTargets | undefined): string {
  if (targets === undefined) return "levels on each task's nice only (group weights off)";
  const h = targets.hierarchy;
  const where =
    h.v1 !== undefined
      ? `cgroup v1 cpu.shares/cpu.idle under ${h.v1}`
      : h.v2 !== undefined
        ? `cgroup v2 cpu.weight/cpu.idle under ${h.v2}`
        : "no cpu controller mounted";
  return `levels on each task's nice, and on its sandbox's own cpu cgroup (${where})${h.autogroup ? " or its own autogroup" : ""} when it has one`;
}

/** What `alps doctor` says about where levels are written on this host. */
export interface WeightReport {
  /** Which hierarchy has the cpu controller. */
  cpu_controller: "v1" | "v2" | "none";
  cpu_mount?: string;
  /** The cpu hierarchy can be written (alps can change a group's weight). */
  writable: boolean;
  /** kernel.sched_autogroup_enabled. */
  autogroup: boolean;
  /** The entities alps writes a level on, most specific first. */
  entities: ("cgroup" | "autogroup" | "task")[];
  /** What alps writes, one line each. */
  writes: string[];
  /** When levels cannot reach the entity the scheduler compares: why (alps mode is not claimed). */
  problem?: string;
}

/** Whether `dir` can be written (a read-only cgroup mount, as in a container without a writable hostPath, cannot). */
function writableDir(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export function weightReport(h: CpuHierarchy = readCpuHierarchy()): WeightReport {
  const mount = h.v1 ?? h.v2;
  const controller = h.v1 !== undefined ? "v1" : h.v2 !== undefined ? "v2" : "none";
  const writable = mount !== undefined && writableDir(mount);
  const writes: string[] = [
    "the task's nice (or SCHED_IDLE for the deepest yields): orders it among tasks of its own group",
  ];
  const entities: WeightReport["entities"] = [];
  if (mount !== undefined) {
    entities.push("cgroup");
    writes.unshift(
      controller === "v1"
        ? `a sandbox that is its own cpu cgroup under ${mount}: its cpu.shares (scaled from its own) and cpu.idle for the deepest yields`
        : `a sandbox that is its own cpu cgroup under ${mount}: its cpu.weight (scaled from its own) and cpu.idle for the deepest yields`,
    );
  }
  if (h.autogroup) {
    entities.push("autogroup");
    writes.splice(
      entities.length - 1,
      0,
      "a task in the root cpu group whose invocation leads its own session: that session's autogroup nice (/proc/<pid>/autogroup)",
    );
  }
  entities.push("task");
  const report: WeightReport = {
    cpu_controller: controller,
    ...(mount === undefined ? {} : { cpu_mount: mount }),
    writable,
    autogroup: h.autogroup,
    entities,
    writes,
  };
  if (mount !== undefined && !writable)
    report.problem = `the cpu hierarchy ${mount} is read-only here: a sandbox's cpu cgroup weight cannot be written, and a task's nice does not weigh it against other sandboxes (mount the cgroup filesystem writable, e.g. a hostPath of /sys/fs/cgroup)`;
  return report;
}
