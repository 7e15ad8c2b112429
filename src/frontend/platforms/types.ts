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
  /**
   * "add" declares the sandbox, or re-keys one already declared under
   * another function (then `rekeyed` says from what and why).
   */
  type: "add" | "remove";
  /** The function key the sandbox runs under, as the platform names it. */
  fn: string;
  /** Absolute path of the sandbox's cgroup v2 directory. */
  cgroupPath: string;
  /** The platform's own id of the sandbox (cgroup path, container id...). */
  id: string;
  /** The key is temporary (see SandboxInfo.provisional). */
  provisional?: boolean;
  rekeyed?: { from: string; by: "rename" | "activation" };
}

/** One sandbox the adapter currently sees. */
export interface SandboxInfo {
  fn: string;
  cgroupPath: string;
  id: string;
  /**
   * The key is temporary: an OpenWhisk stem cell (`prewarm_<kind>`) whose
   * action is not known until it is renamed or a hook registers from it.
   */
  provisional?: boolean;
}

/** A sandbox the adapter found but will not declare, and why. */
export interface RefusedSandbox {
  /** The platform's id (container id). */
  id: string;
  /** The platform's name for it (container name). */
  name: string;
  problem: "unnamed-cgroup" | "shared-cgroup" | "no-v2-cgroup";
  /** The v2 cgroup its init is in, when it has one. */
  cgroupPath?: string;
  /** v1 hierarchies whose path names it (hybrid host, cgroupfs driver). */
  namedInV1: string[];
  detail: string;
}

/** What one look at the platform found. */
export interface PlatformScan {
  sandboxes: SandboxInfo[];
  /** Found but not declared: the cgroup could not be told apart from others'. */
  refused: RefusedSandbox[];
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
   * platform shows now, and those it refuses. Follows nothing, emits
   * nothing, needs no start(); rejects when the platform cannot be read
   * (missing root or socket...).
   */
  scan(): Promise<PlatformScan>;
  /**
   * An invocation of `fn` started in task `pid` (host pid), as a platform
   * hook registered it. An adapter with temporary keys re-keys the sandbox
   * the task is in (an "add" with `rekeyed`); never throws.
   */
  noteInvocation?(fn: string, pid: number): void;
}

/** Problems an adapter met while following (unreadable metadata, lost Docker stream...): reported, never silent. */
export type AdapterErrorListener = (err: Error) => void;
