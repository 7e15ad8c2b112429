/**
 * Every task, and every cpu cgroup, whose scheduling alps changes is recorded
 * here before the change and released after it is undone. The record
 * survives the daemon (a file under the state directory), so the guardian or
 * `alps restore` can put each one back as it was — the task's original
 * policy and nice, the cgroup's original weight and idle flag — after a
 * SIGKILL or crash (safety invariant 3, docs/safety.md).
 *
 * `mark` and `markCgroup` throw a RecordError (src/errors.ts) when the
 * record cannot take the entry (the state directory is full): the caller
 * must then not make the change, since nothing could undo it.
 */
export interface TouchedTasks {
  /** Records the task's current policy+nice BEFORE the caller changes it (first mark only). */
  mark(tid: number): void;
  /** The task is back as it was (or gone). */
  release(tid: number): void;
  /** Tasks currently recorded. */
  list(): number[];
  /**
   * `dir` = absolute path of a cpu-controller cgroup directory (v1 cpu or v2
   * with cpu enabled); records its current cpu.weight (v2) or cpu.shares
   * (v1) and cpu.idle BEFORE the caller changes them (first mark only).
   * `/proc/<pid>/autogroup` records the nice of `<pid>`'s autogroup instead.
   */
  markCgroup(dir: string): void;
  /** The caller has put the weight/idle back (or the dir is gone). */
  releaseCgroup(dir: string): void;
  /** Cgroup directories currently recorded. */
  cgroups(): string[];
}

/** A task's scheduling as alps first found it (from /proc/<tid>/stat). */
export interface TaskOriginal {
  /** SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_FIFO, SCHED_RR (stat field 41). */
  policy: number;
  /** Nice level (stat field 19). */
  nice: number;
  /** Real-time priority, 0 for the fair class (stat field 40). */
  rtPriority: number;
}

/**
 * A scheduling group's weight as alps first found it: a cpu cgroup, or an
 * autogroup (the kernel's group of one session's tasks in the root cpu
 * group), recorded under the path `/proc/<pid>/autogroup` of a member.
 */
export interface CgroupOriginal {
  /**
   * Identity: the cgroup directory's inode (a cgroup removed and created
   * again under the same path is another one); for an autogroup, the start
   * time of the member `<pid>` (stat field 22), so a recycled pid is left alone.
   */
  ino: bigint;
  /** v2: the weight is cpu.weight (1..10000); v1: cpu.shares (2..262144); autogroup: its nice (-20..19). */
  kind: "v2" | "v1" | "autogroup";
  weight: number;
  /** cpu.idle (0 or 1); undefined where the kernel has no cpu.idle. */
  idle: number | undefined;
}

/** What restoring needs besides the sets: the originals recorded at the first mark. */
export interface TouchedOriginals {
  /** The task's scheduling before alps first changed it; undefined when unknown (a v1 record, a task already gone at mark). */
  taskOriginal(tid: number): TaskOriginal | undefined;
  cgroupOriginal(dir: string): CgroupOriginal | undefined;
}

/** Both record implementations (the file, and memory for tests) are this. */
export type TouchedRecorder = TouchedTasks & TouchedOriginals;
