/**
 * A minimal client of the control API over its unix socket (used by `alps
 * invoke`, `alps policy`, the replay and the benchmarks). A caller that
 * sends many requests passes a keep-alive agent, as a platform would.
 */
import { type Agent, request } from "node:http";

export interface ApiResponse {
  status: number;
  body: unknown;
}

export function apiRequest(
  socketPath: string,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  opts: { agent?: Agent } = {},
): Promise<ApiResponse> {
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
        res.on("error", reject);
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) =>
      reject(
        new Error(`cannot reach the alps daemon on ${socketPath}: ${error.code ?? error.message}`),
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
