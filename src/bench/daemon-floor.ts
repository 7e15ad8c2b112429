/**
 * The floor under the daemon's cost per invocation: what its own start and
 * end cost when called in process, no protocol at all. The daemon (mode
 * alps, BPF sensor, a touched-task record in a temporary state directory,
 * as `alps daemon` runs it) is created in this process; 32 sleeping child
 * processes are the warm workers; each invocation is the pid rule
 * (checkPid, what both protocols run first), startInvocation, then
 * endInvocation, one after the other, and the microtasks they queue.
 * Compare with `daemon-cost`'s figures: the difference is the protocol and
 * the event loop around it. Needs root and BPF, and the kernel lock:
 *
 *   flock /tmp/alps-kernel.lock node dist/bench/daemon-floor.js [--invocations N]
 *
 * CPU is this process's (every thread, getrusage) over the loop; the
 * per-step split is wall time of each synchronous step (it runs on one
 * thread, so it is close to its CPU).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createBackend } from "../backend/select.js";
import { createTouchedTasks } from "../backend/guardian/touched.js";
import { checkPid } from "../frontend/api/access.js";
import { cgroup2MountIfAny } from "../host/cgroups.js";
import { Daemon } from "../frontend/daemon.js";

const WORKERS = 32;

export async function daemonFloor(invocations: number): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), "alps-floor-"));
  const touched = createTouchedTasks({ stateDir });
  const { backend } = await createBackend({ mode: "alps", touched });
  const children: ChildProcess[] = [];
  try {
    if (backend.mode !== "alps" || backend.sensor !== "bpf")
      throw new Error(`needs alps with the BPF sensor, got ${backend.mode}/${backend.sensor}`);
    const daemon = new Daemon({ backend, utilization: null });
    daemon.start();
    for (let i = 0; i < WORKERS; i++) children.push(spawn("sleep", ["600"], { stdio: "ignore" }));
    const pids = children.map((c) => c.pid as number);
    const mount = cgroup2MountIfAny();
    const peer = { pid: process.pid, uid: 0 };
    const steps = { checkPid: 0, start: 0, end: 0 };
    const round = async (n: number, timed: boolean): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const pid = pids[i % WORKERS] as number;
        const fn = `floor-${i % 8}`;
        const t0 = performance.now();
        const ok = checkPid({ pid, fn, peer, platform: true }, daemon, mount);
        const t1 = performance.now();
        if (!ok.ok) throw new Error(ok.why);
        const id = daemon.startInvocation(fn, pid);
        const t2 = performance.now();
        // The microtasks startInvocation queued (schedstat baseline, helper threads) run here.
        await Promise.resolve();
        const t3 = performance.now();
        daemon.endInvocation(id);
        const t4 = performance.now();
        if (timed) {
          steps.checkPid += t1 - t0;
          steps.start += t2 - t1 + (t3 - t2);
          steps.end += t4 - t3;
        }
        // Let ring-buffer events and timers in, as a real loop would.
        if (i % 64 === 63) await new Promise((r) => setImmediate(r));
      }
    };
    await round(2000, false); // warm-up: V8 optimizes the path
    const u0 = process.cpuUsage();
    const w0 = performance.now();
    await round(invocations, true);
    const u1 = process.cpuUsage(u0);
    const wall = performance.now() - w0;
    const us = (ms: number): string => ((ms * 1000) / invocations).toFixed(1);
    console.log(
      `daemon-floor: ${invocations} invocations in process (alps/bpf, ${WORKERS} sleeping workers, touched record on)`,
    );
    console.log(
      `  CPU per invocation, every thread: ${((u1.user + u1.system) / invocations).toFixed(1)} µs (user ${(u1.user / invocations).toFixed(1)}, system ${(u1.system / invocations).toFixed(1)}); wall ${us(wall)} µs`,
    );
    console.log(
      `  split (wall): pid rule ${us(steps.checkPid)} µs, startInvocation ${us(steps.start)} µs, endInvocation ${us(steps.end)} µs`,
    );
    daemon.stop();
  } finally {
    for (const c of children) c.kill("SIGKILL");
    await backend.close();
    touched.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const at = process.argv.indexOf("--invocations");
  const n = at < 0 ? 20_000 : Number(process.argv[at + 1]);
  daemonFloor(n).catch((error: unknown) => {
    console.error(`daemon-floor: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
