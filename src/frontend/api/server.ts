/**
 * The control API: HTTP over a unix socket (docs/api.md). The socket is 0600
 * (0660 with a configured group), every body is size-limited and validated,
 * requests are rate-limited, and every refusal is logged and counted.
 * Who the client is comes from SO_PEERCRED on the accepted socket, read once
 * per connection (see ../libc.ts).
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, statSync, unlinkSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import { dirname } from "node:path";
import type { z } from "zod";
import type { Daemon } from "../daemon.js";
import { OpenLimitError } from "../daemon.js";
import { type PeerCred, peerCredOf, socketFd } from "../../host/libc.js";
import { cgroup2MountIfAny } from "../../host/cgroups.js";
import { checkPid } from "./access.js";
import { EndBody, InvocationBody, SandboxBody } from "./schemas.js";
import { resolveGid } from "./socket-group.js";

export type RefusalReason =
  | "rate_limited"
  | "too_large"
  | "bad_json"
  | "invalid_body"
  | "forbidden_pid"
  | "forbidden_sandbox"
  | "not_found"
  | "method_not_allowed"
  | "no_peer_credentials"
  | "open_limit"
  | "backend_error";

export interface ApiOptions {
  daemon: Daemon;
  socketPath: string;
  /** Group (name or gid) allowed to use the socket; without it only the owner (root). */
  socketGroup?: string | undefined;
  maxBodyBytes: number;
  ratePerSecond: number;
  log?: (message: string) => void;
  onRefusal?: (reason: RefusalReason) => void;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

/** Token bucket: `rate` tokens a second, burst of one second's worth. */
class TokenBucket {
  #tokens: number;
  #last = performance.now();
  constructor(private readonly rate: number) {
    this.#tokens = rate;
  }
  take(): boolean {
    const now = performance.now();
    this.#tokens = Math.min(this.rate, this.#tokens + ((now - this.#last) / 1000) * this.rate);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Remove a leftover socket file, but never one a live daemon still answers on. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  if (live) throw new Error(`another daemon is listening on ${path}`);
  unlinkSync(path);
}

export class ApiServer {
  readonly #server: Server;
  readonly #opts: ApiOptions;
  readonly #bucket: TokenBucket;
  readonly #peers = new WeakMap<Socket, PeerCred | Error>();
  readonly #cgroupMount = cgroup2MountIfAny();
  readonly refusals: Record<string, number> = {};
  /** Who started each open invocation (peer uid), for the end request. */
  readonly #starters = new Map<string, number>();

  constructor(opts: ApiOptions) {
    this.#opts = opts;
    this.#bucket = new TokenBucket(opts.ratePerSecond);
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => this.#fail(res, error));
    });
    this.#server.maxHeadersCount = 32;
    this.#server.headersTimeout = 5_000;
    this.#server.requestTimeout = 10_000;
    this.#server.on("connection", (socket: Socket) => {
      const fd = socketFd(socket);
      try {
        if (fd === undefined) throw new Error("accepted socket has no fd");
        this.#peers.set(socket, peerCredOf(fd));
      } catch (error) {
        this.#peers.set(socket, error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  async listen(): Promise<void> {
    const { socketPath, socketGroup } = this.#opts;
    mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
    await removeStaleSocket(socketPath);
    // The umask makes the socket 0600 from the moment it exists; chmod below only widens it to the group.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        this.#server.once("error", reject);
        this.#server.listen(socketPath, () => {
          this.#server.off("error", reject);
          resolve();
        });
      });
    } finally {
      process.umask(oldMask);
    }
    chmodSync(socketPath, 0o600);
    if (socketGroup !== undefined) {
      chownSync(socketPath, process.getuid?.() ?? 0, resolveGid(socketGroup));
      chmodSync(socketPath, 0o660);
    }
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    try {
      unlinkSync(this.#opts.socketPath);
    } catch {
      // already gone
    }
  }

  #refuse(status: number, reason: RefusalReason, message: string): never {
    throw new HttpError(status, reason, message);
  }

  #fail(res: ServerResponse, error: unknown): void {
    const e =
      error instanceof HttpError
        ? error
        : new HttpError(
            500,
            "backend_error",
            error instanceof Error ? error.message : String(error),
          );
    this.refusals[e.reason] = (this.refusals[e.reason] ?? 0) + 1;
    this.#opts.onRefusal?.(e.reason);
    this.#opts.log?.(`api: refused (${e.status} ${e.reason}): ${e.message}`);
    if (!res.headersSent) {
      res.writeHead(e.status, {
        "content-type": "application/json",
        connection: e.status === 413 ? "close" : "keep-alive",
      });
    }
    res.end(JSON.stringify({ error: { status: e.status, reason: e.reason, message: e.message } }));
  }

  #send(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }

  async #readJson<S extends z.ZodType>(
    req: IncomingMessage,
    schema: S,
    optional = false,
  ): Promise<z.infer<S>> {
    const max = this.#opts.maxBodyBytes;
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > max) this.#refuse(413, "too_large", `body of ${declared} bytes exceeds ${max}`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > max) this.#refuse(413, "too_large", `body exceeds ${max} bytes`);
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString("utf8");
    let value: unknown;
    if (text.trim() === "" && optional) value = {};
    else {
      try {
        value = JSON.parse(text);
      } catch (error) {
        this.#refuse(400, "bad_json", `body is not JSON: ${(error as Error).message}`);
      }
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      this.#refuse(
        400,
        "invalid_body",
        `field '${issue?.path.join(".") ?? ""}': ${issue?.message ?? "invalid"}`,
      );
    }
    return parsed.data as z.infer<S>;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.#bucket.take())
      this.#refuse(429, "rate_limited", `more than ${this.#opts.ratePerSecond} requests/s`);
    const peer = this.#peers.get(req.socket);
    if (peer === undefined || peer instanceof Error) {
      this.#refuse(
        403,
        "no_peer_credentials",
        `cannot identify the client: ${peer?.message ?? "unknown socket"}`,
      );
    }
    const daemon = this.#opts.daemon;
    // Only the path matters; parse it as a path, never as a URL that could
    // name another authority ("//x" would make `new URL` throw).
    const rawPath = req.url ?? "/";
    const query = rawPath.indexOf("?");
    const path = query < 0 ? rawPath : rawPath.slice(0, query);
    const method = req.method ?? "GET";

    if (path === "/v1/policy" || path === "/v1/status") {
      if (method !== "GET") this.#refuse(405, "method_not_allowed", `${method} ${path}`);
      this.#send(
        res,
        200,
        path === "/v1/policy"
          ? daemon.policy()
          : { ...daemon.status(), api_refusals: { ...this.refusals } },
      );
      return;
    }
    if (path === "/v1/sandboxes") {
      if (method !== "POST") this.#refuse(405, "method_not_allowed", `${method} ${path}`);
      const body = await this.#readJson(req, SandboxBody);
      // A sandbox widens the pid rule to every task in it: only the daemon's own user (root) may
      // declare one, and only an existing directory strictly inside the cgroup v2 hierarchy.
      if (peer.uid !== 0 && peer.uid !== process.getuid?.()) {
        this.#refuse(403, "forbidden_sandbox", `uid ${peer.uid} may not declare sandboxes`);
      }
      const mount = this.#cgroupMount;
      if (mount === undefined)
        this.#refuse(400, "invalid_body", "no cgroup v2 hierarchy is mounted");
      if (!body.cgroup.startsWith(`${mount}/`) || !isDirectory(body.cgroup)) {
        this.#refuse(
          400,
          "invalid_body",
          `field 'cgroup': ${body.cgroup} is not a directory inside ${mount}`,
        );
      }
      await daemon.addSandbox(body.function, body.cgroup);
      this.#opts.log?.(
        `api: sandbox ${body.cgroup} runs ${body.function} (declared by pid ${peer.pid}, uid ${peer.uid})`,
      );
      this.#send(res, 201, { function: body.function, cgroup: body.cgroup });
      return;
    }
    if (path === "/v1/invocations") {
      if (method !== "POST") this.#refuse(405, "method_not_allowed", `${method} ${path}`);
      const body = await this.#readJson(req, InvocationBody);
      // No pid: the caller registers itself (SO_PEERCRED gives its pid in our namespace).
      const pid = body.pid ?? peer.pid;
      const decision = checkPid(pid, peer.pid, daemon.sandboxes().keys(), this.#cgroupMount);
      if (!decision.ok) this.#refuse(403, "forbidden_pid", decision.why);
      let id: string;
      try {
        id = daemon.startInvocation(body.function, pid);
      } catch (error) {
        if (error instanceof OpenLimitError) this.#refuse(503, "open_limit", error.message);
        throw error;
      }
      this.#starters.set(id, peer.uid);
      this.#send(res, 201, { id, pid });
      return;
    }
    const end = /^\/v1\/invocations\/([0-9]{1,20})\/end$/.exec(path);
    if (end !== null) {
      if (method !== "POST") this.#refuse(405, "method_not_allowed", `${method} ${path}`);
      const id = end[1] as string;
      const body = await this.#readJson(req, EndBody, true);
      const starter = this.#starters.get(id);
      if (starter === undefined || daemon.openInvocation(id) === undefined)
        this.#refuse(404, "not_found", `no open invocation ${id}`);
      if (peer.uid !== 0 && peer.uid !== starter)
        this.#refuse(403, "forbidden_pid", `invocation ${id} belongs to uid ${starter}`);
      this.#starters.delete(id);
      const record = daemon.endInvocation(
        id,
        body.cpu_ms !== undefined ? { cpuMs: body.cpu_ms } : {},
      );
      this.#send(res, 200, record);
      return;
    }
    this.#refuse(404, "not_found", `${method} ${path}`);
  }
}
