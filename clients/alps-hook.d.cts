/** Types of alps-hook.cjs (see that file and docs/platforms.md, "The hook contract"). */

/** What begin() resolves to when the daemon registered the invocation. */
export interface InvocationHandle {
  id: string;
  /** The caller's pid as the daemon's pid namespace numbers it. */
  pid: number;
  fn: string;
}

/**
 * When an invocation may run: `await` (default), once the daemon answered
 * its start, so its first instruction runs at its level; `concurrent`, at
 * once, with the start on its way (the default level until it lands, and
 * the round trip off the invocation's path). As `alps replay --registration`.
 */
export type Registration = "await" | "concurrent";

export interface StartOptions {
  registration?: Registration;
}

/** What begin(fn, { registration: "concurrent" }) returns at once; pass it to end(). */
export interface ConcurrentStart {
  readonly fn: string | undefined;
  readonly registration: "concurrent";
  /**
   * The handle once the daemon answered; rejects with the reason when the
   * start failed (also given to onError). An unread rejection is harmless.
   */
  readonly registered: Promise<InvocationHandle>;
}

/** What end() takes: what begin() gave (settled or not), or undefined. */
export type EndHandle =
  | InvocationHandle
  | Promise<InvocationHandle | undefined>
  | ConcurrentStart
  | undefined;

export interface HookOptions {
  /** The daemon's control socket; default $ALPS_SOCKET, else /run/alps/alps.sock. */
  socket?: string;
  /** Start and end over the line protocol (default; env ALPS_HOOK_PROTOCOL) or HTTP. */
  protocol?: "line" | "http";
  /** The line protocol's socket; default $ALPS_LINE_SOCKET, else beside `socket` (alps.sock → alps-line.sock). */
  lineSocket?: string;
  /** Give up on a request after this long (default 250 ms); the platform never waits longer. */
  timeoutMs?: number;
  /** Where failures go (default: one stderr line per distinct message). */
  onError?: (err: Error) => void;
}

export interface Hook {
  /** Undefined fn (e.g. openwhiskKey of bad input): nothing is registered, the error is reported. */
  begin(fn: string | undefined, options: { registration: "concurrent" }): ConcurrentStart;
  begin(
    fn: string | undefined,
    options?: { registration?: "await" },
  ): Promise<InvocationHandle | undefined>;
  begin(
    fn: string | undefined,
    options?: StartOptions,
  ): Promise<InvocationHandle | undefined> | ConcurrentStart;
  /** A concurrent start whose start failed: nothing is sent, the failure is reported again. */
  end(
    handle: EndHandle,
    details?: { exitCode?: number },
  ): Promise<Record<string, unknown> | undefined>;
  around<T>(fn: string | undefined, body: () => T | Promise<T>, options?: StartOptions): Promise<T>;
  close(): void;
  readonly socketPath: string;
  readonly lineSocketPath: string;
  readonly protocol: "line" | "http";
}

export declare const DEFAULT_SOCKET: string;
export declare function createHook(options?: HookOptions): Hook;
/** The line socket the daemon derives from its API socket (alps.sock → alps-line.sock). */
export declare function lineSocketOf(socket: string): string;
/** The OpenWhisk adapter's key for an activation's `action_name`; undefined for bad input. */
export declare function openwhiskKey(
  actionName: unknown,
  options?: { invoker?: "fpc" | "containerproxy"; namespace?: string },
): string | undefined;
export declare const REGISTRATIONS: readonly Registration[];
export declare function begin(
  fn: string | undefined,
  options: { registration: "concurrent" },
): ConcurrentStart;
export declare function begin(
  fn: string | undefined,
  options?: { registration?: "await" },
): Promise<InvocationHandle | undefined>;
export declare function begin(
  fn: string | undefined,
  options?: StartOptions,
): Promise<InvocationHandle | undefined> | ConcurrentStart;
export declare function end(
  handle: EndHandle,
  details?: { exitCode?: number },
): Promise<Record<string, unknown> | undefined>;
export declare function around<T>(
  fn: string | undefined,
  body: () => T | Promise<T>,
  options?: StartOptions,
): Promise<T>;
