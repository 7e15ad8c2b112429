/**
 * A minimal client of the control API over its unix socket (used by `alps
 * invoke`, `alps policy`, the replay and the benchmarks). A daemon that
 * cannot be reached, or does not answer within the timeout, is a
 * DaemonUnreachableError: the CLI says so in one line. A caller that sends
 * many requests passes a keep-alive agent, as a platform would.
 */
import { type Agent, request } from "node:http";
import { DaemonUnreachableError } from "../../errors.js";

/** How long a request may wait for the daemon's answer before it counts as unreachable. */
export const API_TIMEOUT_MS = 10_000;

/** What a connection error means to the person running the command. */
function unreachableReason(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case "ENOENT":
      return "no such socket (is `alps daemon` running? --socket or ALPS_SOCKET names another)";
    case "ECONNREFUSED":
      return "nothing listens on it (the daemon stopped; a stale socket is left)";
    case "EACCES":
    case "EPERM":
      return "permission denied (the socket is root's, or the group of --socket-group)";
    case "ENOTSOCK":
      return "not a socket";
    default:
      return error.code ?? error.message;
  }
}

export interface ApiResponse {
  status: number;
  body: unknown;
}

export function apiRequest(
  socketPath: string,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  opts: { agent?: Agent; timeoutMs?: number } = {},
): Promise<ApiResponse> {
  const timeoutMs = opts.timeoutMs ?? API_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        ...(opts.agent === undefined ? {} : { agent: opts.agent }),
        method,
        path,
        headers:
          payload === undefined
            ? {}
            : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on("error", (error: NodeJS.ErrnoException) =>
          reject(
            new DaemonUnreachableError(socketPath, `answer cut off: ${unreachableReason(error)}`),
          ),
        );
      },
    );
    let timedOut = false;
    req.setTimeout(timeoutMs, () => {
      timedOut = true;
      req.destroy();
    });
    req.on("error", (error: NodeJS.ErrnoException) =>
      reject(
        new DaemonUnreachableError(
          socketPath,
          timedOut ? `no answer within ${timeoutMs} ms` : unreachableReason(error),
        ),
      ),
    );
    req.end(payload);
  });
}

/** The error message of an API error body, or the raw body. */
export function apiErrorMessage(res: ApiResponse): string {
  const b = res.body as { error?: { message?: unknown } } | undefined;
  return typeof b?.error?.message === "string" ? b.error.message : JSON.stringify(res.body);
}
