/**
 * Helpers for the alps kernel tests: the `burn` function body
 * (native/test/burn.c, compiled once per run), spawned gated so it can be
 * registered before its first instruction, /proc readers, and what the
 * tests' margins are made of.
 *
 * How these tests stay true on a loaded host (docs/testing.md): they assert
 * what alps decides, on the task's own CPU clock, never what a tick showed
 * at one wall-clock instant. A burner's sample says how much CPU its burst
 * had used when it read its level; the level the kernel posts is a function
 * of exactly that (src/contracts/levels.ts), and the daemon applies it a
 * little later. So a sample may show any level the burst has already
 * passed through, from the one it started at down to the one its CPU use
 * earns at that instant (`levelsUpTo`), and never a deeper one.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { probeBpf } from "../../src/backend/bpf/bpf-probe.js";
import { parseV1CpuMount } from "../../src/backend/detect.js";
import { DEFAULT_CURVE, dynamicLevel, type LevelCurve } from "../../src/contracts/levels.js";
import { type AddonResult, loadAddon } from "../../src/host/addon.js";
import { ALPS_RINGBUF_BYTES, STRUCTS } from "../../src/host/addon-types.js";
import { parseCgroup2Mount } from "../../src/host/cgroups.js";
import { type CpuHierarchy, readCpuHierarchy } from "../../src/host/cpu-cgroups.js";
import { baseAttr, type Syscalls } from "../../src/host/syscalls-types.js";
import { rmdirWhenEmpty } from "../helpers/cgroup-dir.js";
import { hasBtf, isRoot, requireHost } from "../helpers/host.js";

/**
 * The addon, and whether this host runs the BPF tests (root, BTF, the addon
 * and the alps BPF object). With CI set, a missing one fails the run
 * (requireHost) instead of skipping the tests.
 */
/** Records the kernel's ring buffer holds: each an 8-byte header + struct alps_event, 8-aligned. */
export const RING_RECORDS = Math.floor(
  ALPS_RINGBUF_BYTES / (8 + Math.ceil(STRUCTS.alps_event.size / 8) * 8),
);

export function bpfHost(): { loaded: AddonResult; ready: boolean } {
  const loaded = loadAddon();
  const probe = probeBpf();
  const ready = requireHost(
    `root, BTF and the alps BPF object (${probe.ok ? "ok" : probe.reason})`,
    isRoot() && hasBtf() && loaded.ok && probe.ok,
  );
  return { loaded, ready };
}

/** The host of the group-weight tests: bpfHost, and a cpu controller (v1 or v2) to make sandboxes in. */
export function cpuCgroupHost(): { loaded: AddonResult; hierarchy: CpuHierarchy; ready: boolean } {
  const { loaded, ready } = bpfHost();
  const hierarchy = readCpuHierarchy();
  return {
    loaded,
    hierarchy,
    ready:
      ready &&
      requireHost(
        "a cpu controller (v1 cpu hierarchy or cpu on cgroup v2)",
        hierarchy.v1 !== undefined || hierarchy.v2 !== undefined,
      ),
  };
}

const SOURCE = fileURLToPath(new URL("../../native/test/burn.c", import.meta.url));

/**
 * Compiles burn.c (once per version of its source) and returns the binary's
 * path. The cache is named by the source's hash, not its age: several
 * checkouts on one host (a fresh clone beside a worktree) share the
 * directory, and each must run its own burner.
 */
export function burnerPath(): string {
  const dir = join(tmpdir(), "alps-kernel-tests");
  mkdirSync(dir, { recursive: true });
  const hash = createHash("sha256").update(readFileSync(SOURCE)).digest("hex").slice(0, 16);
  const bin = join(dir, `burn-${hash}`);
  if (!existsSync(bin)) {
    execFileSync("cc", ["-O1", "-Wall", "-pthread", "-o", `${bin}.tmp-${process.pid}`, SOURCE]);
    execFileSync("mv", ["-f", `${bin}.tmp-${process.pid}`, bin]);
  }
  return bin;
}

export interface Sample {
  who: "main" | "child" | "thread";
  step: number;
  cpuUs: number;
  nice: number;
  policy: number;
  /** CLOCK_MONOTONIC when sampled, µs. */
  monoUs: number;
}

export interface BurnResult {
  samples: Sample[];
  exitCode: number | null;
  wallMs: number;
  out: string;
  /**
   * CPU time of the main thread when it was released, µs: it slept on its
   * gate, so its first burst starts here. The thread's CPU clock counts the
   * shell's start-up too; a main sample of the first burst has used
   * `cpuUs - baseCpuUs` of it.
   */
  baseCpuUs: number;
}

export interface GatedBurner {
  child: ChildProcess;
  pid: number;
  /** Lets it exec the burner; resolves when it exits. */
  release(): Promise<BurnResult>;
}

/**
 * CPU time a sample's burst had used when it was taken, ms: for the main
 * thread's first burst, since its release; a forked child or a new thread
 * starts its CPU clock and its first burst at zero together.
 */
export function burstUsedMs(sample: Sample, result: BurnResult): number {
  return (sample.who === "main" ? sample.cpuUs - result.baseCpuUs : sample.cpuUs) / 1000;
}

/**
 * The levels a task of a function predicting `predictedMs` with slice
 * `sliceMs` can show after `usedMs` of its burst (inside its slice): the
 * one it started at (`fresh`) down to the one its use earns now (`earned`).
 */
export function levelsUpTo(
  predictedMs: number,
  sliceMs: number,
  usedMs: number,
  curve: LevelCurve = DEFAULT_CURVE,
): { fresh: number; earned: number } {
  return {
    fresh: dynamicLevel(predictedMs, 0, sliceMs, curve),
    earned: dynamicLevel(predictedMs, usedMs, sliceMs, curve),
  };
}

/** Syscall the task is blocked in (/proc/<pid>/syscall first field), or undefined. */
function blockedSyscall(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/syscall`, "utf8").split(" ")[0];
    return first === undefined || first === "running" ? undefined : Number(first);
  } catch {
    return undefined;
  }
}

/**
 * `sh` blocked reading its stdin, which then execs `burn plan capMs`: the
 * pid exists (and can be registered) before the burner's first instruction.
 * `capMs` bounds the CPU time of each of its processes (burn.c).
 */
export async function spawnGatedBurner(
  plan: string,
  capMs = 3000,
  /** How long the shell may take to reach its gate: only a hang takes this long (a loaded host, or the kernel matrix's emulated guests, take longer than an idle one). */
  gateTimeoutMs = 20_000,
  /**
   * Run on this CPU only, from the shell's first instruction (taskset).
   * Pinned only after its move into a cpu cgroup, a task whose group then
   * held nothing but it at SCHED_IDLE was starved on the pinned CPU in 8 of
   * 40 runs beside stress-ng (weights-sandbox-cgroups), never when pinned
   * from the start. Most likely the group's load left on the CPU the shell
   * started on: a group's weight on a CPU is its load there over its load
   * on every CPU (calc_group_shares), and a SCHED_IDLE member's load is
   * tiny, so a little load elsewhere shrinks it many times over.
   */
  cpu?: number,
): Promise<GatedBurner> {
  const gate = ["-c", 'read _gate; exec "$0" "$@"', burnerPath(), plan, String(capMs)];
  const [command, args] =
    cpu === undefined ? ["sh", gate] : ["taskset", ["-c", String(cpu), "sh", ...gate]];
  const child = spawn(command, args, {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error("spawn sh failed");
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  // "close", not "exit": the samples are read from stdout, which may still be draining at exit.
  const exited = new Promise<number | null>((resolve) =>
    child.on("close", (code) => resolve(code)),
  );
  // Wait until sh sits in read(2) (x86_64 syscall 0) on the gate. Starting
  // a shell takes milliseconds; the deadline only catches one that never does.
  const deadline = Date.now() + gateTimeoutMs;
  while (blockedSyscall(pid) !== 0) {
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`sh ${pid} never blocked on its gate`);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  return {
    child,
    pid,
    async release() {
      const baseCpuUs = procCpuNs(pid) / 1000;
      const start = performance.now();
      child.stdin?.end("go\n");
      const exitCode = await exited;
      return {
        samples: parseSamples(out),
        exitCode,
        wallMs: performance.now() - start,
        out,
        baseCpuUs,
      };
    },
  };
}

export function parseSamples(out: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of out.split("\n")) {
    const m = /^(main|child|thread) (\d+) (\d+) (-?\d+) (-?\d+) (\d+)$/.exec(line);
    if (m) {
      samples.push({
        who: m[1] as Sample["who"],
        step: Number(m[2]),
        cpuUs: Number(m[3]),
        nice: Number(m[4]),
        policy: Number(m[5]),
        monoUs: Number(m[6]),
      });
    }
  }
  return samples;
}

/** nice (field 19) and policy (field 41) of a task, from /proc/<pid>/task/<tid>/stat. */
export function procSched(pid: number, tid = pid): { nice: number; policy: number } {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state).
  return { nice: Number(fields[16]), policy: Number(fields[38]) };
}

/** CPU the task has run, ns (/proc/<pid>/task/<tid>/schedstat field 1). */
export function procCpuNs(pid: number, tid = pid): number {
  return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
}

/** Kills a child the test started (by pid) and puts it back on SCHED_OTHER nice 0 if it survives. */
export function cleanupChild(child: ChildProcess | undefined, syscalls: Syscalls): void {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  try {
    syscalls.setAttr(child.pid, baseAttr());
  } catch {
    // already gone
  }
  child.kill("SIGKILL");
}

/**
 * The kernel's tick: a running task's CPU time is accounted (and the BPF
 * program sees sched_stat_runtime) at least once per tick, so a threshold
 * is noticed within one tick of CPU after it is crossed. HZ is measured
 * from the kernel's own jiffies counter (/proc/timer_list) over 200 ms, and
 * checked against CONFIG_HZ when the kernel exposes its config.
 */
export async function kernelTick(): Promise<{ hz: number; tickMs: number }> {
  const read = (): { jiffies: number; ns: number } => {
    const text = readFileSync("/proc/timer_list", "utf8");
    const ns = Number(/^now at (\d+) nsecs$/m.exec(text)?.[1]);
    const jiffies = Number(/^jiffies: (\d+)$/m.exec(text)?.[1]);
    if (!Number.isFinite(ns) || !Number.isFinite(jiffies))
      throw new Error("/proc/timer_list has no 'now at' or 'jiffies' line");
    return { jiffies, ns };
  };
  const a = read();
  await new Promise((r) => setTimeout(r, 200));
  const b = read();
  const measured = ((b.jiffies - a.jiffies) * 1e9) / (b.ns - a.ns);
  // CONFIG_HZ is one of these; the measurement picks the nearest.
  const hz = [100, 250, 300, 1000].reduce((best, c) =>
    Math.abs(c - measured) < Math.abs(best - measured) ? c : best,
  );
  const config = configHz();
  if (config !== undefined && config !== hz)
    throw new Error(`jiffies advance at ${measured.toFixed(0)}/s but CONFIG_HZ is ${config}`);
  return { hz, tickMs: 1000 / hz };
}

/** CONFIG_HZ from /proc/config.gz, when the kernel exposes its config. */
function configHz(): number | undefined {
  try {
    const config = gunzipSync(readFileSync("/proc/config.gz")).toString("utf8");
    const hz = /^CONFIG_HZ=(\d+)$/m.exec(config)?.[1];
    return hz === undefined ? undefined : Number(hz);
  } catch {
    return undefined;
  }
}

/** A cpu cgroup that outweighs everything else on the host, for the tasks of one test. */
export interface HeavyCpuGroup {
  path: string;
  /** Moves a task the test started into the group. */
  add(pid: number): void;
  /** Removes the group once its tasks are gone (waits for killed ones to leave). */
  remove(): Promise<void>;
}

/**
 * A task alps makes yield runs under SCHED_IDLE: weight 3 against 1024 for
 * each ordinary task. On a host with other runnable work (`stress-ng --cpu
 * 2`, another engineer's build) it gets a fraction of a percent of a core,
 * so its 20 ms of CPU can take tens of seconds: SCHED_IDLE doing its job.
 * A test that must watch such a task use CPU puts it in this group: a cpu
 * cgroup with the largest weight the controller takes, at the top of the
 * hierarchy. The group competes with the host's other tasks by that weight,
 * and the task inside it gets the group's time whatever its own policy.
 * The group also holds a sleeping placeholder that is no invocation's: alps
 * writes a level on a cpu group only when the group is the invocation's own
 * (src/backend/actuator/weight-targets.ts), so here, as for a task in the
 * root group, the level goes on the task, which is what these tests watch,
 * and the group keeps its weight. Nothing registers the group as a sandbox.
 *
 * cgroup v2 with the cpu controller enabled at the root (cpu.weight 10000),
 * else a v1 cpu hierarchy (cpu.shares 262144). Neither is switched on here:
 * without one, CI fails (`requireHost`) and a local run goes on without the
 * group (undefined), which an idle host does not need.
 */
export function heavyCpuGroup(name: string): HeavyCpuGroup | undefined {
  const mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
  const v2 = parseCgroup2Mount(mountinfo);
  let root: string | undefined;
  let weightFile = "";
  let weight = "";
  if (v2 !== undefined && controllersOf(join(v2, "cgroup.subtree_control")).includes("cpu")) {
    [root, weightFile, weight] = [v2, "cpu.weight", "10000"];
  } else {
    const v1 = parseV1CpuMount(mountinfo);
    if (v1 !== undefined) [root, weightFile, weight] = [v1, "cpu.shares", "262144"];
  }
  if (!requireHost("a cpu cgroup controller (v2 enabled at the root, or v1)", root !== undefined))
    return undefined;
  const path = join(root as string, `alps-test-heavy-${name}-${process.pid}`);
  mkdirSync(path);
  writeFileSync(join(path, weightFile), weight);
  // Bounded: if this process dies first, it ends on its own (and uses no CPU).
  const placeholder = spawn("sleep", ["600"], { stdio: "ignore" });
  const add = (pid: number) => writeFileSync(join(path, "cgroup.procs"), String(pid));
  add(placeholder.pid as number);
  return {
    path,
    add,
    async remove() {
      placeholder.kill("SIGKILL");
      await rmdirWhenEmpty(path);
    },
  };
}

function controllersOf(file: string): string[] {
  try {
    return readFileSync(file, "utf8").trim().split(/\s+/);
  } catch {
    return [];
  }
}
