/**
 * An `alps daemon` in a process of its own, as on a real host: started by
 * the replay (or the daemon-cost benchmark) with a temporary socket and state
 * directory, its metrics port off, and the mode flags given; stopped with
 * SIGTERM (it restores every task it changed) and checked to have left no
 * touched-task record behind. Its log goes to a file the caller names.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { apiRequest } from "../frontend/api/client.js";

/** The built CLI: from src/replay (tests) and from dist/replay alike, repo/dist/cli.js. */
export const BUILT_CLI = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));

export interface DaemonChildOptions {
  /** `--mode` of the daemon (alps, sfs, cfs, auto). */
  mode: string;
  /** More daemon flags (strategy, idle-from-nice, policy file...). */
  args?: readonly string[];
  /** Where its stderr goes (appended). */
  logFile: string;
  /** The CLI to run (default: this tree's dist/cli.js). */
  cli?: string;
  /** Node flags before the script (e.g. --cpu-prof). */
  nodeArgs?: readonly string[];
  /** How long it may take to answer on its socket, ms (a loaded host is slow to start Node). */
  readyTimeoutMs?: number;
}

export interface DaemonStatusBody {
  mode?: string;
  sensor?: string;
  strategy?: string | null;
  reasons?: string[];
  backend?: Record<string, number>;
  counters?: Record<string, number>;
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export class DaemonChild {
  readonly socket: string;
  readonly pid: number;
  readonly logFile: string;
  readonly #dir: string;
  readonly #child: ChildProcess;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly #exited: Promise<void>;

  private constructor(child: ChildProcess, dir: string, logFile: string) {
    this.#child = child;
    this.#dir = dir;
    this.socket = join(dir, "alps.sock");
    this.logFile = logFile;
    if (child.pid === undefined) throw new Error("alps daemon did not start (no pid)");
    this.pid = child.pid;
    this.#exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        this.#exit = { code, signal };
        resolve();
      }),
    );
  }

  /** Start it and wait until its control API answers. Throws (with its log's tail) if it exits first. */
  static async start(opts: DaemonChildOptions): Promise<DaemonChild> {
    const cli = opts.cli ?? BUILT_CLI;
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build`);
    const dir = mkdtempSync(join(tmpdir(), "alps-replay-daemon-"));
    const log = openSync(opts.logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(
        process.execPath,
        [
          ...(opts.nodeArgs ?? []),
          cli,
          "daemon",
          "--mode",
          opts.mode,
          "--socket",
          join(dir, "alps.sock"),
          "--state-dir",
          join(dir, "state"),
          "--metrics-port",
          "0",
          ...(opts.args ?? []),
        ],
        { stdio: ["ignore", log, log] },
      );
    } finally {
      closeSync(log);
    }
    const daemon = new DaemonChild(child, dir, opts.logFile);
    try {
      await daemon.#waitReady(opts.readyTimeoutMs ?? 120_000);
    } catch (error) {
      await daemon.stop().catch(() => {});
      throw error;
    }
    return daemon;
  }

  async #waitReady(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.#exit !== undefined) {
        throw new Error(
          `alps daemon exited while starting (${this.#exit.signal ?? this.#exit.code}); its log ${this.logFile} ends with:\n${tail(this.logFile)}`,
        );
      }
      if (existsSync(this.socket)) {
        const res = await apiRequest(this.socket, "GET", "/v1/status").catch(() => undefined);
        if (res?.status === 200) return;
      }
      if (performance.now() > deadline)
        throw new Error(`alps daemon did not answer within ${timeoutMs} ms; log ${this.logFile}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async status(): Promise<DaemonStatusBody> {
    const res = await apiRequest(this.socket, "GET", "/v1/status");
    if (res.status !== 200) throw new Error(`GET /v1/status answered ${res.status}`);
    return res.body as DaemonStatusBody;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /**
   * SIGTERM, and wait for it to restore its tasks and exit; SIGKILL after
   * `timeoutMs` (its guardian then restores them). Returns problems found:
   * a non-zero exit, a touched-task record left behind. Idempotent.
   */
  async stop(timeoutMs = 15_000): Promise<string[]> {
    const problems: string[] = [];
    if (this.#exit === undefined) {
      this.#child.kill("SIGTERM");
      const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), timeoutMs));
      if ((await Promise.race([this.#exited, timer])) === "timeout") {
        problems.push(`alps daemon ${this.pid} ignored SIGTERM for ${timeoutMs} ms: killed`);
        this.#child.kill("SIGKILL");
        await this.#exited;
      }
    }
    const exit = this.#exit;
    if (exit !== undefined && exit.code !== 0 && !problems.length)
      problems.push(
        `alps daemon ${this.pid} exited with ${exit.signal ?? exit.code}; log ${this.logFile}`,
      );
    const record = join(this.#dir, "state", "touched-tasks");
    if (existsSync(record)) problems.push(`alps daemon left its touched-task record ${record}`);
    else rmSync(this.#dir, { recursive: true, force: true });
    return problems;
  }
}
