/**
 * The built `alps daemon` (dist/cli.js, as users run it) for the kernel
 * tests: started on a private socket, state directory and metrics port,
 * with its log kept, and stopped by pid in every exit path.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import { apiRequest } from "../../src/frontend/api/client.js";
import { killPids, waitFor } from "../helpers/processes.js";

export const CLI = join(import.meta.dirname, "../../dist/cli.js");

/** A policy file body: every function (and the default) boosted from the first instruction, for a long slice. */
export const BOOST_POLICY = JSON.stringify({
  functions: {},
  default: { priority: 1, predicted_ms: 80, slice_ms: 5000 },
});

export interface StartedDaemon {
  proc: ChildProcess;
  pid: number;
  dir: string;
  socket: string;
  stateDir: string;
  log(): string;
  /** Exit code (or 128 + signal number when killed by one), once it exited. */
  exited: Promise<number>;
  /**
   * Once its stderr is closed: it exited and so did the guardian it started
   * (which inherits that stderr). Only then is `log()` complete: 'exit' may
   * come before the pipe has drained, and the guardian writes after it.
   */
  closed: Promise<void>;
  /** The guardian (the daemon's only child once it is up). */
  guardian(): number | undefined;
  /**
   * SIGTERM, then SIGKILL after 10 s; kills the guardian by pid if it is
   * still there, then waits (10 s at most) for the log to be complete.
   */
  stop(): Promise<void>;
}

/** Children of `pid` (its main thread's children list). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** A temporary directory for one daemon, with `files` written into it (name → content). */
export function daemonDir(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "alps-daemon-test-"));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

/**
 * Starts `alps daemon ...args` in `dir` (socket dir/alps.sock, state
 * dir/state, metrics off unless args say otherwise). `until` "up" waits for
 * /v1/status to answer, "exit" for the process to end.
 */
export async function startDaemon(
  dir: string,
  args: readonly string[],
  until: "up" | "exit" = "up",
  /** Another build of the CLI (a copy of the package, say). */
  cli: string = CLI,
): Promise<StartedDaemon> {
  const socket = join(dir, "alps.sock");
  const stateDir = join(dir, "state");
  const proc = spawn(
    process.execPath,
    [cli, "daemon", "--socket", socket, "--state-dir", stateDir, "--metrics-port", "0", ...args],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  proc.stderr?.on("data", (c: Buffer) => {
    log += c.toString("utf8");
  });
  const exited = new Promise<number>((resolve) =>
    proc.once("exit", (code, signal) =>
      resolve(code ?? 128 + (signal === null ? 0 : signalNumber(signal))),
    ),
  );
  const closed = new Promise<void>((resolve) => proc.once("close", () => resolve()));
  let guardian: number | undefined;
  const started: StartedDaemon = {
    proc,
    pid: proc.pid as number,
    dir,
    socket,
    stateDir,
    log: () => log,
    exited,
    closed,
    guardian: () => guardian,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        const timer = setTimeout(() => killPids([proc.pid]), 10_000);
        await exited;
        clearTimeout(timer);
      }
      killPids([guardian]);
      // A guardian the daemon started after the first one (which the test
      // may have killed) ends by itself once the daemon is gone.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
      clearTimeout(timer);
    },
  };
  if (until === "exit") {
    // The refusal is the last thing it writes: wait for its stderr to drain.
    await closed;
    return started;
  }
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`daemon exited (${proc.exitCode ?? proc.signalCode}):\n${log}`);
    const up = await apiRequest(socket, "GET", "/v1/status").then(
      (r) => r.status === 200,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) {
      await started.stop();
      throw new Error(`daemon did not come up:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  guardian = childrenOf(started.pid)[0];
  return started;
}

function signalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal];
}

/** Registers `pid` as an invocation of `fn`; returns its id. */
export async function register(socket: string, fn: string, pid: number): Promise<string> {
  const res = await apiRequest(socket, "POST", "/v1/invocations", { function: fn, pid });
  if (res.status !== 201)
    throw new Error(`register ${pid}: ${res.status} ${JSON.stringify(res.body)}`);
  return (res.body as { id: string }).id;
}

/** Waits for `cond`; the deadline only catches something that never happens. */
export function eventually(cond: () => boolean, what: string): Promise<number> {
  return waitFor(cond, 20_000, what);
}

/** Removes a daemon's directory (after it stopped). */
export function removeDir(dir: string): void {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}
