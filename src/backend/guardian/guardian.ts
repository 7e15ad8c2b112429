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
}

export interface Guardian {
  /** The guardian's process id. */
  readonly pid: number;
  /** Resolves with the guardian's exit code once it exited. */
  readonly exited: Promise<number | null>;
  /**
   * Clean shutdown: call after the daemon restored its tasks. Says "bye" and
   * waits (up to 2 s) for the guardian to exit, then kills it by pid.
   */
  stop(): Promise<void>;
}

export const GUARDIAN_READY = "ready";
export const GUARDIAN_BYE = "bye";

/** Starts the guardian and resolves once it watches the pipe and can restore. */
export async function startGuardian(opts: GuardianOptions): Promise<Guardian> {
  const mainPath = opts.mainPath ?? fileURLToPath(new URL("./guardian-main.js", import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [mainPath, "--file", opts.file], {
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
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code));
  });

  await new Promise<void>((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the guardian (pid ${pid}) did not report ready`));
    }, opts.readyTimeoutMs ?? 10_000);
    stdout.on("data", (chunk: Buffer) => {
      seen += chunk.toString("utf8");
      if (seen.includes(`${GUARDIAN_READY}\n`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the guardian exited before it was ready (code ${code}, signal ${signal})`));
    });
  });

  // From here the daemon only holds the pipe's write end. Neither it nor the
  // child handle may keep the daemon's event loop alive.
  stdout.destroy();
  (stdin as unknown as Socket).unref();
  child.unref();

  let stopping: Promise<void> | undefined;
  return {
    pid,
    exited,
    stop(): Promise<void> {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
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
