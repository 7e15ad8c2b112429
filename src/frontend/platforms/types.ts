/**
 * The contract between platform adapters and the daemon. An adapter watches
 * one FaaS platform's own view of its sandboxes (cgroup directories, worker
 * metadata, Docker containers) and tells the daemon which cgroup v2
 * directory runs which function — so operators need not change the platform.
 *
 * The daemon calls `backend.addSandbox(e.fn, e.cgroupPath)` on "add" and
 * `backend.removeSandbox(e.cgroupPath)` on "remove"; `alps doctor` prints
 * one `scan()` (and where the adapter looked, `source`).
 */

export type PlatformKind = "openlambda" | "openwhisk" | "cgroup-pattern";
export const PLATFORM_KINDS: readonly PlatformKind[] = [
  "openlambda",
  "openwhisk",
  "cgroup-pattern",
];

export interface SandboxEvent {
  type: "add" | "remove";
  /** The function the sandbox runs, as the platform names it. */
  fn: string;
  /** Absolute path of the sandbox's cgroup v2 directory. */
  cgroupPath: string;
  /** The platform's own id of the sandbox (cgroup path, container id...). */
  id: string;
}

/** One sandbox the adapter currently sees. */
export interface SandboxInfo {
  fn: string;
  cgroupPath: string;
  id: string;
}

/** Where an adapter looks for sandboxes: its cgroup root, the Docker socket, or the pattern. */
export interface PlatformSource {
  kind: "cgroup-root" | "docker-socket" | "pattern";
  path: string;
}

export interface PlatformAdapter {
  readonly kind: PlatformKind;
  readonly source: PlatformSource;
  /**
   * Discovers the sandboxes that exist now (an "add" for each, before the
   * promise resolves) and follows creation and removal until `stop()`.
   */
  start(listener: (e: SandboxEvent) => void): Promise<void>;
  /** Stops following; emits nothing afterwards. Idempotent. */
  stop(): Promise<void>;
  /** The sandboxes seen now (by a started adapter; empty before start). */
  snapshot(): SandboxInfo[];
  /**
   * One look, with the same discovery code start() uses: the sandboxes the
   * platform shows now. Follows nothing, emits nothing, needs no start();
   * rejects when the platform cannot be read (missing root or socket...).
   */
  scan(): Promise<SandboxInfo[]>;
}

/** Problems an adapter met while following (unreadable metadata, lost Docker stream...): reported, never silent. */
export type AdapterErrorListener = (err: Error) => void;
