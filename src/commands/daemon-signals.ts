/**
 * The signals `alps daemon` answers, and why each one.
 *
 * Node leaves most signals at the kernel's default action, which ends the
 * process without running any of its code: the daemon's tasks would wait
 * for the guardian, its socket would stay behind, nothing would be logged,
 * and systemd counts SIGHUP, SIGINT, SIGTERM and SIGPIPE as a clean exit.
 * So the daemon catches every signal that would end it and that a process
 * can catch:
 *
 * - SIGHUP reloads the configuration (the daemon has no terminal to lose);
 * - SIGTERM and SIGINT are a stop: restore every task, exit 0;
 * - every other signal whose default ends the process (FATAL_SIGNALS): the
 *   same restore, then exit 128 + its number, which is not a clean exit, so
 *   a supervisor restarts the daemon;
 * - SIGUSR1 does not end Node: it opens Node's inspector, a debugger on a
 *   TCP port, inside a root process. It is logged and ignored (debug with
 *   `node --inspect` on purpose instead).
 *
 * Not here: SIGPIPE (Node ignores it), SIGCHLD, SIGURG, SIGWINCH and
 * SIGCONT (ignored by default), the stop signals (they stop, not end),
 * SIGKILL (cannot be caught), and the faults SIGSEGV, SIGBUS, SIGFPE, SIGILL
 * and SIGABRT (Node's own abort), after which no JavaScript may safely run.
 * For those the guardian restores the tasks, and a new daemon restores
 * whatever a kill of both left in the record.
 *
 * A signal that arrives while the daemon is starting waits until it has
 * started (or failed to), so a stop always finds the tasks it must restore.
 *
 * Except SIGPROF under `node --cpu-prof`: there V8's sampler sends it to the
 * daemon every sampling interval, and a handler here would replace V8's and
 * stop the daemon at the first sample (the daemon-cost bench's --cpu-prof).
 */
import { constants } from "node:os";
import type { Log } from "../frontend/log.js";

export const STOP_SIGNALS = ["SIGTERM", "SIGINT"] as const;
export const FATAL_SIGNALS = [
  "SIGQUIT",
  "SIGUSR2",
  "SIGALRM",
  "SIGVTALRM",
  "SIGPROF",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGIO", // also SIGPOLL: the same number
  "SIGPWR",
  "SIGSTKFLT",
  "SIGTRAP",
  "SIGSYS",
] as const;

/** FATAL_SIGNALS minus SIGPROF when this process runs V8's CPU profiler (--cpu-prof). */
export function caughtFatalSignals(
  execArgv: readonly string[] = process.execArgv,
): ReadonlyArray<(typeof FATAL_SIGNALS)[number]> {
  const profiling = execArgv.some((a) => a === "--cpu-prof" || a.startsWith("--cpu-prof="));
  return profiling ? FATAL_SIGNALS.filter((s) => s !== "SIGPROF") : FATAL_SIGNALS;
}

export interface SignalHandlers {
  reload(): void;
  /** Restore every task and exit with `exitCode`. */
  stop(signal: string, exitCode: number): void;
}

export class DaemonSignals {
  #handlers: SignalHandlers | undefined;
  readonly #pending: ((h: SignalHandlers) => void)[] = [];
  readonly #log: Log;

  /** Catches the signals from now on (call before anything is changed). */
  constructor(log: Log) {
    this.#log = log;
    process.on("SIGHUP", () => this.#deliver("SIGHUP", (h) => h.reload()));
    for (const signal of STOP_SIGNALS)
      process.on(signal, () => this.#deliver(signal, (h) => h.stop(signal, 0)));
    for (const signal of caughtFatalSignals())
      process.on(signal, () =>
        this.#deliver(signal, (h) => h.stop(signal, 128 + constants.signals[signal])),
      );
    process.on("SIGUSR1", () =>
      log(
        "SIGUSR1 ignored: it would open Node's inspector (a debugger port) in this root process",
        "warn",
      ),
    );
  }

  /** From now on signals go to `handlers`; ones that arrived during start-up go there now. */
  route(handlers: SignalHandlers): void {
    this.#handlers = handlers;
    for (const deliver of this.#pending.splice(0)) deliver(handlers);
  }

  #deliver(signal: string, deliver: (h: SignalHandlers) => void): void {
    if (this.#handlers !== undefined) {
      deliver(this.#handlers);
      return;
    }
    this.#log(`${signal} while starting: handled once the daemon has started`);
    this.#pending.push(deliver);
  }
}
