/**
 * The proc sensor: what the BPF programs see in the kernel, approximated
 * from user space by polling /proc (issue 5). It follows the tasks of
 * registered invocations (the pid, its threads and its children) and of
 * declared sandbox cgroups, and turns their CPU time and state into bursts
 * (wake-up to block or exit).
 *
 * The poll period is chosen by the backend each round (`periodMs`): SFS
 * needs 1 ms while a task is on SCHED_FIFO, nothing needs that when all
 * tasks are on the fair class. New tasks are discovered less often than
 * known tasks are sampled, because listing is the expensive part.
 */
import { readFileSync } from "node:fs";
import pidusage from "pidusage";
import { isGone } from "../../host/errno.js";
import {
  exitedStat,
  listChildren,
  TaskFiles,
  threadGroupOf,
  threadsOf,
} from "../../host/proc-stat.js";

/** One task the sensor follows. Mutable view, owned by the sensor. */
export interface SensedTask {
  tid: number;
  /** Process the task belongs to. */
  pid: number;
  fn: string;
  /** The invocation root pid, or undefined for a task found only through a sandbox cgroup. */
  invocation: number | undefined;
  /** CPU time used so far, ns. */
  cpuNs: number;
  /** CPU time when the sensor first saw it, ns (an invocation's CPU is cpuNs − firstCpuNs). */
  firstCpuNs: number;
  state: string;
  /** In a burst (running or runnable) as of the last poll. */
  running: boolean;
  /** CPU time at the start of the current (or last) burst, ns. */
  burstStartCpuNs: number;
  burstStartMs: number;
}

export interface SensorListener {
  /** A task was seen for the first time (it starts in a burst). */
  taskAdded?(task: SensedTask): void;
  /** A task that had blocked runs again. */
  burstStarted?(task: SensedTask): void;
  /** A task blocked (or exited): its burst used `cpuNs`. */
  burstEnded?(task: SensedTask, cpuNs: number): void;
  /** A task exited (after `burstEnded` if it was in a burst). */
  taskExited?(task: SensedTask): void;
  /** After every poll, with every task sampled in it. */
  polled?(nowMs: number): void;
}

export interface ProcSensorOptions {
  /** Next poll period, asked after every poll. */
  periodMs?: () => number;
  /** How often to look for new threads, children and cgroup members, ms. */
  discoverEveryMs?: number;
  now?: () => number;
}

export interface ProcessUsage {
  pid: number;
  /** Percent of one CPU since the previous call. */
  cpu: number;
  /** Resident memory, bytes. */
  memory: number;
}

const DEFAULT_PERIOD_MS = 20;
const DEFAULT_DISCOVER_MS = 10;

export class ProcSensor {
  readonly #tasks = new Map<number, SensedTask>();
  /** Open /proc files of each task, re-read every poll. */
  readonly #files = new Map<number, TaskFiles>();
  readonly #invocations = new Map<number, string>();
  readonly #cgroups = new Map<string, string>();
  readonly #listeners: SensorListener[] = [];
  readonly #periodMs: () => number;
  readonly #discoverEveryMs: number;
  readonly #now: () => number;
  #lastDiscoverMs = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #polls = 0;

  constructor(options: ProcSensorOptions = {}) {
    this.#periodMs = options.periodMs ?? (() => DEFAULT_PERIOD_MS);
    this.#discoverEveryMs = options.discoverEveryMs ?? DEFAULT_DISCOVER_MS;
    this.#now = options.now ?? (() => performance.now());
  }

  on(listener: SensorListener): void {
    this.#listeners.push(listener);
  }

  /** Follow `pid`, its threads and its children as `fn`. The pid is sampled at once. */
  trackInvocation(fn: string, pid: number): SensedTask | undefined {
    this.#invocations.set(pid, fn);
    return this.#see(pid, pid, fn, pid, this.#now());
  }

  /** Stop following an invocation's tasks (they are not reported as exited). */
  untrackInvocation(pid: number): void {
    this.#invocations.delete(pid);
    for (const [tid, task] of this.#tasks) if (task.invocation === pid) this.#drop(tid);
  }

  addCgroup(fn: string, cgroupPath: string): void {
    this.#cgroups.set(cgroupPath, fn);
    this.#lastDiscoverMs = Number.NEGATIVE_INFINITY;
  }

  removeCgroup(cgroupPath: string): void {
    this.#cgroups.delete(cgroupPath);
  }

  task(tid: number): SensedTask | undefined {
    return this.#tasks.get(tid);
  }

  tasks(): IterableIterator<SensedTask> {
    return this.#tasks.values();
  }

  get polls(): number {
    return this.#polls;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    const loop = (): void => {
      this.pollOnce();
      this.#timer = setTimeout(loop, this.#periodMs());
    };
    this.#timer = setTimeout(loop, this.#periodMs());
  }

  /** Poll again now-ish (e.g. a task just entered FIFO and needs the fast period). */
  reschedule(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.start();
  }

  /** Stops polling and closes every file; the sensor can be started again. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const tid of [...this.#tasks.keys()]) this.#drop(tid);
  }

  #drop(tid: number): void {
    this.#tasks.delete(tid);
    this.#files.get(tid)?.close();
    this.#files.delete(tid);
  }

  /** One round: discover new tasks if due, sample every known task, report changes. */
  pollOnce(): void {
    const now = this.#now();
    this.#polls++;
    if (now - this.#lastDiscoverMs >= this.#discoverEveryMs) {
      this.#lastDiscoverMs = now;
      this.#discover(now);
    }
    for (const task of [...this.#tasks.values()]) this.#sample(task, now);
    for (const l of this.#listeners) l.polled?.(now);
  }

  /** Per-process CPU and memory figures for metrics (pidusage). */
  async processUsage(): Promise<ProcessUsage[]> {
    const pids = [...new Set([...this.#tasks.values()].map((t) => t.pid))];
    if (pids.length === 0) return [];
    const stats = await pidusage(pids);
    return Object.values(stats).map((s) => ({ pid: s.pid, cpu: s.cpu, memory: s.memory }));
  }

  #discover(now: number): void {
    for (const [root, fn] of this.#invocations) {
      const seen = new Set<number>();
      const walk = (pid: number): void => {
        if (seen.has(pid)) return;
        seen.add(pid);
        for (const tid of threadsOf(pid)) {
          this.#see(pid, tid, fn, root, now);
          for (const child of listChildren(pid, tid)) walk(child);
        }
      };
      walk(root);
    }
    for (const [path, fn] of this.#cgroups) {
      for (const tid of readIds(`${path}/cgroup.threads`)) {
        if (this.#tasks.has(tid)) continue;
        const pid = threadGroupOf(tid);
        if (pid !== undefined) this.#see(pid, tid, fn, undefined, now);
      }
    }
  }

  #see(
    pid: number,
    tid: number,
    fn: string,
    invocation: number | undefined,
    now: number,
  ): SensedTask | undefined {
    const known = this.#tasks.get(tid);
    if (known !== undefined) return known;
    const files = TaskFiles.open(pid, tid);
    const first = files?.read();
    if (files === undefined || first === undefined) {
      files?.close();
      return undefined;
    }
    const { cpuNs, stat } = first;
    // A task first seen is treated as starting a burst: a new invocation is
    // about to run, and a new thread or child was just created to run.
    const task: SensedTask = {
      tid,
      pid,
      fn,
      invocation,
      cpuNs,
      firstCpuNs: cpuNs,
      state: stat.state,
      running: true,
      burstStartCpuNs: cpuNs,
      burstStartMs: now,
    };
    this.#tasks.set(tid, task);
    this.#files.set(tid, files);
    for (const l of this.#listeners) l.taskAdded?.(task);
    return task;
  }

  #sample(task: SensedTask, now: number): void {
    const sample = this.#files.get(task.tid)?.read();
    const cpuNs = sample?.cpuNs;
    const stat = sample?.stat;
    if (cpuNs === undefined || stat === undefined || exitedStat(stat)) {
      this.#drop(task.tid);
      if (task.running) {
        if (cpuNs !== undefined) task.cpuNs = cpuNs;
        task.running = false;
        for (const l of this.#listeners) l.burstEnded?.(task, task.cpuNs - task.burstStartCpuNs);
      }
      for (const l of this.#listeners) l.taskExited?.(task);
      return;
    }
    const advanced = cpuNs > task.cpuNs;
    task.cpuNs = cpuNs;
    task.state = stat.state;
    // Runnable, or it ran since the last poll: in a burst. Sleeping and it
    // did not run since the last poll: the burst ended.
    const running = stat.state === "R" || advanced;
    if (running && !task.running) {
      task.running = true;
      task.burstStartCpuNs = cpuNs;
      task.burstStartMs = now;
      for (const l of this.#listeners) l.burstStarted?.(task);
    } else if (!running && task.running) {
      task.running = false;
      for (const l of this.#listeners) l.burstEnded?.(task, cpuNs - task.burstStartCpuNs);
    }
  }
}

function readIds(file: string): number[] {
  try {
    return readFileSync(file, "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map(Number);
  } catch (error) {
    if (isGone(error)) return [];
    throw error;
  }
}
