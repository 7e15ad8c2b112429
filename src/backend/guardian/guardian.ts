/**
 * The daemon's side of the guardian (safety invariant 3, docs/safety.md): a small
 * separate process that outlives the daemon. It holds the read end of a
 * pipe whose write end only the daemon has; the kernel closes that end when
 * the daemon dies in any way (SIGKILL, crash, OOM kill), and the guardian
 * then restores every task in the touched-task record within milliseconds.
 * On a clean shutdown the daemon restores its tasks itself and says "bye",
 * and the guardian exits without touching anything.
 *
 * The process runs `guardian-main.js` detached (its own session and process
 * group, so a terminal's Ctrl-C or a kill of the daemon's group does not
 * take it along) on the fair class: it sleeps until the pipe closes and can
 * never starve a function.
 *
 * A heartbeat on the same pipe (every HEARTBEAT_MS) lets the guardian notice
 * a daemon that is alive but not answering (SIGSTOP, a hang): after
 * `timeoutMs` without one it puts every task back and says "restored N" on
 * its stdout; `onRestored` tells the daemon, which re-applies its levels
 * when it runs again. The daemon watches `exited` in turn (see
 * guardian-supervisor.ts).
 *
 * That 1 s bound only matters while the record holds something (a task or
 * cgroup alps changed). A heartbeat sent while `idle()` says the daemon's
 * tick is idle is "i" instead of "h"; after an "i", and while the record is
 * empty, the guardian allows `idleTimeoutMs` of silence instead. Before its
 * first change the daemon writes the record entry, wakes its tick and calls
 * `arm()`, which beats "h" at once if the last beat was "i": the guardian
 * allows 1 s again before anything is changed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";

export interface GuardianOptions {
  /** The touched-task record to restore from (see touched.ts). */
  file: string;
  /** Where the guardian's log lines go: inherit the daemon's stderr (default) or append to this file descriptor. */
  logFd?: number;
  /** The guardian's entry point; default guardian-main.js beside this module. */
  mainPath?: string;
  /** How long to wait for the guardian to report ready, ms. */
  readyTimeoutMs?: number;
  /** Silence on the pipe after which the guardian restores everything, ms (0 = never); default 1000. */
  timeoutMs?: number;
  /** Silence allowed while the record is empty, ms; default `timeoutMs` (no idle mode). */
  idleTimeoutMs?: number;
  /** Whether the daemon's tick is idle now (its beats say "i"); default never. */
  idle?: () => boolean;
  /** Runs the heartbeat every HEARTBEAT_MS (the daemon's shared tick); default setInterval. */
  every?: (periodMs: number, tick: () => void) => () => void;
}

export interface Guardian {
  /** The guardian's process id. */
  readonly pid: number;
  /** Resolves with the guardian's exit code once it exited (null: killed by `signal`). */
  readonly exited: Promise<number | null>;
  /** How it ended: "code N" or "signal S" (after `exited` resolved). */
  readonly exitReason: () => string | undefined;
  /** Called with the number of tasks and cgroups changed back each time the guardian restored everything because the daemon did not answer. */
  onRestored(listener: (changed: number) => void): void;
  /**
   * The daemon is about to change the host: if the last heartbeat said
   * idle, one (not idle) now, written before this returns (libuv writes a
   * pipe at once when nothing is queued, and the guardian keeps reading).
   */
  arm(): void;
  /**
   * Clean shutdown: call after the daemon restored its tasks. Says "bye" and
   * waits (up to 2 s) for the guardian to exit, then kills it by pid.
   */
  stop(): Promise<void>;
}

export const GUARDIAN_READY = "ready";
export const GUARDIAN_BYE = "bye";
/** How often the daemon tells the guardian it is alive, ms. */
export const HEARTBEAT_MS = 250;
/** How often an idle daemon (an empty record) beats, ms: its idle tick. */
export const IDLE_HEARTBEAT_MS = 2000;
/** Silence the guardian allows while the record is empty, ms: five idle beats (nothing to restore then). */
export const IDLE_TIMEOUT_MS = 10_000;

/** Starts the guardian and resolves once it watches the pipe and can restore. */
export async function startGuardian(opts: GuardianOptions): Promise<Guardian> {
  let stopping: Promise<void> | undefined;
  const mainPath = opts.mainPath ?? fileURLToPath(new URL("./guardian-main.js", import.meta.url));
  const timeoutMs = opts.timeoutMs ?? 1000;
  const args = [
    mainPath,
    "--file",
    opts.file,
    "--timeout-ms",
    String(timeoutMs),
    "--idle-timeout-ms",
    String(opts.idleTimeoutMs ?? timeoutMs),
  ];
  const child: ChildProcess = spawn(process.execPath, args, {
    detached: true,
    stdio: ["pipe", "pipe", opts.logFd ?? "inherit"],
  });
  const pid = child.pid;
  const { stdin, stdout } = child;
  if (pid === undefined || stdin === null || stdout === null) {
    child.kill("SIGKILL");
    throw new Error(`could not start the guardian (${mainPath})`);
  }
  // A write after the guardian died fails with EPIPE; its death itself is
  // reported through `exited`, so the pipe error must not crash the daemon.
  stdin.on("error", () => {});
  let exitReason: string | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code, signal) => {
      exitReason = code !== null ? `code ${code}` : `signal ${signal}`;
      resolve(code);
    });
  });
  const restoredListeners: ((changed: number) => void)[] = [];

  let seen = "";
  let ready = false;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the guardian (pid ${pid}) did not report ready`));
    }, opts.readyTimeoutMs ?? 10_000);
    stdout.on("data", (chunk: Buffer) => {
      seen += chunk.toString("utf8");
      for (let nl = seen.indexOf("\n"); nl >= 0; nl = seen.indexOf("\n")) {
        const line = seen.slice(0, nl);
        seen = seen.slice(nl + 1);
        if (line === GUARDIAN_READY && !ready) {
          ready = true;
          clearTimeout(timer);
          resolve();
        }
        const restored = /^restored (\d+)$/.exec(line);
        if (restored !== null) for (const l of restoredListeners) l(Number(restored[1]));
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the guardian exited before it was ready (code ${code}, signal ${signal})`));
    });
  });

  // From here neither the pipes nor the child handle may keep the daemon's
  // event loop alive.
  (stdout as unknown as Socket).unref();
  (stdin as unknown as Socket).unref();
  child.unref();
  /** The last heartbeat said idle (the guardian may allow idleTimeoutMs now). */
  let saidIdle = false;
  const beat = (): void => {
    if (child.exitCode === null && child.signalCode === null && stopping === undefined) {
      saidIdle = opts.idle?.() ?? false;
      stdin.write(saidIdle ? "i\n" : "h\n");
    }
  };
  let stopBeat: () => void;
  if (opts.every !== undefined) stopBeat = opts.every(HEARTBEAT_MS, beat);
  else {
    const heartbeat = setInterval(beat, HEARTBEAT_MS);
    heartbeat.unref();
    stopBeat = () => clearInterval(heartbeat);
  }
  void exited.then(() => stopBeat());

  return {
    pid,
    exited,
    exitReason: () => exitReason,
    onRestored(listener) {
      restoredListeners.push(listener);
    },
    arm() {
      if (saidIdle) beat();
    },
    stop(): Promise<void> {
      stopping ??= (async () => {
        stopBeat();
        if (child.exitCode === null && child.signalCode === null) {
          // The child is unref'd so a running daemon's loop does not wait on
          // it; a stop does. Unheld, an empty loop ends Node here with status
          // 0 before the caller runs on (a failed start's error was lost so).
          child.ref();
          stdin.end(`${GUARDIAN_BYE}\n`);
          const timeout = new Promise<"timeout">((resolve) =>
            setTimeout(resolve, 2000, "timeout").unref(),
          );
          if ((await Promise.race([exited, timeout])) === "timeout") {
            process.kill(pid, "SIGKILL");
            await exited;
          }
        }
      })();
      return stopping;
    },
  };
}
