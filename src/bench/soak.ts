/**
 * `npm run soak -- --minutes N`: drives a real `alps daemon` with a steady
 * stream of tiny invocations (default 300/s) through its control API and
 * prints, every interval, the daemon's RSS and CPU, the backend's event
 * drops and event-to-applied latency (whatever the backend reports under
 * those names), and the client's view (invocations done, start-request
 * latency, errors). Issue 8 asks for: RSS growth ≤ 10 % after warm-up, zero
 * lost events, stable p99 over 10 minutes on this machine.
 *
 * Invocations run in a small pool of long-lived worker processes (children
 * of this process, so the pid rule lets it name them): each invocation is
 * POST /v1/invocations {function, pid: worker}, the worker burns its CPU
 * burst, then POST /v1/invocations/{id}/end. Spawning a process per
 * invocation at 300/s would measure fork, not alps.
 *
 * Options: --minutes N (10) | --seconds S, --rate R (300), --workers W (16),
 * --mode M (auto), --interval S (10), --json (one JSON summary at the end).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { apiRequest } from "../frontend/api/client.js";
import { parseStat } from "../host/proc-stat.js";

interface SoakOptions {
  seconds: number;
  rate: number;
  workers: number;
  mode: string;
  intervalS: number;
  json: boolean;
}

/** Functions of the soak and their CPU burst per invocation, ms: tiny, as FaaS bursts are. */
const FUNCTIONS: readonly { fn: string; burstMs: number }[] = [
  { fn: "soak-tiny", burstMs: 0.3 },
  { fn: "soak-small", burstMs: 1 },
  { fn: "soak-medium", burstMs: 2 },
  { fn: "soak-large", burstMs: 5 },
];

function parseOptions(argv: readonly string[]): SoakOptions {
  const value = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    return at < 0 ? undefined : argv[at + 1];
  };
  const num = (name: string, fallback: number): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0)
      throw new Error(`${name} needs a positive number, got '${raw}'`);
    return n;
  };
  const seconds =
    value("--seconds") !== undefined ? num("--seconds", 60) : num("--minutes", 10) * 60;
  return {
    seconds,
    rate: num("--rate", 300),
    workers: Math.round(num("--workers", 16)),
    mode: value("--mode") ?? "auto",
    intervalS: num("--interval", Math.min(10, Math.max(2, seconds / 10))),
    json: argv.includes("--json"),
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        resolve(typeof address === "object" && address !== null ? address.port : 0),
      );
    });
  });
}

/** A worker: burns the CPU it is asked for, answers "done", exits with its parent. */
const WORKER_SCRIPT = `
process.on("message", (m) => {
  const end = performance.now() + m.burnMs;
  while (performance.now() < end) {}
  process.send({ done: m.id });
});
process.on("disconnect", () => process.exit(0));`;

interface Worker {
  child: ChildProcess;
  pid: number;
  busy: boolean;
}

/** Resident set size (kB) and CPU ticks (utime + stime) of a process. */
function procUsage(pid: number): { rssKb: number; cpuTicks: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const stat = parseStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
    const rss = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    return { rssKb: Number(rss ?? 0), cpuTicks: stat.cpuTicks };
  } catch {
    return undefined;
  }
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** Backend counters that speak of lost events or latency (names differ per backend). */
function pick(counters: Record<string, number>, pattern: RegExp): Record<string, number> {
  return Object.fromEntries(Object.entries(counters).filter(([k]) => pattern.test(k)));
}

interface Row {
  t_s: number;
  rss_mb: number;
  daemon_cpu_pct: number;
  done: number;
  start_p50_ms: number;
  start_p99_ms: number;
  errors: number;
  skipped_busy: number;
  drops: Record<string, number>;
  latency: Record<string, number>;
}

export async function soak(opts: SoakOptions): Promise<void> {
  const cli = fileURLToPath(new URL("../cli.js", import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), "alps-soak-"));
  const socket = join(dir, "alps.sock");
  const stateDir = join(dir, "state");
  const logFile = join(dir, "daemon.log");
  const metricsPort = await freePort();
  const clkTck = 100; // USER_HZ on Linux
  const daemon = spawn(
    process.execPath,
    [
      cli,
      "daemon",
      "--mode",
      opts.mode,
      "--socket",
      socket,
      "--state-dir",
      stateDir,
      "--metrics-port",
      String(metricsPort),
    ],
    { stdio: ["ignore", "ignore", openSync(logFile, "a")] },
  );
  const daemonPid = daemon.pid as number;
  const workers: Worker[] = [];
  const rows: Row[] = [];
  let exitCode: number | null = null;
  daemon.once("exit", (code) => {
    exitCode = code;
  });
  try {
    // Wait for the control API.
    const t0 = performance.now();
    for (;;) {
      if (exitCode !== null)
        throw new Error(`the daemon exited (code ${exitCode}); log: ${logFile}`);
      if (existsSync(socket)) {
        const res = await apiRequest(socket, "GET", "/v1/status").catch(() => undefined);
        if (res?.status === 200) break;
      }
      if (performance.now() - t0 > 30_000)
        throw new Error(`the daemon did not answer in 30 s; log: ${logFile}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const status0 = (await apiRequest(socket, "GET", "/v1/status")).body as {
      mode?: string;
      reasons?: string[];
    };
    if (!opts.json) {
      console.log(
        `soak: daemon pid ${daemonPid}, mode ${status0.mode} (${(status0.reasons ?? []).join("; ")}), ${opts.rate}/s for ${opts.seconds} s, ${opts.workers} workers, log ${logFile}`,
      );
    }

    for (let i = 0; i < opts.workers; i++) {
      const child = spawn(process.execPath, ["-e", WORKER_SCRIPT], {
        stdio: ["ignore", "ignore", "inherit", "ipc"],
      });
      workers.push({ child, pid: child.pid as number, busy: false });
    }

    let done = 0;
    let errors = 0;
    let skipped = 0;
    let startLatencies: number[] = [];
    let nextId = 0;
    const pending = new Map<number, () => void>();
    for (const w of workers) {
      w.child.on("message", (m: { done: number }) => pending.get(m.done)?.());
    }

    const invoke = async (w: Worker, fn: string, burstMs: number): Promise<void> => {
      w.busy = true;
      try {
        const s = performance.now();
        const res = await apiRequest(socket, "POST", "/v1/invocations", {
          function: fn,
          pid: w.pid,
        });
        startLatencies.push(performance.now() - s);
        if (res.status !== 201) {
          errors++;
          return;
        }
        const id = (res.body as { id: string }).id;
        const ticket = nextId++;
        await new Promise<void>((resolve) => {
          pending.set(ticket, resolve);
          w.child.send({ id: ticket, burnMs: burstMs });
        });
        pending.delete(ticket);
        const end = await apiRequest(socket, "POST", `/v1/invocations/${id}/end`, {});
        if (end.status !== 200) errors++;
        else done++;
      } catch {
        errors++;
      } finally {
        w.busy = false;
      }
    };

    // Open-loop arrivals: `rate` per second, in 10 ms ticks.
    let credit = 0;
    let k = 0;
    const tick = setInterval(() => {
      credit += opts.rate / 100;
      while (credit >= 1) {
        credit--;
        const w = workers.find((x) => !x.busy);
        const f = FUNCTIONS[k++ % FUNCTIONS.length] as { fn: string; burstMs: number };
        if (w === undefined) skipped++;
        else void invoke(w, f.fn, f.burstMs);
      }
    }, 10);

    const startWall = performance.now();
    let last = procUsage(daemonPid);
    let lastT = startWall;
    while (performance.now() - startWall < opts.seconds * 1000) {
      await new Promise((r) => setTimeout(r, opts.intervalS * 1000));
      if (exitCode !== null)
        throw new Error(`the daemon exited during the soak (code ${exitCode}); log: ${logFile}`);
      const now = performance.now();
      const usage = procUsage(daemonPid);
      const status = (await apiRequest(socket, "GET", "/v1/status")).body as {
        backend?: Record<string, number>;
      };
      const backendCounters = status.backend ?? {};
      const sorted = [...startLatencies].sort((a, b) => a - b);
      const row: Row = {
        t_s: Math.round((now - startWall) / 1000),
        rss_mb: (usage?.rssKb ?? 0) / 1024,
        daemon_cpu_pct:
          usage !== undefined && last !== undefined
            ? ((usage.cpuTicks - last.cpuTicks) / clkTck / ((now - lastT) / 1000)) * 100
            : Number.NaN,
        done,
        start_p50_ms: percentile(sorted, 0.5),
        start_p99_ms: percentile(sorted, 0.99),
        errors,
        skipped_busy: skipped,
        drops: pick(backendCounters, /drop|lost|overflow/),
        latency: pick(backendCounters, /latency/),
      };
      rows.push(row);
      if (!opts.json) {
        console.log(
          `t=${String(row.t_s).padStart(5)}s rss ${row.rss_mb.toFixed(1)} MB cpu ${row.daemon_cpu_pct.toFixed(1)}% done ${done} start p50 ${row.start_p50_ms.toFixed(2)} p99 ${row.start_p99_ms.toFixed(2)} ms errors ${errors} skipped ${skipped} drops ${JSON.stringify(row.drops)} latency ${JSON.stringify(row.latency)}`,
        );
      }
      startLatencies = [];
      last = usage;
      lastT = now;
    }
    clearInterval(tick);
    // Let the invocations in flight finish.
    const drainStart = performance.now();
    while (workers.some((w) => w.busy) && performance.now() - drainStart < 5000) {
      await new Promise((r) => setTimeout(r, 20));
    }

    // Warm-up: the first fifth of the run, at least 60 s (the daemon's heap,
    // window and metrics fill up), at most half of it.
    const warmupS = Math.min(Math.max(opts.seconds / 5, 60), opts.seconds / 2);
    const warm = rows.find((r) => r.t_s >= warmupS) ?? rows[0];
    const final = rows.at(-1);
    const growth =
      warm !== undefined && final !== undefined
        ? (final.rss_mb / warm.rss_mb - 1) * 100
        : Number.NaN;
    const achieved = done / opts.seconds;
    const totalDrops = Object.values(final?.drops ?? {}).reduce((a, b) => a + b, 0);
    const summary = {
      seconds: opts.seconds,
      rate: opts.rate,
      achieved_rate: achieved,
      mode: status0.mode,
      invocations: done,
      errors,
      skipped_busy: skipped,
      warmup_s: warm?.t_s,
      rss_after_warmup_mb: warm?.rss_mb,
      rss_final_mb: final?.rss_mb,
      rss_growth_pct: growth,
      drops_total: totalDrops,
      start_p99_ms_per_interval: rows.map((r) => Number(r.start_p99_ms.toFixed(3))),
      latency_last: final?.latency ?? {},
      rows,
    };
    if (opts.json) console.log(JSON.stringify(summary));
    else {
      console.log(
        `soak: ${done} invocations (${achieved.toFixed(0)}/s of ${opts.rate}/s asked), ${errors} errors, ${skipped} arrivals skipped (all workers busy); RSS ${warm?.rss_mb.toFixed(1)} MB at t=${warm?.t_s}s → ${final?.rss_mb.toFixed(1)} MB (${growth.toFixed(1)} %, target ≤ 10 %); event drops ${totalDrops} (target 0)`,
      );
    }
  } finally {
    for (const w of workers) w.child.kill("SIGKILL");
    if (exitCode === null) {
      const exited = new Promise((r) => daemon.once("exit", r));
      daemon.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (exitCode === null) daemon.kill("SIGKILL");
    }
    // A clean daemon leaves no touched-task record behind.
    const leftover = existsSync(join(stateDir, "touched-tasks"));
    if (leftover)
      console.log(`soak: WARNING: ${stateDir}/touched-tasks is still there (log ${logFile})`);
    else if (!opts.json)
      console.log(`soak: daemon exited (code ${exitCode}), no touched tasks left`);
    if (!leftover && exitCode === 0) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The short soak `npm run bench -- soak` runs (20 s). A failure is printed,
 * not thrown, so the other benches still run.
 */
export async function benchSoak(): Promise<void> {
  try {
    await soak(parseOptions(["--seconds", "20", "--interval", "5"]));
  } catch (error) {
    console.log(`soak: FAILED: ${error instanceof Error ? error.message : String(error)}`);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  soak(parseOptions(process.argv.slice(2))).catch((error: unknown) => {
    console.error(`soak: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
