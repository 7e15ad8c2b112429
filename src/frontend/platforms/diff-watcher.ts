/**
 * Follows a set of sandboxes by rescanning it: each scan returns the full
 * set the platform shows now; the watcher emits "remove" for what vanished
 * and "add" for what appeared. An id whose function or cgroup changed (a
 * recycled OpenLambda cgroup now serving another lambda) is a remove then an
 * add. Rescanning rather than inotify because cgroupfs and the platforms'
 * metadata change in several steps (mkdir, then move a pid, then bind-mount)
 * and a rescan sees the settled state; at the default 200 ms period a change
 * is followed well within a second.
 */
import type { AdapterErrorListener, SandboxEvent, SandboxInfo } from "./types.js";

export const DEFAULT_POLL_MS = 200;

export type Scan = () => Promise<SandboxInfo[]>;

export class DiffWatcher {
  readonly #scan: Scan;
  readonly #periodMs: number;
  readonly #onError: AdapterErrorListener;
  #known = new Map<string, SandboxInfo>();
  #timer: NodeJS.Timeout | undefined;
  #listener: ((e: SandboxEvent) => void) | undefined;
  #running = false;
  /** Chains scans so two never overlap (a slow scan delays the next, never races it). */
  #inFlight: Promise<void> = Promise.resolve();

  constructor(scan: Scan, periodMs: number, onError: AdapterErrorListener) {
    if (!(periodMs > 0)) throw new RangeError(`poll period must be > 0 ms, got ${periodMs}`);
    this.#scan = scan;
    this.#periodMs = periodMs;
    this.#onError = onError;
  }

  /** First scan (its adds are delivered before this resolves; its errors reject), then periodic rescans. */
  async start(listener: (e: SandboxEvent) => void): Promise<void> {
    if (this.#running) throw new Error("adapter already started");
    this.#listener = listener;
    this.#running = true;
    try {
      this.#apply(await this.#scan());
    } catch (err) {
      this.#running = false;
      throw err;
    }
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
  }

  snapshot(): SandboxInfo[] {
    return [...this.#known.values()].map((s) => ({ ...s }));
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => {
      this.#inFlight = this.#tick().finally(() => this.#schedule());
    }, this.#periodMs);
    // A watcher alone must not keep the process alive: the daemon's socket does.
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    try {
      const seen = await this.#scan();
      if (this.#running) this.#apply(seen);
    } catch (err) {
      // Keep the last known set: a transient failure must not unregister sandboxes.
      this.#onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #apply(seen: SandboxInfo[]): void {
    const next = new Map<string, SandboxInfo>();
    for (const s of seen) next.set(s.id, s);
    const emit = (type: SandboxEvent["type"], s: SandboxInfo): void => {
      this.#listener?.({ type, fn: s.fn, cgroupPath: s.cgroupPath, id: s.id });
    };
    for (const [id, old] of this.#known) {
      const now = next.get(id);
      if (!now || now.fn !== old.fn || now.cgroupPath !== old.cgroupPath) {
        this.#known.delete(id);
        emit("remove", old);
      }
    }
    for (const [id, s] of next) {
      if (this.#known.has(id)) continue;
      this.#known.set(id, s);
      emit("add", s);
    }
  }
}
