/**
 * The daemon watches its guardian as the guardian watches the daemon. A
 * daemon whose guardian died has no safety net: a SIGKILL now would leave
 * every boost and SCHED_IDLE in place. So when the guardian exits without
 * being asked to:
 *   1. `onLost`: the daemon puts every task back itself and changes nothing
 *      more (the backend's `suspend`), and says so;
 *   2. a new guardian is started (again every `retryMs` until one runs);
 *   3. `onBack`: changes resume (the backend's `resume` re-applies levels).
 * When the guardian restored everything because the daemon did not answer
 * (SIGSTOP, a hang), `onRestored` lets the daemon re-apply its levels.
 */
import { type Guardian, type GuardianOptions, startGuardian } from "./guardian.js";

export interface SupervisorOptions extends GuardianOptions {
  log: (message: string) => void;
  /** The guardian is gone: restore everything, stop changing tasks. */
  onLost: (why: string) => void;
  /** A guardian runs again (after onLost): change tasks again. */
  onBack: (pid: number) => void;
  /** The guardian restored `changed` tasks and cgroups while the daemon did not answer. */
  onRestored: (changed: number) => void;
  /** Wait between attempts to start a new guardian, ms; default 1000. */
  retryMs?: number;
  /** Starts a guardian (tests inject one); default startGuardian. */
  start?: (opts: GuardianOptions) => Promise<Guardian>;
}

export class GuardianSupervisor {
  readonly #opts: SupervisorOptions;
  #guardian: Guardian;
  #stopping = false;
  #retry: NodeJS.Timeout | undefined;

  private constructor(opts: SupervisorOptions, first: Guardian) {
    this.#opts = opts;
    this.#guardian = first;
    this.#watch(first);
  }

  /** Starts the first guardian; resolves once it is ready (the daemon changes nothing before). */
  static async start(opts: SupervisorOptions): Promise<GuardianSupervisor> {
    const start = opts.start ?? startGuardian;
    return new GuardianSupervisor(opts, await start(opts));
  }

  /** The running guardian's pid (or the last one's, while a new one is being started). */
  get pid(): number {
    return this.#guardian.pid;
  }

  /** The daemon is about to change the host: a (not idle) heartbeat now if the last one said idle. */
  arm(): void {
    this.#guardian.arm();
  }

  #watch(guardian: Guardian): void {
    guardian.onRestored((changed) => this.#opts.onRestored(changed));
    void guardian.exited.then(() => {
      if (this.#stopping || guardian !== this.#guardian) return;
      const why = `the guardian (pid ${guardian.pid}) exited (${guardian.exitReason() ?? "unknown"})`;
      this.#opts.onLost(why);
      this.#restart();
    });
  }

  #restart(): void {
    if (this.#stopping) return;
    const start = this.#opts.start ?? startGuardian;
    start(this.#opts).then(
      (guardian) => {
        if (this.#stopping) {
          void guardian.stop();
          return;
        }
        this.#guardian = guardian;
        this.#watch(guardian);
        this.#opts.onBack(guardian.pid);
      },
      (error: unknown) => {
        this.#opts.log(
          `could not start a new guardian (${error instanceof Error ? error.message : String(error)}); retrying`,
        );
        this.#retry = setTimeout(() => this.#restart(), this.#opts.retryMs ?? 1000);
        this.#retry.unref();
      },
    );
  }

  /** Clean shutdown (after the daemon restored its tasks): "bye" to the guardian. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    await this.#guardian.stop();
  }
}
