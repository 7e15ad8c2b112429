/** Types of alps-hook.cjs (see that file and docs/platforms.md, "The hook contract"). */

/** What begin() resolves to when the daemon registered the invocation. */
export interface InvocationHandle {
  id: string;
  /** The caller's pid as the daemon's pid namespace numbers it. */
  pid: number;
  fn: string;
}

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
  begin(fn: string | undefined): Promise<InvocationHandle | undefined>;
  end(
    handle: InvocationHandle | Promise<InvocationHandle | undefined> | undefined,
    details?: { exitCode?: number },
  ): Promise<Record<string, unknown> | undefined>;
  around<T>(fn: string | undefined, body: () => T | Promise<T>): Promise<T>;
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
export declare function begin(fn: string | undefined): Promise<InvocationHandle | undefined>;
export declare function end(
  handle: InvocationHandle | Promise<InvocationHandle | undefined> | undefined,
  details?: { exitCode?: number },
): Promise<Record<string, unknown> | undefined>;
export declare function around<T>(fn: string | undefined, body: () => T | Promise<T>): Promise<T>;
