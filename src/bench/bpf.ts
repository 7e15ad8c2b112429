/**
 * Bench of the kernel side (issue 4, must-show 7): with 50 busy function
 * tasks (short bursts, each bounded in CPU time), how many events per second
 * the BPF sensor posts and the daemon applies, the event-to-applied latency
 * (kernel timestamp -> syscall done), and the daemon's own CPU use.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAddon, packageRoot } from "../host/addon.js";
import { createBpfBackend } from "../backend/bpf/bpf-backend.js";
import { probeBpf } from "../backend/bpf/bpf-probe.js";
import { raiseToRealtime, restoreSelf } from "../backend/actuator/self-priority.js";
import { baseAttr } from "../host/syscalls-types.js";
import { emptyPolicy } from "../contracts/policy.js";

const TASKS = 50;
/** Each task: 30 bursts of 3 ms CPU separated by 2 ms sleeps (90 ms CPU), capped at 20 s wall. */
const PLAN = Array.from({ length: 30 }, () => "b3,s2").join(",");
const CAP_MS = 20_000;

function burner(): string {
  const src = join(packageRoot(), "native", "test", "burn.c");
  const dir = join(tmpdir(), "alps-bench");
  mkdirSync(dir, { recursive: true });
  const bin = join(dir, "burn");
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    execFileSync("cc", ["-O1", "-pthread", "-o", bin, src]);
  }
  return bin;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export async function benchBpf(): Promise<void> {
  const probe = probeBpf();
  if (!probe.ok) {
    console.log(`bpf: skipped (${probe.reason})`);
    return;
  }
  const loaded = loadAddon();
  if (!loaded.ok) return;
  const bin = burner();
  raiseToRealtime(50);
  const backend = await createBpfBackend({ strategy: "dynamic" });
  const children: ChildProcess[] = [];
  try {
    backend.applyPolicy({
      ...emptyPolicy(),
      functions: { busy: { priority: 1, predicted_ms: 10, slice_ms: 2 } },
    });
    // Spawn every task gated (sh blocked on its stdin, then exec of the
    // burner) and register it, so nothing runs while the spawning keeps
    // the event loop busy; then release them together and measure.
    const exits: Promise<void>[] = [];
    for (let i = 0; i < TASKS; i++) {
      const child = spawn("sh", ["-c", 'read _gate; exec "$0" "$@"', bin, PLAN, String(CAP_MS)], {
        stdio: ["pipe", "ignore", "ignore"],
      });
      children.push(child);
      exits.push(new Promise((resolve) => child.on("exit", () => resolve())));
      if (child.pid !== undefined) backend.startInvocation("busy", child.pid);
    }
    await new Promise((r) => setTimeout(r, 50));
    backend.resetLatencies();
    const before = backend.status().counters;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const c of children) c.stdin?.end("go\n");
    await Promise.all(exits);
    // Let the last events drain.
    await new Promise((r) => setTimeout(r, 100));
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const after = backend.status().counters;
    const delta = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
    const lat = backend.latenciesNs().sort((a, b) => a - b);
    console.log(`bpf: ${TASKS} tasks, ${wallS.toFixed(2)} s wall`);
    console.log(
      `  events posted      ${(delta("nr_events") / wallS).toFixed(0)}/s (${delta("nr_events")} total, ${delta("nr_ringbuf_drops")} dropped)`,
    );
    console.log(`  levels applied     ${(delta("nr_applied") / wallS).toFixed(0)}/s`);
    console.log(
      `  runtime updates    ${(delta("nr_runtime_updates") / wallS).toFixed(0)}/s seen by sched_stat_runtime`,
    );
    console.log(
      `  event->applied     p50 ${(percentile(lat, 50) / 1000).toFixed(1)} us, p90 ${(percentile(lat, 90) / 1000).toFixed(1)} us, p99 ${(percentile(lat, 99) / 1000).toFixed(1)} us (${lat.length} samples)`,
    );
    console.log(
      `  daemon CPU         ${(((cpu.user + cpu.system) / 1e6 / wallS) * 100).toFixed(1)} % of one core`,
    );
  } finally {
    await backend.close();
    restoreSelf();
    for (const c of children) {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
        try {
          loaded.addon.setAttr(c.pid, baseAttr());
        } catch {
          // already gone
        }
        c.kill("SIGKILL");
      }
    }
  }
}
