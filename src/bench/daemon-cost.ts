/**
 * `npm run bench -- daemon-cost`: what a running `alps daemon` costs the
 * host, in CPU, idle and per invocation through the control API at 50, 200
 * and 1000 invocations/s (issue targets: ≤ 250 µs per invocation, stretch
 * 50 µs; ≤ 0.1 % of a core idle).
 *
 * The daemon runs as on a host: its own process (`alps daemon`, mode alps
 * where BPF loads), its threads at SCHED_FIFO. The client here is a platform:
 * for each invocation it registers a warm worker, the worker burns its CPU
 * (a C process, workloads/functions/burn-fork.c, so the client's own runtime
 * stays small), and it ends the invocation. Both of the control API's
 * protocols are measured side by side on the same daemon, each rate once
 * per protocol: `http` (POST /v1/invocations {function, pid} and POST
 * /v1/invocations/{id}/end over keep-alive connections, one per concurrent
 * request) and `line` (`S <function> <pid>` and `E <id>` pipelined on one
 * connection to the line socket, docs/api.md).
 *
 * CPU is counted for the whole daemon process, every thread (libuv's pool,
 * V8's helpers, the addon's), plus every thread of its guardian child
 * (schedstat too), shown apart and added in "per invocation":
 *   - the sum of /proc/<pid>/task/<tid>/schedstat (ns precision) over the
 *     threads alive at both ends of a phase, and
 *   - /proc/<pid>/stat utime+stime (every thread, exited ones too, 10 ms
 *     ticks), shown beside it as a check.
 * Phases, one daemon at a time: idle as started (nothing learned, no
 * client), once its start-up has settled (--settle-seconds, 60); a warm-up (5 s at the highest rate: the daemon learns the
 * functions and V8 optimizes its hot paths); idle right after traffic (the
 * learner still re-learns the last minute's records every period); then
 * each rate. "per invocation" divides a phase's CPU by the invocations ended
 * in it; "above idle" first takes off what the daemon burns idle after
 * traffic in that time.
 *
 * Before/after: `--before <dist/cli.js of another build>` (or
 * ALPS_BENCH_BEFORE) runs that build's daemon through the same phases, one
 * daemon at a time, alternating, so both see the same host. See
 * docs/results.md ("Daemon cost") for the commands.
 *
 * Options (standalone: node dist/bench/daemon-cost.js ...; through npm run
 * bench, as ALPS_BENCH_* variables): --seconds S per rate (10), --idle-seconds
 * S (20), --settle-seconds S (60), --rates 50,200,1000, --protocols http,line (each rate once
 * per protocol, side by side, one daemon), --rounds N (1), --before CLI, --mode M (alps),
 * --cpu-prof DIR (each daemon under node --cpu-prof), --perf DIR (perf record
 * of every daemon thread, with V8's perf map), --node-args "FLAGS" (more node
 * flags for the daemon, e.g. --trace-deopt), --no-floor (ALPS_BENCH_FLOOR=0), --json.
 *
 * The floor: after the daemons, two line servers that do no work (one in
 * Node, src/bench/line-floor-server.ts; one in C, native/probes/line-floor.c)
 * are driven the same way over the line protocol at the same rates. Their
 * CPU per invocation is what being woken twice per invocation costs on this
 * host before any of alps's work: the daemon cannot cost less than the Node
 * one while it handles each request in JavaScript.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";
import { apiRequest } from "../frontend/api/client.js";
import { LineClient } from "../frontend/api/line-client.js";
import { BURNER, burnerUnavailable, parseBurnerLine } from "../replay/burner.js";
import { BUILT_CLI, DaemonChild } from "../replay/daemon-child.js";

export interface DaemonCostOptions {
  seconds: number;
  idleSeconds: number;
  /** Wait after the daemon starts before measuring it idle, s. */
  settleSeconds: number;
  rates: number[];
  rounds: number;
  before?: string;
  mode: string;
  cpuProfDir?: string;
  perfDir?: string;
  /** More node flags for the daemon (e.g. --trace-deopt). */
  nodeArgs: string[];
  /** Protocols of the start/end requests, each rate measured once per protocol, side by side. */
  protocols: Protocol[];
  /** Also drive the line servers that do no work (Node, C) at the same rates: the floor. */
  floor: boolean;
  json: boolean;
}

export type Protocol = "http" | "line";

/** The BPF counters that say what the kernel posted per invocation (postedPerInv). */
const POSTED_COUNTERS = [
  "nr_level_changes",
  "nr_expired",
  "nr_blocked",
  "nr_exited",
  "nr_woke",
  "nr_events_deferred",
] as const;

/** How the client registers and ends: HTTP with keep-alive, or the line protocol (one pipelined connection). */
interface Registrar {
  start(fn: string, pid: number): Promise<string | undefined>;
  end(id: string): Promise<boolean>;
  close(): void;
}

function httpRegistrar(socket: string): Registrar {
  const agent = new Agent({ keepAlive: true, maxSockets: WORKERS });
  return {
    start: async (fn, pid) => {
      const res = await apiRequest(
        socket,
        "POST",
        "/v1/invocations",
        { function: fn, pid },
        { agent },
      );
      return res.status === 201 ? (res.body as { id: string }).id : undefined;
    },
    end: async (id) =>
      (await apiRequest(socket, "POST", `/v1/invocations/${id}/end`, {}, { agent })).status === 200,
    close: () => agent.destroy(),
  };
}

function lineRegistrar(socket: string): Registrar {
  const client = new LineClient(socket);
  return {
    start: async (fn, pid) => (await client.start(fn, pid)).id,
    end: async (id) => {
      await client.end(id);
      return true;
    },
    close: () => client.close(),
  };
}

/** The line server that does no work, in Node (built: from src/bench in tests and dist/bench alike). */
export const NODE_FLOOR = fileURLToPath(
  new URL("../../dist/bench/line-floor-server.js", import.meta.url),
);
/** The same in C (native/probes/line-floor.c, built by the set-up). */
export const C_FLOOR = fileURLToPath(new URL("../../native/build/line-floor", import.meta.url));

/** CPU bursts of the invocations, ms: small, so 1000/s stays under half a core. */
const BURSTS_MS = [0.1, 0.3, 1.0] as const;
const WORKERS = 32;
const CLK_TCK = 100;

interface CpuSample {
  atMs: number;
  /** Voluntary context switches of the main thread: how often it went to sleep (and was woken). */
  wakeups: number;
  /** Per live thread: CPU ns from schedstat. */
  threads: Map<number, number>;
  /** utime + stime of the process, ticks. */
  ticks: number;
}

function readNumber(path: string, pick: (text: string) => number): number | undefined {
  try {
    return pick(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

function sampleCpu(pid: number): CpuSample {
  const threads = new Map<number, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    // gone
  }
  for (const tid of tids) {
    const ns = readNumber(`/proc/${pid}/task/${tid}/schedstat`, (t) => Number(t.split(" ")[0]));
    if (ns !== undefined) threads.set(Number(tid), ns);
  }
  const ticks =
    readNumber(`/proc/${pid}/stat`, (t) => {
      const f = t.slice(t.lastIndexOf(")") + 2).split(" ");
      return Number(f[11]) + Number(f[12]);
    }) ?? Number.NaN;
  const wakeups =
    readNumber(`/proc/${pid}/status`, (t) =>
      Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(t)?.[1] ?? Number.NaN),
    ) ?? Number.NaN;
  return { atMs: performance.now(), threads, ticks, wakeups };
}

/** CPU between two samples, ms: schedstat over threads alive at both ends (plus new ones), and ticks. */
function cpuBetween(
  a: CpuSample,
  b: CpuSample,
): { ms: number; ticksMs: number; exited: number; wakeups: number } {
  let ns = 0;
  let exited = 0;
  for (const [tid, end] of b.threads) ns += end - (a.threads.get(tid) ?? 0);
  for (const tid of a.threads.keys()) if (!b.threads.has(tid)) exited++;
  return {
    ms: ns / 1e6,
    ticksMs: ((b.ticks - a.ticks) * 1000) / CLK_TCK,
    exited,
    wakeups: b.wakeups - a.wakeups,
  };
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter((s) => s !== "")
      .map(Number);
  } catch {
    return [];
  }
}

/** A warm C worker: one invocation at a time. */
class WarmWorker {
  readonly child: ChildProcess;
  readonly pid: number;
  busy = false;
  #waiting: ((ok: boolean) => void) | undefined;

  constructor() {
    this.child = spawn(BURNER, ["worker"], { stdio: ["ignore", "ignore", "inherit", "pipe"] });
    if (this.child.pid === undefined) throw new Error("burn-fork worker did not start");
    this.pid = this.child.pid;
    const channel = this.child.stdio[3] as Duplex;
    createInterface({ input: channel }).on("line", (line) => {
      const parsed = parseBurnerLine(line);
      const done = this.#waiting;
      this.#waiting = undefined;
      done?.(parsed.type === "done");
    });
  }

  run(id: number, cpuMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      this.#waiting = resolve;
      (this.child.stdio[3] as Duplex).write(`W ${id} ${Math.round(cpuMs * 1000)} 0\n`);
    });
  }
}

interface Phase {
  name: string;
  /** The protocol of the start/end requests ("" for idle). */
  protocol: string;
  rate: number;
  seconds: number;
  invocations: number;
  errors: number;
  skipped: number;
  cpuMs: number;
  ticksMs: number;
  guardianMs: number;
  threadsExited: number;
  /** Main-thread wake-ups per second. */
  wakeupsPerS: number;
  /** Per invocation: ring-buffer events, levels applied, events found stale (daemon counters). */
  eventsPerInv: number;
  appliedPerInv: number;
  stalePerInv: number;
  /**
   * Per invocation, what the kernel posted by kind (BPF counters): LEVEL,
   * EXPIRED, BLOCKED (burst samples), EXITED, and the tracked wake-ups (a
   * WOKE event only when the new burst's level differs); `deferred` are the
   * events posted without waking the daemon (BLOCKED, EXITED). JSON only.
   */
  postedPerInv?: Record<string, number>;
  /** Daemon CPU per second of the phase, % of one core. */
  corePct: number;
  perInvocationUs: number;
  aboveIdleUs: number;
  registerP50Ms: number;
  registerP99Ms: number;
}

interface VariantResult {
  label: string;
  cli: string;
  mode: string;
  sensor: string;
  phases: Phase[];
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

async function drive(
  registrar: Registrar,
  workers: WarmWorker[],
  rate: number,
  seconds: number,
): Promise<{ done: number; errors: number; skipped: number; registerMs: number[] }> {
  let done = 0;
  let errors = 0;
  let skipped = 0;
  let next = 0;
  const registerMs: number[] = [];
  const inFlight = new Set<Promise<void>>();
  const invoke = async (w: WarmWorker, fn: string, burstMs: number): Promise<void> => {
    w.busy = true;
    try {
      const t0 = performance.now();
      const id = await registrar.start(fn, w.pid);
      registerMs.push(performance.now() - t0);
      if (id === undefined) {
        errors++;
        return;
      }
      const ok = await w.run(next, burstMs);
      const ended = await registrar.end(id);
      if (!ok || !ended) errors++;
      else done++;
    } catch {
      errors++;
    } finally {
      w.busy = false;
    }
  };
  // Open loop: `rate` arrivals a second in 5 ms ticks; an arrival finding every worker busy is skipped (counted).
  const start = performance.now();
  let credit = 0;
  let last = start;
  while (performance.now() - start < seconds * 1000) {
    await new Promise((r) => setTimeout(r, 5));
    const now = performance.now();
    credit += ((now - last) / 1000) * rate;
    last = now;
    while (credit >= 1) {
      credit--;
      const w = workers.find((x) => !x.busy);
      const k = next++;
      if (w === undefined) {
        skipped++;
        continue;
      }
      const p = invoke(w, `cost-${k % 8}`, BURSTS_MS[k % BURSTS_MS.length] as number);
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
  }
  await Promise.all(inFlight);
  return { done, errors, skipped, registerMs };
}

interface RateMeasurement {
  run: Awaited<ReturnType<typeof drive>>;
  cpu: ReturnType<typeof cpuBetween>;
  wallS: number;
}

/** `rate` invocations a second for `seconds` through `registrar`, and the CPU of `pid` (every thread) meanwhile. */
async function measureRate(
  pid: number,
  registrar: Registrar,
  workers: WarmWorker[],
  rate: number,
  seconds: number,
): Promise<RateMeasurement> {
  const a = sampleCpu(pid);
  const run = await drive(registrar, workers, rate, seconds);
  const b = sampleCpu(pid);
  return { run, cpu: cpuBetween(a, b), wallS: (b.atMs - a.atMs) / 1000 };
}

/** A rate's phase, without what only a daemon has (guardian, BPF counters: zero or NaN here). */
function ratePhase(
  protocol: string,
  rate: number,
  { run, cpu, wallS }: RateMeasurement,
  idleMsPerS: number,
): Phase {
  const sorted = run.registerMs.sort((x, y) => x - y);
  return {
    name: `${rate}/s`,
    protocol,
    rate,
    seconds: wallS,
    invocations: run.done,
    errors: run.errors,
    skipped: run.skipped,
    cpuMs: cpu.ms,
    ticksMs: cpu.ticksMs,
    guardianMs: 0,
    threadsExited: cpu.exited,
    wakeupsPerS: cpu.wakeups / wallS,
    eventsPerInv: Number.NaN,
    appliedPerInv: Number.NaN,
    stalePerInv: Number.NaN,
    corePct: cpu.ms / wallS / 10,
    perInvocationUs: (cpu.ms / run.done) * 1000,
    aboveIdleUs: ((cpu.ms - idleMsPerS * wallS) / run.done) * 1000,
    registerP50Ms: percentile(sorted, 0.5),
    registerP99Ms: percentile(sorted, 0.99),
  };
}

async function measureVariant(
  label: string,
  cli: string,
  opts: DaemonCostOptions,
  logDir: string,
): Promise<VariantResult> {
  // --cpu-prof samples every 10 ms, not the default 1 ms: each sample is a SIGPROF, which
  // interrupts the BPF verifier, and all 5 of libbpf's load attempts then fail with EAGAIN.
  const nodeArgs = [
    ...(opts.cpuProfDir === undefined
      ? []
      : [
          "--cpu-prof",
          "--cpu-prof-interval",
          "10000",
          "--cpu-prof-dir",
          opts.cpuProfDir,
          "--cpu-prof-name",
          `${label}.cpuprofile`,
        ]),
    ...(opts.perfDir === undefined ? [] : ["--perf-basic-prof-only-functions"]),
    ...opts.nodeArgs,
  ];
  const daemon = await DaemonChild.start({
    mode: opts.mode,
    // A host's platform would raise the limit too: 1000 invocations/s are 2000 requests/s.
    args: ["--api-rate-per-second", "100000"],
    logFile: join(logDir, `daemon-${label}.log`),
    cli,
    nodeArgs,
  });
  const workers: WarmWorker[] = [];
  const registrars: Registrar[] = [];
  let perf: ChildProcess | undefined;
  try {
    const status = await daemon.status();
    // A build from before the line protocol has no line socket: it is measured over HTTP only.
    const lineSocket = (status as { line_socket?: string | null }).line_socket ?? null;
    const protocols = opts.protocols.filter((p) => p === "http" || lineSocket !== null);
    const registrarOf = (protocol: Protocol): Registrar => {
      const r =
        protocol === "line" && lineSocket !== null
          ? lineRegistrar(lineSocket)
          : httpRegistrar(daemon.socket);
      registrars.push(r);
      return r;
    };
    const guardian = childrenOf(daemon.pid);
    // Every thread of the guardian too, schedstat like the daemon's.
    const guardianSample = (): CpuSample[] => guardian.map((pid) => sampleCpu(pid));
    const guardianMsBetween = (a: CpuSample[], b: CpuSample[]): number =>
      a.reduce((sum, s, i) => sum + cpuBetween(s, b[i] as CpuSample).ms, 0);
    const phases: Phase[] = [];
    const idlePhase = async (name: string): Promise<Phase> => {
      const i0 = sampleCpu(daemon.pid);
      const g0 = guardianSample();
      await new Promise((r) => setTimeout(r, opts.idleSeconds * 1000));
      const i1 = sampleCpu(daemon.pid);
      const idle = cpuBetween(i0, i1);
      const wallS = (i1.atMs - i0.atMs) / 1000;
      return {
        name,
        protocol: "",
        rate: 0,
        seconds: wallS,
        invocations: 0,
        errors: 0,
        skipped: 0,
        cpuMs: idle.ms,
        ticksMs: idle.ticksMs,
        guardianMs: guardianMsBetween(g0, guardianSample()),
        threadsExited: idle.exited,
        wakeupsPerS: idle.wakeups / wallS,
        eventsPerInv: Number.NaN,
        appliedPerInv: Number.NaN,
        stalePerInv: Number.NaN,
        corePct: idle.ms / wallS / 10,
        perInvocationUs: Number.NaN,
        aboveIdleUs: Number.NaN,
        registerP50Ms: Number.NaN,
        registerP99Ms: Number.NaN,
      };
    };
    // Idle as started: nothing learned yet, no client connected, after the start-up has
    // settled (V8's background threads still compile and collect for ~40 s after start).
    await new Promise((r) => setTimeout(r, opts.settleSeconds * 1000));
    phases.push(await idlePhase("idle (settled)"));
    for (let i = 0; i < WORKERS; i++) workers.push(new WarmWorker());
    // Warm-up: the daemon learns the functions and V8 optimizes its hot paths (at
    // 200/s for 3 s its compiler threads were still busy in the 50/s phase after).
    for (const protocol of protocols)
      await drive(registrarOf(protocol), workers, Math.max(...opts.rates), 5);
    await new Promise((r) => setTimeout(r, 2000));
    if (opts.perfDir !== undefined) {
      // Every thread of the daemon, kernel side included (what --cpu-prof cannot see).
      perf = spawn(
        "perf",
        [
          "record",
          "-F",
          "997",
          "-g",
          "-p",
          String(daemon.pid),
          "-o",
          join(opts.perfDir, `${label}.perf.data`),
        ],
        { stdio: ["ignore", "ignore", "inherit"] },
      );
    }

    // Idle again, right after traffic: the learner still re-learns the last minute's records.
    for (const r of registrars.splice(0)) r.close();
    const idle = await idlePhase("idle after traffic");
    phases.push(idle);
    const idleMsPerS = idle.cpuMs / idle.seconds;
    const clients = new Map(protocols.map((p) => [p, registrarOf(p)]));
    for (const rate of opts.rates)
      for (const [protocol, registrar] of clients) {
        const counters = async (): Promise<Record<string, number>> =>
          (await daemon.status()).backend ?? {};
        const ca = await counters();
        const ga = guardianSample();
        const measured = await measureRate(daemon.pid, registrar, workers, rate, opts.seconds);
        const cb = await counters();
        const per = (name: string): number =>
          ((cb[name] ?? 0) - (ca[name] ?? 0)) / measured.run.done;
        phases.push({
          ...ratePhase(protocol, rate, measured, idleMsPerS),
          guardianMs: guardianMsBetween(ga, guardianSample()),
          eventsPerInv: per("nr_events"),
          appliedPerInv: per("nr_applied"),
          stalePerInv: per("nr_stale_events"),
          postedPerInv: Object.fromEntries(
            POSTED_COUNTERS.map((name) => [name.replace(/^nr_/, ""), per(name)]),
          ),
        });
      }
    return {
      label,
      cli,
      mode: status.mode ?? "?",
      sensor: status.sensor ?? "?",
      phases,
    };
  } finally {
    if (perf !== undefined && perf.exitCode === null) {
      const exited = new Promise((r) => perf?.once("exit", r));
      perf.kill("SIGINT");
      await exited;
    }
    for (const r of registrars) r.close();
    for (const w of workers) w.child.kill("SIGKILL");
    const problems = await daemon.stop();
    for (const p of problems) console.log(`daemon-cost: WARNING: ${p}`);
  }
}

/**
 * A line server that does no work (NODE_FLOOR, C_FLOOR), driven like the
 * daemon: the same warm workers, a warm-up at the highest rate, then each
 * rate over the line protocol, its CPU counted over every thread. What it
 * costs is what being woken for each request costs on this host, before any
 * of alps's work. It runs at the default policy (the daemon's threads run
 * at SCHED_FIFO: a development run of the Node one found the same CPU per
 * invocation either way) and ends when its standard input closes.
 */
async function measureFloor(
  label: string,
  command: string,
  args: string[],
  opts: DaemonCostOptions,
  logDir: string,
): Promise<VariantResult> {
  const socket = join(logDir, `${label}.sock`);
  const server = spawn(command, [...args, socket], { stdio: ["pipe", "pipe", "inherit"] });
  const workers: WarmWorker[] = [];
  let registrar: Registrar | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${label}: not ready within 10 s`)), 10_000);
      server.once("error", reject);
      server.once("exit", (code) => reject(new Error(`${label}: exited (${code}) before ready`)));
      createInterface({ input: server.stdout as NodeJS.ReadableStream }).once("line", (line) => {
        clearTimeout(timer);
        if (line === "ready") resolve();
        else reject(new Error(`${label}: '${line}' instead of ready`));
      });
    });
    const pid = server.pid as number;
    for (let i = 0; i < WORKERS; i++) workers.push(new WarmWorker());
    registrar = lineRegistrar(socket);
    await drive(registrar, workers, Math.max(...opts.rates), 5);
    await new Promise((r) => setTimeout(r, 2000));
    const phases: Phase[] = [];
    for (const rate of opts.rates)
      phases.push(
        ratePhase("line", rate, await measureRate(pid, registrar, workers, rate, opts.seconds), 0),
      );
    return { label, cli: command, mode: "no work", sensor: "–", phases };
  } finally {
    registrar?.close();
    for (const w of workers) w.child.kill("SIGKILL");
    if (server.exitCode === null && server.signalCode === null) {
      // Its stdin closed, it ends; killed by pid a second later if not (a server
      // that never started emits no exit: given up on after two).
      const exited = new Promise((r) => server.once("exit", r));
      server.stdin?.end();
      const kill = setTimeout(() => server.kill("SIGKILL"), 1000);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      clearTimeout(kill);
    }
  }
}

/** The floors this host can measure, and why any cannot be. */
function floorServers(opts: DaemonCostOptions): {
  servers: Array<[string, string, string[]]>;
  missing: string[];
} {
  const servers: Array<[string, string, string[]]> = [];
  const missing: string[] = [];
  if (!opts.protocols.includes("line")) {
    missing.push("the floor servers speak the line protocol only, and --protocols leaves it out");
    return { servers, missing };
  }
  if (existsSync(NODE_FLOOR))
    servers.push(["floor-node", process.execPath, [...opts.nodeArgs, NODE_FLOOR]]);
  else missing.push(`${NODE_FLOOR} is missing (npm run build)`);
  if (burnerUnavailable(C_FLOOR) === undefined) servers.push(["floor-c", C_FLOOR, []]);
  else missing.push(`${C_FLOOR} is not built (the set-up compiles it; it needs a C compiler)`);
  return { servers, missing };
}

function printTable(results: VariantResult[]): void {
  const header = [
    "daemon",
    "phase",
    "protocol",
    "invocations",
    "daemon CPU ms",
    "(ticks ms)",
    "guardian CPU ms",
    "% of a core (daemon+guardian)",
    "µs / invocation (daemon+guardian)",
    "µs / inv. above idle",
    "RTT p50/p99 ms",
    "wake-ups/s",
    "events/applied/stale per inv.",
  ];
  const f = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : "–");
  const rows = results.flatMap((r) =>
    r.phases.map((p) => [
      `${r.label} (${r.mode}/${r.sensor})`,
      p.name,
      p.protocol === "" ? "–" : p.protocol,
      String(p.invocations) +
        (p.errors + p.skipped > 0 ? ` (${p.errors} err, ${p.skipped} skip)` : ""),
      f(p.cpuMs),
      f(p.ticksMs, 0),
      f(p.guardianMs),
      `${f(p.corePct, 3)} + ${f(p.guardianMs / p.seconds / 10, 3)}`,
      `${f(p.perInvocationUs, 0)} + ${f((p.guardianMs / p.invocations) * 1000, 0)}`,
      f(p.aboveIdleUs, 0),
      `${f(p.registerP50Ms, 2)}/${f(p.registerP99Ms, 2)}`,
      f(p.wakeupsPerS, 0),
      `${f(p.eventsPerInv)}/${f(p.appliedPerInv)}/${f(p.stalePerInv)}`,
    ]),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => c.padStart(widths[i] ?? 0)).join("  ");
  console.log([line(header), ...rows.map(line)].join("\n"));
}

function loadAverage(): string {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

export async function daemonCost(opts: DaemonCostOptions): Promise<VariantResult[]> {
  const why = burnerUnavailable();
  if (why !== undefined) throw new Error(why);
  const logDir = mkdtempSync(join(tmpdir(), "alps-bench-daemon-cost-"));
  const variants: Array<[string, string]> = [["this", BUILT_CLI]];
  if (opts.before !== undefined) variants.unshift(["before", opts.before]);
  const results: VariantResult[] = [];
  const loadBefore = loadAverage();
  const floors = opts.floor ? floorServers(opts) : { servers: [], missing: [] };
  for (const why of floors.missing) console.log(`daemon-cost: a floor is not measured: ${why}`);
  for (let round = 0; round < opts.rounds; round++) {
    const name = (label: string): string => (opts.rounds > 1 ? `${label}#${round + 1}` : label);
    for (const [label, cli] of variants) {
      if (!opts.json) console.log(`daemon-cost: measuring ${name(label)} (${cli})`);
      results.push(await measureVariant(name(label), cli, opts, logDir));
    }
    for (const [label, command, args] of floors.servers) {
      if (!opts.json) console.log(`daemon-cost: measuring ${name(label)} (${command})`);
      results.push(await measureFloor(name(label), command, args, opts, logDir));
    }
  }
  if (opts.json) console.log(JSON.stringify({ load_before: loadBefore, results }));
  else {
    printTable(results);
    console.log(
      `daemon-cost: load average ${loadBefore} before, ${loadAverage()} after (1/5/15 min); logs in ${logDir}; targets ≤ 250 µs per invocation (stretch 50), idle ≤ 0.1 % of a core`,
    );
  }
  return results;
}

function parseProtocols(text: string): Protocol[] {
  const list = text.split(",").filter((p) => p !== "");
  for (const p of list)
    if (p !== "http" && p !== "line")
      throw new Error(`--protocols (ALPS_BENCH_PROTOCOLS): 'http' or 'line', got '${p}'`);
  if (list.length === 0) throw new Error("--protocols (ALPS_BENCH_PROTOCOLS): name one");
  return list as Protocol[];
}

export function parseDaemonCostOptions(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): DaemonCostOptions {
  const value = (flag: string, variable: string): string | undefined => {
    const at = argv.indexOf(flag);
    return at >= 0 ? argv[at + 1] : env[variable];
  };
  const num = (flag: string, variable: string, fallback: number): number => {
    const raw = value(flag, variable);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0)
      throw new Error(`${flag} (${variable}) needs a positive number, got '${raw}'`);
    return n;
  };
  const rates = (value("--rates", "ALPS_BENCH_RATES") ?? "50,200,1000").split(",").map(Number);
  if (rates.some((r) => !Number.isFinite(r) || r <= 0))
    throw new Error("--rates (ALPS_BENCH_RATES) needs positive numbers, comma-separated");
  const before = value("--before", "ALPS_BENCH_BEFORE");
  const cpuProfDir = value("--cpu-prof", "ALPS_BENCH_CPU_PROF");
  const perfDir = value("--perf", "ALPS_BENCH_PERF");
  return {
    seconds: num("--seconds", "ALPS_BENCH_SECONDS", 10),
    idleSeconds: num("--idle-seconds", "ALPS_BENCH_IDLE_SECONDS", 20),
    settleSeconds: num("--settle-seconds", "ALPS_BENCH_SETTLE_SECONDS", 60),
    rates,
    rounds: Math.round(num("--rounds", "ALPS_BENCH_ROUNDS", 1)),
    ...(before === undefined ? {} : { before }),
    ...(cpuProfDir === undefined ? {} : { cpuProfDir }),
    ...(perfDir === undefined ? {} : { perfDir }),
    mode: value("--mode", "ALPS_BENCH_MODE") ?? "alps",
    protocols: parseProtocols(value("--protocols", "ALPS_BENCH_PROTOCOLS") ?? "http,line"),
    nodeArgs: (value("--node-args", "ALPS_BENCH_NODE_ARGS") ?? "")
      .split(" ")
      .filter((a) => a !== ""),
    floor: !argv.includes("--no-floor") && env.ALPS_BENCH_FLOOR !== "0",
    json: argv.includes("--json"),
  };
}

/** `npm run bench -- daemon-cost`: a failure is printed, not thrown, so the other benches still run. */
export async function benchDaemonCost(): Promise<void> {
  try {
    await daemonCost(parseDaemonCostOptions([], process.env));
  } catch (error) {
    console.log(`daemon-cost: FAILED: ${error instanceof Error ? error.message : String(error)}`);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  daemonCost(parseDaemonCostOptions(process.argv.slice(2), process.env)).catch((error: unknown) => {
    console.error(`daemon-cost: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
