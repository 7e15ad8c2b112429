/**
 * The control API: HTTP over a unix socket (docs/api.md), and beside it the
 * line protocol on a second socket (line-server.ts), the lean path for a
 * platform's hot loop. Both sockets are 0600 (0660 with a configured
 * group), recreated when deleted (socket-file.ts). What a request may do is
 * decided in one place for both (routes.ts): requests are rate-limited per
 * uid (the platform, root, has its own budget, so no tenant's flood can
 * make it wait), every refusal is counted and logged aggregated
 * (refusal-log.ts). Who the client is comes from SO_PEERCRED on the
 * accepted socket, read once per connection (see ../libc.ts). HTTP bodies
 * are size-limited and validated.
 */
import { statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Server as NetServer, Socket } from "node:net";
import type { z } from "zod";
import { type PeerCred, peerCredOf, socketFd } from "../../host/libc.js";
import { Daemon } from "../daemon.js";
import { LineServer } from "./line-server.js";
import {
  ApiError,
  type ApiRoute,
  ApiRoutes,
  type RefusalReason,
  type RoutesOptions,
  validated,
} from "./routes.js";
import { EndBody, InvocationBody, SandboxBody } from "./schemas.js";
import { SocketFile } from "./socket-file.js";

export type { RefusalReason } from "./routes.js";
export { resolveGid } from "./socket-group.js";

/** The routes' options (daemon, rates, log, refusal and request reports) and the sockets'. */
export interface ApiOptions extends RoutesOptions {
  socketPath: string;
  /**
   * The line protocol's socket: undefined = derived from socketPath
   * (lineSocketOf), null = none.
   */
  lineSocketPath?: string | null;
  /** Group (name or gid) allowed to use the sockets; without it only the owner (root). */
  socketGroup?: string | undefined;
  maxBodyBytes: number;
  /** How often to check that the socket files are still there, ms (0 = never); default 1000. */
  socketCheckMs?: number;
  /** Runs the socket check (the daemon's shared tick); default setInterval. */
  every?: (periodMs: number, tick: () => void) => () => void;
}

/**
 * The line socket beside the API socket `socket`: `alps.sock` →
 * `alps-line.sock` in the same directory (same permissions, same group).
 */
export function lineSocketOf(socket: string): string {
  return socket.endsWith(".sock") ? `${socket.slice(0, -5)}-line.sock` : `${socket}-line`;
}

/** The route a request path names, for the request counter. */
function routeOf(path: string): ApiRoute {
  switch (path) {
    case "/v1/invocations":
      return "start";
    case "/v1/sandboxes":
      return "sandbox";
    case "/v1/status":
      return "status";
    case "/v1/policy":
      return "policy";
    case "/v1/bursts":
      return "bursts";
    default:
      return path.startsWith("/v1/invocations/") && path.endsWith("/end") ? "end" : "unknown";
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export class ApiServer {
  readonly #opts: ApiOptions;
  readonly #routes: ApiRoutes;
  readonly #peers = new WeakMap<Socket, PeerCred | Error>();
  readonly #http: SocketFile;
  readonly #line: SocketFile | undefined;
  readonly #lineServer: LineServer;
  #stopWatch: (() => void) | undefined;
  /** Refusals by reason, both protocols. */
  readonly refusals: Record<string, number>;

  constructor(opts: ApiOptions) {
    this.#opts = opts;
    this.#routes = new ApiRoutes(opts);
    this.refusals = this.#routes.refusals;
    this.#http = new SocketFile({
      path: opts.socketPath,
      group: opts.socketGroup,
      create: () => this.#createServer(),
      log: opts.log,
      name: "api",
    });
    this.#lineServer = new LineServer(this.#routes);
    const linePath =
      opts.lineSocketPath === undefined ? lineSocketOf(opts.socketPath) : opts.lineSocketPath;
    this.#line =
      linePath === null
        ? undefined
        : new SocketFile({
            path: linePath,
            group: opts.socketGroup,
            create: () => this.#lineServer.create(),
            log: opts.log,
            name: "line api",
          });
  }

  /** Where the line protocol listens, or null. */
  get lineSocketPath(): string | null {
    return this.#line?.path ?? null;
  }

  /** Times a socket file was found deleted and recreated. */
  get socketRecreated(): number {
    return this.#http.recreated + (this.#line?.recreated ?? 0);
  }

  #createServer(): Server {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => this.#fail(req, res, error));
    });
    server.maxHeadersCount = 32;
    server.headersTimeout = 5_000;
    server.requestTimeout = 10_000;
    server.on("connection", (socket: Socket) => {
      const fd = socketFd(socket);
      try {
        if (fd === undefined) throw new Error("accepted socket has no fd");
        this.#peers.set(socket, peerCredOf(fd));
      } catch (error) {
        this.#peers.set(socket, error instanceof Error ? error : new Error(String(error)));
      }
    });
    return server;
  }

  async listen(): Promise<void> {
    await this.#http.listen();
    try {
      await this.#line?.listen();
    } catch (error) {
      await this.#http.close((s) => (s as Server).closeAllConnections());
      throw error;
    }
    const every = this.#opts.socketCheckMs ?? 1000;
    if (every > 0 && this.#opts.every !== undefined)
      this.#stopWatch = this.#opts.every(every, () => void this.checkSocket());
    else if (every > 0) {
      const watch = setInterval(() => void this.checkSocket(), every);
      watch.unref();
      this.#stopWatch = () => clearInterval(watch);
    }
  }

  /**
   * A socket file someone deleted leaves the daemon listening on an inode no
   * client can reach: recreate it (and log it). Something else at the path
   * is left alone and reported once. Returns what it found: the HTTP
   * socket's state, unless it is fine and the line socket's is not.
   */
  async checkSocket(): Promise<"ok" | "recreated" | "foreign"> {
    const http = await this.#http.check();
    const line = (await this.#line?.check()) ?? "ok";
    return http === "ok" ? line : http;
  }

  async close(): Promise<void> {
    this.#stopWatch?.();
    this.#routes.flush();
    await this.#http.close((s) => (s as Server).closeAllConnections());
    await this.#line?.close((_: NetServer) => this.#lineServer.closeAll());
  }

  #refuse(status: number, reason: RefusalReason, message: string): never {
    throw new ApiError(status, reason, message);
  }

  #fail(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    const e = this.#routes.refused(error, this.#peers.get(req.socket));
    if (!res.headersSent) {
      // An unread body (413) cannot be skipped safely: close. Otherwise Node
      // keeps the connection or closes it as the client asked (Connection: close).
      res.writeHead(e.status, {
        "content-type": "application/json",
        ...(e.status === 413 ? { connection: "close" } : {}),
      });
    }
    res.end(JSON.stringify({ error: { status: e.status, reason: e.reason, message: e.message } }));
  }

  #send(res: ServerResponse, status: number, body: unknown): void {
    // A known length: one write for headers and body, no chunked framing.
    const json = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(json),
    });
    res.end(json);
  }

  /**
   * The request body as text, refused past maxBodyBytes. Read with 'data'
   * events, not `for await`: the async iterator cost a promise and a
   * microtask per chunk, a visible part of the daemon's CPU per invocation.
   */
  #readBody(req: IncomingMessage): Promise<string> {
    const max = this.#opts.maxBodyBytes;
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > max) this.#refuse(413, "too_large", `body of ${declared} bytes exceeds ${max}`);
    return new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer): void => {
        size += chunk.length;
        if (size > max) {
          req.off("data", onData);
          reject(new ApiError(413, "too_large", `body exceeds ${max} bytes`));
          return;
        }
        chunks.push(chunk);
      };
      req.on("data", onData);
      req.once("end", () =>
        resolve(
          chunks.length === 1
            ? (chunks[0] as Buffer).toString("utf8")
            : Buffer.concat(chunks).toString("utf8"),
        ),
      );
      req.once("error", reject);
    });
  }

  async #readJson<S extends z.ZodType>(
    req: IncomingMessage,
    schema: S,
    optional = false,
  ): Promise<z.infer<S>> {
    const text = await this.#readBody(req);
    let value: unknown;
    if (optional && text.trim() === "") value = {};
    else {
      try {
        value = JSON.parse(text);
      } catch (error) {
        this.#refuse(400, "bad_json", `body is not JSON: ${(error as Error).message}`);
      }
    }
    return validated(schema, value);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Only the path matters; parse it as a path, never as a URL that could
    // name another authority ("//x" would make `new URL` throw).
    const rawPath = req.url ?? "/";
    const query = rawPath.indexOf("?");
    const path = query < 0 ? rawPath : rawPath.slice(0, query);
    const method = req.method ?? "GET";
    this.#routes.counted(routeOf(path), "http");
    const peer = this.#routes.admit(this.#peers.get(req.socket));
    const platform = Daemon.isPlatform(peer.uid);
    const daemon = this.#opts.daemon;

    if (path === "/v1/policy" || path === "/v1/status") {
      if (method !== "GET") this.#refuse(405, "method_not_allowed", `${method} ${path}`);
      this.#send(
        res,
        200,
        path === "/v1/policy"
          ? daemon.policy()
          : {
              ...daemon.status(),
              api_refusals: { ...this.refusals },
              line_socket: this.lineSocketPath,
            },
      );
      return;
    }
    if (path === "/v1/bursts") {
      // The bursts the daemon saw, for a client that measures how well invocations are
      // inferred where nobody registers them (the replay's sandbox driver).
      if (method !== "GET") this.#refuse(405, "method_not_allowed", `${method} ${path}`);
      const params = new URLSearchParams(query < 0 ? "" : rawPath.slice(query + 1));
      const after = Number(params.get("after") ?? "0");
      const limit = Number(params.get("limit") ?? "4096");
      if (!Number.isInteger(after) || after < 0)
        this.#refuse(400, "invalid_body", `query 'after': expected a sequence number >= 0`);
      if (!Number.isInteger(limit) || limit < 1 || limit > 16_384)
        this.#refuse(400, "invalid_body", `query 'limit': expected 1..16384`);
      this.#send(res, 200, daemon.bursts(after, limit));
      return;
    }
    if (path === "/v1/sandboxes") {
      if (method !== "POST") this.#refuse(405, "method_not_allowed", `${method} ${path}`);
      const body = await this.#readJson(req, SandboxBody);
      // A sandbox widens the pid rule to every task in it: only the daemon's own user (root) may
      // declare one, and only an existing directory strictly inside the cgroup v2 hierarchy.
      if (!platform) {
        this.#refuse(403, "forbidden_sandbox", `uid ${peer.uid} may not declare sandboxes`);
      }
      const mount = this.#routes.cgroupMount;
      if (mount === undefined)
        this.#refuse(400, "invalid_body", "no cgroup v2 hierarchy is mounted");
      if (!body.cgroup.startsWith(`${mount}/`) || !isDirectory(body.cgroup)) {
        this.#refuse(
          400,
          "invalid_body",
          `field 'cgroup': ${body.cgroup} is not a directory inside ${mount}`,
        );
      }
      await daemon.addSandbox(body.function, body.cgroup, { uid: peer.uid });
      this.#opts.log?.(
        `api: sandbox ${body.cgroup} runs ${body.function} (declared by pid ${peer.pid}, uid ${peer.uid})`,
      );
      this.#send(res, 201, { function: body.function, cgroup: body.cgroup });
      return;
    }
    if (path === "/v1/invocations") {
      if (method !== "POST") this.#refuse(405, "method_not_allowed", `${method} ${path}`);
      const body = await this.#readJson(req, InvocationBody);
      this.#send(res, 201, this.#routes.startInvocation(peer, body));
      return;
    }
    const end = /^\/v1\/invocations\/([0-9]{1,20})\/end$/.exec(path);
    if (end !== null) {
      if (method !== "POST") this.#refuse(405, "method_not_allowed", `${method} ${path}`);
      const id = end[1] as string;
      const body = await this.#readJson(req, EndBody, true);
      this.#send(res, 200, this.#routes.endInvocation(peer, id, body));
      return;
    }
    this.#refuse(404, "not_found", `${method} ${path}`);
  }
}
