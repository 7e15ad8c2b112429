/**
 * What runs beside the functions in one run, and how the dispatcher talks to
 * it: nothing (mode none), an `alps daemon` process reached through its
 * control API (drivers api and sandbox), or a daemon inside the dispatcher's
 * own process (driver inprocess, the shortcut).
 */
import { Agent } from "node:http";
import { join } from "node:path";
import { createBackend } from "../backend/select.js";
import type { Backend, BackendStatus, Mode } from "../backend/types.js";
import type { Strategy } from "../contracts/levels.js";
import type { Policy } from "../contracts/policy.js";
import { apiErrorMessage, apiRequest } from "../frontend/api/client.js";
import { LineClient } from "../frontend/api/line-client.js";
import type { BurstPage, BurstRecord } from "../frontend/burst-log.js";
import { defaultConfig, sliceSettings } from "../frontend/config.js";
import { Daemon } from "../frontend/daemon.js";
import { UsageError } from "../errors.js";
import { DaemonChild } from "./daemon-child.js";
import type { SandboxDeclarer } from "./sandboxes.js";
import type { ApiProtocol, Driver, ReplayMode } from "./types.js";

/** A UsageError: the CLI prints its message and exits 2, without a stack. */
export class ModeUnavailableError extends UsageError {}

export interface AlpsSide extends SandboxDeclarer {
  /** The mode that runs (differs from the one asked for only after an allowed fallback). */
  readonly mode: ReplayMode;
  readonly driver: Driver | undefined;
  readonly reasons: string[];
  /** Whether invocations are registered (drivers api and inprocess). */
  readonly registers: boolean;
  /** Whether the daemon can continue a stopped process it registers (driver api: the start's `resume`). */
  readonly resumes: boolean;
  /**
   * Register an invocation of `fn` in process `pid` before its first
   * instruction; returns its id. In process it is a plain call (no await on
   * the way to the first instruction); through the API, a request, which
   * with `resume` also has the daemon continue the (stopped) process.
   */
  register(fn: string, pid: number, resume?: boolean): string | Promise<string>;
  end(id: string, cpuMs: number): void | Promise<void>;
  /** The run begins: the in-process daemon starts learning; the sandbox driver starts collecting bursts. */
  start(): void;
  /** What the run left: the backend's counters, the learned policy, the bursts it reported. */
  collect(): Promise<{
    backendStatus?: BackendStatus;
    policy?: Policy;
    bursts?: { records: BurstRecord[]; lost: number };
  }>;
  /** Stops what this side started; returns cleanup problems. */
  close(): Promise<string[]>;
}

export interface AlpsSideOptions {
  mode: ReplayMode;
  driver: Driver;
  strategy?: Strategy;
  /** Cores the in-process daemon's learner simulates. */
  cores: number;
  /** alps that cannot run here runs sfs instead, said in the reasons. */
  fallback?: boolean;
  /** An `alps daemon` already running (drivers api and sandbox): use it, start none. */
  socket?: string;
  /** More flags for the daemon the replay starts. */
  daemonArgs?: readonly string[];
  /** Driver api: start and end over the line protocol (default) or HTTP. */
  apiProtocol?: ApiProtocol;
  /** Where the started daemon's log goes. */
  outDir: string;
  log?: (message: string) => void;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The host without alps: nothing declared, nothing registered. */
export function noAlps(): AlpsSide {
  return {
    mode: "none",
    driver: undefined,
    reasons: ["no alps: no daemon, no BPF program, no cgroup moved by alps (the host as it is)"],
    registers: false,
    resumes: false,
    register: () => {
      throw new Error("mode none registers nothing");
    },
    end: () => {},
    declareSandbox: async () => {},
    undeclareSandbox: async () => {},
    start: () => {},
    collect: async () => ({}),
    close: async () => [],
  };
}

/** The daemon mode (`alps daemon --mode`, backend selection) of a replay mode. */
function daemonMode(mode: ReplayMode): Mode {
  if (mode === "none") throw new Error("mode none has no daemon");
  return mode === "cfs-observed" ? "cfs" : mode;
}

function replayModeOf(mode: string | undefined): ReplayMode | undefined {
  if (mode === "cfs") return "cfs-observed";
  if (mode === "alps" || mode === "sfs") return mode;
  return undefined;
}

/** The shortcut: the daemon and its backend inside this process, invocations registered by a call. */
export async function inProcessSide(opts: AlpsSideOptions): Promise<AlpsSide> {
  const log = opts.log ?? (() => {});
  const reasons: string[] = [
    "driver inprocess: the daemon runs inside the dispatcher's process (a shortcut, not a platform's path)",
  ];
  let backend: Backend | undefined;
  let mode = opts.mode;
  if (opts.mode !== "alps") {
    const created = await createBackend({
      mode: daemonMode(opts.mode),
      strategy: opts.strategy,
      ...sliceSettings(defaultConfig()),
      log,
    });
    backend = created.backend;
    reasons.push(...created.reasons);
  } else {
    let unavailable: string;
    try {
      // The slices `alps daemon` asks for by default, as on the api driver's path.
      const created = await createBackend({
        mode: "alps",
        strategy: opts.strategy,
        ...sliceSettings(defaultConfig()),
        log,
      });
      reasons.push(...created.reasons);
      if (created.backend.mode === "alps" && created.backend.sensor === "bpf")
        backend = created.backend;
      else await created.backend.close();
      unavailable = `alps needs the BPF sensor, and backend selection gave mode ${created.backend.mode} with sensor ${created.backend.sensor}`;
    } catch (error: unknown) {
      unavailable = `alps could not start: ${message(error)}`;
    }
    if (backend === undefined) {
      if (!opts.fallback)
        throw new ModeUnavailableError(`${unavailable} (pass --fallback to run sfs instead)`);
      reasons.push(`${unavailable}; running sfs instead because --fallback was given`);
      const created = await createBackend({ mode: "sfs", log });
      backend = created.backend;
      reasons.push(...created.reasons);
      mode = "sfs";
    }
  }
  const theBackend = backend;
  const daemon = new Daemon({ backend: theBackend, cores: opts.cores, log });
  const declared = new Set<string>();
  return {
    mode,
    driver: "inprocess",
    reasons,
    registers: true,
    resumes: false,
    register: (fn, pid) => daemon.startInvocation(fn, pid),
    end: (id, cpuMs) => {
      daemon.endInvocation(id, { cpuMs });
    },
    declareSandbox: async (fn, dir) => {
      await daemon.addSandbox(fn, dir);
      declared.add(dir);
    },
    undeclareSandbox: async (dir) => {
      declared.delete(dir);
      await daemon.removeSandbox(dir);
    },
    start: () => daemon.start(),
    collect: async () => ({
      backendStatus: theBackend.status(),
      ...(mode === "alps" ? { policy: daemon.policy() } : {}),
    }),
    close: async () => {
      const problems: string[] = [];
      daemon.stop();
      for (const dir of declared) {
        await daemon
          .removeSandbox(dir)
          .catch((error: unknown) => problems.push(`remove sandbox ${dir}: ${message(error)}`));
      }
      await theBackend.close();
      return problems;
    },
  };
}

/** How often the sandbox driver reads the daemon's burst log, ms (its ring holds 16 384). */
const BURST_POLL_MS = 1000;

/**
 * An `alps daemon` in its own process (started here, or the one on
 * `--socket`), reached through the control API like a platform reaches it.
 * Driver api registers and ends every invocation; driver sandbox only
 * declares sandboxes, and reads back the bursts the daemon saw.
 */
export async function daemonSide(opts: AlpsSideOptions): Promise<AlpsSide> {
  const log = opts.log ?? (() => {});
  const driver = opts.driver;
  if (driver === "inprocess") throw new Error("daemonSide drives a daemon process");
  const reasons: string[] = [];
  let child: DaemonChild | undefined;
  let socket: string;
  let mode = opts.mode;
  const args = [
    ...(opts.strategy === undefined ? [] : ["--strategy", opts.strategy]),
    ...(opts.daemonArgs ?? []),
  ];
  if (opts.socket !== undefined) {
    socket = opts.socket;
    const res = await apiRequest(socket, "GET", "/v1/status");
    if (res.status !== 200)
      throw new Error(`the daemon on ${socket} answered ${res.status}: ${apiErrorMessage(res)}`);
    const running = replayModeOf((res.body as { mode?: string }).mode);
    if (running !== opts.mode)
      throw new ModeUnavailableError(
        `the daemon on ${socket} runs mode ${(res.body as { mode?: string }).mode}, not ${daemonMode(opts.mode)}: run only that mode against it (--modes none,${running ?? "..."})`,
      );
    reasons.push(`driver ${driver}: the alps daemon already running on ${socket}`);
  } else {
    const logFile = join(opts.outDir, `daemon-${opts.mode}-${driver}.log`);
    try {
      child = await DaemonChild.start({ mode: daemonMode(opts.mode), args, logFile });
    } catch (error: unknown) {
      if (opts.mode !== "alps" || !opts.fallback)
        throw new ModeUnavailableError(
          `alps daemon --mode ${daemonMode(opts.mode)} could not start: ${message(error)}${opts.mode === "alps" ? " (pass --fallback to run sfs instead)" : ""}`,
        );
      reasons.push(
        `alps daemon --mode alps could not start (${message(error).split("\n")[0]}); running sfs instead because --fallback was given`,
      );
      child = await DaemonChild.start({ mode: "sfs", args, logFile });
      mode = "sfs";
    }
    socket = child.socket;
    reasons.push(
      `driver ${driver}: alps daemon pid ${child.pid} (${process.execPath} dist/cli.js daemon --mode ${daemonMode(mode)}${args.length > 0 ? ` ${args.join(" ")}` : ""}), log ${logFile}`,
    );
  }
  const status = (await apiRequest(socket, "GET", "/v1/status")).body as {
    reasons?: string[];
    line_socket?: string | null;
  };
  reasons.push(...(status.reasons ?? []));
  // Driver api's start and end: the line protocol (a platform's hot loop) unless HTTP is asked for.
  const protocol = opts.apiProtocol ?? "line";
  let line: LineClient | undefined;
  if (driver === "api" && protocol === "line") {
    const lineSocket = status.line_socket ?? null;
    if (lineSocket === null) {
      await child?.stop();
      throw new ModeUnavailableError(
        `the daemon on ${socket} has no line protocol socket (GET /v1/status line_socket): pass --api-protocol http`,
      );
    }
    line = new LineClient(lineSocket);
    reasons.push(
      `driver api: invocations started and ended over the line protocol on ${lineSocket}`,
    );
  } else if (driver === "api")
    reasons.push("driver api: invocations started and ended over HTTP (--api-protocol http)");
  if (driver === "sandbox")
    reasons.push(
      "driver sandbox: sandboxes declared, no invocation registered: the daemon infers them from CPU bursts",
    );
  // One connection per concurrent request, kept open, as a platform's client would.
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const post = async (path: string, body: unknown, expect: number): Promise<unknown> => {
    const res = await apiRequest(socket, "POST", path, body, { agent });
    if (res.status !== expect)
      throw new Error(`POST ${path} answered ${res.status}: ${apiErrorMessage(res)}`);
    return res.body;
  };
  const bursts: BurstRecord[] = [];
  let burstsAfter = 0;
  let lost = 0;
  let poller: NodeJS.Timeout | undefined;
  let polling: Promise<void> = Promise.resolve();
  const readBursts = async (): Promise<void> => {
    for (;;) {
      const res = await apiRequest(socket, "GET", `/v1/bursts?after=${burstsAfter}`, undefined, {
        agent,
      });
      if (res.status !== 200)
        throw new Error(`GET /v1/bursts answered ${res.status}: ${apiErrorMessage(res)}`);
      const page = res.body as BurstPage;
      bursts.push(...page.bursts);
      lost += page.missed;
      if (page.next === burstsAfter || page.bursts.length === 0) return;
      burstsAfter = page.next;
    }
  };
  const drained = async (): Promise<void> => {
    const deadline = performance.now() + DRAIN_WAIT_MS;
    for (;;) {
      const c = (
        (await apiRequest(socket, "GET", "/v1/status", undefined, { agent })).body as {
          backend?: Record<string, number>;
        }
      ).backend;
      const posted = c?.nr_events;
      const handled = c?.nr_events_handled;
      if (posted === undefined || handled === undefined) return; // a daemon that does not count them
      if (handled >= posted) return; // posted counts only what reached the ring
      if (performance.now() > deadline) {
        log(
          `the daemon had handled ${handled} of ${posted} events after ${DRAIN_WAIT_MS} ms: bursts may be missing`,
        );
        return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const pollOnce = (): void => {
    polling = polling.then(readBursts).catch((error: unknown) => {
      log(`reading the daemon's bursts failed: ${message(error)}`);
    });
  };
  return {
    mode,
    driver,
    reasons,
    registers: driver === "api",
    resumes: driver === "api",
    register: async (fn, pid, resume = false) => {
      if (line !== undefined) return (await line.start(fn, pid, resume)).id;
      const body = (await post(
        "/v1/invocations",
        resume ? { function: fn, pid, resume } : { function: fn, pid },
        201,
      )) as { id: string };
      return body.id;
    },
    end: async (id, cpuMs) => {
      if (line !== undefined) await line.end(id, cpuMs);
      else await post(`/v1/invocations/${id}/end`, { cpu_ms: cpuMs }, 200);
    },
    declareSandbox: async (fn, dir) => {
      await post("/v1/sandboxes", { function: fn, cgroup: dir }, 201);
    },
    // The API has no way to undeclare a sandbox: a daemon the replay started is stopped
    // with it; one on --socket keeps the entry after the cgroup is gone.
    undeclareSandbox: async () => {},
    start: () => {
      if (driver !== "sandbox") return;
      // Everything before the run (warm-up bursts) is not part of the comparison: start after it.
      pollOnce();
      poller = setInterval(pollOnce, BURST_POLL_MS);
    },
    collect: async () => {
      // Driver sandbox: the last invocations' bursts are posted by the kernel as their
      // processes exit; read them only once the daemon has handled every event posted
      // so far, else the last ones look missed.
      if (driver === "sandbox") await drained();
      const res = await apiRequest(socket, "GET", "/v1/status", undefined, { agent });
      const policyRes = await apiRequest(socket, "GET", "/v1/policy", undefined, { agent });
      const body = res.body as {
        mode?: Mode;
        sensor?: BackendStatus["sensor"];
        strategy?: Strategy | null;
        reasons?: string[];
        backend?: Record<string, number>;
      };
      const backendStatus: BackendStatus = {
        mode: body.mode ?? daemonMode(mode),
        sensor: body.sensor ?? "none",
        ...(body.strategy ? { strategy: body.strategy } : {}),
        reasons: body.reasons ?? [],
        counters: body.backend ?? {},
      };
      if (poller !== undefined) {
        clearInterval(poller);
        poller = undefined;
        pollOnce();
        await polling;
      }
      return {
        backendStatus,
        ...(mode === "alps" && policyRes.status === 200
          ? { policy: policyRes.body as Policy }
          : {}),
        ...(driver === "sandbox" ? { bursts: { records: bursts, lost } } : {}),
      };
    },
    close: async () => {
      if (poller !== undefined) clearInterval(poller);
      await polling;
      agent.destroy();
      line?.close();
      return child === undefined ? [] : child.stop();
    },
  };
}

/** How long the sandbox driver waits for the daemon to handle the kernel's last events. */
const DRAIN_WAIT_MS = 2000;

export async function openAlpsSide(opts: AlpsSideOptions): Promise<AlpsSide> {
  if (opts.mode === "none") return noAlps();
  if (opts.driver === "inprocess") return inProcessSide(opts);
  return daemonSide(opts);
}
