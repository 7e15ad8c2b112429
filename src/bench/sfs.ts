/**
 * SFS mode against alps mode, side by side in one run (issue 5, must-show 5):
 * 50 CPU-bound invocations arriving 10 ms apart on this host, and for each
 * backend
 *   - how late a task's demotion comes after its slice expired:
 *     sfs (proc sensor): CPU the task ran past its slice before the poller
 *     put it back on CFS (for a task that has a core, that is wall time);
 *     alps (BPF sensor): the kernel posts EXPIRED at the runtime update that
 *     crosses the slice, so the figure is event-to-applied (ring buffer →
 *     actuator syscall);
 *   - the daemon's CPU use (this process, user + system) while doing so.
 * Every task is a shell busy loop with a CPU-time limit, killed at the end;
 * the bench process runs on SCHED_FIFO above the functions (as the daemon
 * does) and is restored to SCHED_OTHER nice 0 in every path.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createBpfBackend } from "../backend/bpf/bpf-backend.js";
import { probeBpf } from "../backend/bpf/bpf-probe.js";
import { threadsOf } from "../host/proc-stat.js";
import { createSfsBackend } from "../backend/sfs/sfs-backend.js";
import { loadSyscalls } from "../host/syscalls.js";
import {
  baseAttr,
  SCHED_FIFO,
  SCHED_FLAG_RESET_ON_FORK,
  type Syscalls,
} from "../host/syscalls-types.js";
import type { Backend } from "../backend/types.js";
import type { Policy } from "../contracts/policy.js";

const TASKS = 50;
const ARRIVAL_GAP_MS = 10;
const SLICE_MS = 20;
/** After the last arrival, long enough for every slice to expire. */
const DRAIN_MS = 400;
const DAEMON_FIFO_PRIORITY = 10;

interface RunFigures {
  latency: { what: string; samples: number[] };
  cpuPercent: number;
  wallMs: number;
  counters: Record<string, number>;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/**
 * A busy loop with a hard CPU-time limit (ulimit -t), in case we die before
 * killing it, that waits for a line on stdin before it starts. All are
 * spawned before the run: spawning while FIFO tasks hold every core would
 * stall this process (libuv waits for the child's exec, and the child is on
 * the fair class).
 */
function gatedSpinner(): ChildProcess {
  return spawn("/bin/sh", ["-c", "ulimit -t 3; read go; while :; do :; done"], {
    stdio: ["pipe", "ignore", "ignore"],
  });
}

async function drive(
  backend: Backend,
  syscalls: Syscalls,
): Promise<{ wallMs: number; cpuPercent: number }> {
  const children = Array.from({ length: TASKS }, gatedSpinner);
  await sleep(200);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    for (const child of children) {
      // Registered before it runs, then released: FIFO from its first instruction.
      if (child.pid !== undefined) backend.startInvocation("spin", child.pid);
      child.stdin?.end("go\n");
      await sleep(ARRIVAL_GAP_MS);
    }
    await sleep(DRAIN_MS);
  } finally {
    for (const child of children) {
      if (child.pid === undefined) continue;
      backend.endInvocation(child.pid);
      try {
        syscalls.setAttr(child.pid, baseAttr());
      } catch {
        // Already gone.
      }
      child.kill("SIGKILL");
    }
  }
  const wallMs = performance.now() - t0;
  const used = process.cpuUsage(cpu0);
  return { wallMs, cpuPercent: ((used.user + used.system) / 1000 / wallMs) * 100 };
}

async function runSfs(syscalls: Syscalls): Promise<RunFigures> {
  const sfs = createSfsBackend({ syscalls, initialSliceMs: SLICE_MS });
  try {
    const { wallMs, cpuPercent } = await drive(sfs, syscalls);
    return {
      latency: { what: "CPU run past the slice before demotion", samples: sfs.expiryOvershootMs() },
      cpuPercent,
      wallMs,
      counters: sfs.status().counters,
    };
  } finally {
    await sfs.close();
  }
}

async function runAlps(syscalls: Syscalls): Promise<RunFigures> {
  const policy: Policy = {
    functions: { spin: { priority: 1, predicted_ms: SLICE_MS, slice_ms: SLICE_MS } },
    default: { priority: 3, predicted_ms: 50, slice_ms: 5 },
  };
  const alps = await createBpfBackend({ strategy: "dynamic", syscalls });
  try {
    alps.applyPolicy(policy);
    const { wallMs, cpuPercent } = await drive(alps, syscalls);
    return {
      latency: {
        what: "kernel event to level applied",
        samples: alps.latenciesNs().map((ns) => ns / 1e6),
      },
      cpuPercent,
      wallMs,
      counters: alps.status().counters,
    };
  } finally {
    await alps.close();
  }
}

function row(name: string, f: RunFigures | string): string {
  if (typeof f === "string") return `${name.padEnd(18)} unavailable: ${f}`;
  const sorted = [...f.latency.samples].sort((a, b) => a - b);
  const ms = (v: number): string => `${v.toFixed(3)} ms`;
  return [
    name.padEnd(18),
    `n=${String(sorted.length).padStart(4)}`,
    `p50 ${ms(percentile(sorted, 50)).padStart(10)}`,
    `p99 ${ms(percentile(sorted, 99)).padStart(10)}`,
    `max ${ms(sorted.at(-1) ?? Number.NaN).padStart(10)}`,
    `daemon CPU ${f.cpuPercent.toFixed(1).padStart(5)} % of one core`,
    `(${f.latency.what})`,
  ].join("  ");
}

export async function benchSfs(): Promise<void> {
  const { syscalls, reason } = loadSyscalls();
  if (reason !== undefined) console.log(`syscalls: ${reason}`);
  console.log(
    `${TASKS} CPU-bound invocations, one every ${ARRIVAL_GAP_MS} ms, slice ${SLICE_MS} ms; daemon on SCHED_FIFO ${DAEMON_FIFO_PRIORITY}`,
  );
  // Every thread of this process above the functions' FIFO level (sfs uses
  // priority 1), as the daemon runs: a fair-class GC helper thread the main
  // thread waits for would otherwise starve behind FIFO functions.
  // Reset-on-fork, so the spinners do not inherit it.
  const threads = threadsOf(process.pid);
  for (const tid of threads) {
    syscalls.setAttr(tid, {
      ...baseAttr(),
      policy: SCHED_FIFO,
      priority: DAEMON_FIFO_PRIORITY,
      flags: SCHED_FLAG_RESET_ON_FORK,
    });
  }
  try {
    const sfs = await runSfs(syscalls);
    const probe = probeBpf();
    let alps: RunFigures | string;
    if (!probe.ok) alps = probe.reason;
    else {
      try {
        alps = await runAlps(syscalls);
      } catch (error) {
        alps = error instanceof Error ? error.message : String(error);
      }
    }
    console.log(row("sfs (proc sensor)", sfs));
    console.log(row("alps (BPF sensor)", alps));
    const c = sfs.counters;
    console.log(
      `sfs: promoted ${c.nr_promoted}, expired ${c.nr_expired}, overload ${c.nr_overload}, polls ${c.nr_polls} in ${sfs.wallMs.toFixed(0)} ms`,
    );
    if (typeof alps !== "string") {
      const a = alps.counters;
      console.log(
        `alps: applied ${a.nr_applied}, restored ${a.nr_restored}, events ${
          Object.entries(a)
            .filter(([k]) => k.startsWith("nr_ev"))
            .map(([k, v]) => `${k}=${v}`)
            .join(" ") || "-"
        }`,
      );
    }
  } finally {
    for (const tid of threads) {
      try {
        syscalls.setAttr(tid, baseAttr());
      } catch {
        // A thread that ended needs nothing.
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
