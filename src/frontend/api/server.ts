/**
 * The control API: HTTP over a unix socket (docs/api.md). The socket is 0600
 * (0660 with a configured group), every body is size-limited and validated,
 * requests are rate-limited per uid (the platform, root, has its own budget,
 * so no tenant's flood can make it wait), every refusal is counted and
 * logged aggregated (refusal-log.ts). Who the client is comes from
 * SO_PEERCRED on the accepted socket, read once per connection (see
 * ../libc.ts). A socket file that disappears is noticed and recreated.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, statSync, unlinkSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import { dirname } from "node:path";
import type { z } from "zod";
import { RecordError } from "../../errors.js";
import { cgroup2MountIfAny } from "../../host/cgroups.js";
import { type PeerCred, peerCredOf, socketFd } from "../../host/libc.js";
import { Daemon, OpenLimitError, QuotaError } from "../daemon.js";
import { checkPid } from "./access.js";
import { RefusalLog } from "./refusal-log.js";
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
  | "quota"
  | "record_unavailable"
  | "backend_error";

export interface ApiOptions {
  daemon: Daemon;
  socketPath: string;
  /** Group (name or gid) allowed to use the socket; without it only the owner (root). */
  socketGroup?: string | undefined;
  maxBodyBytes: number;
  /** Requests per second of the platform (root, or the daemon's own user). */
  ratePerSecond: number;
  /** Requests per second of each other uid; default 200. */
  uidRatePerSecond?: number;
  log?: (message: string) => void;
  onRefusal?: (reason: RefusalReason) => void;
  /** How often to check that the socket file is still there, ms (0 = never); default 1000. */
  socketCheckMs?: number;
  /** Interval of the refusal log's summaries, ms; default 10 s. */
  refusalLogMs?: number;
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

/** Inode of the socket file at `path`, or undefined when there is none. */
function socketInode(path: string): bigint | undefined {
  try {
    const st = lstatSync(path, { bigint: true });
    return st.isSocket() ? st.ino : undefined;
  } catch {
    return undefined;
  }
}

function pathExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
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
  /** Listening servers: the first, then one per recreation of a deleted socket. */
  readonly #servers: Server[] = [];
  readonly #opts: ApiOptions;
  /** Token bucket per uid: the platform's at ratePerSecond, the others' at uidRatePerSecond. */
  readonly #buckets = new Map<number, TokenBucket>();
  readonly #peers = new WeakMap<Socket, PeerCred | Error>();
  readonly #cgroupMount = cgroup2MountIfAny();
  readonly #refusalLog: RefusalLog | undefined;
  readonly refusals: Record<string, number> = {};
  /** Inode of the socket file this server created (to notice it was deleted or replaced). */
  #inode: bigint | undefined;
  #watch: NodeJS.Timeout | undefined;
  /** The socket path holds something that is not ours: said once, not touched. */
  #foreignSaid = false;
  /** Times the socket file was found deleted and recreated. */
  socketRecreated = 0;

  constructor(opts: ApiOptions) {
    this.#opts = opts;
    this.#refusalLog =
      opts.log === undefined
        ? undefined
        : new RefusalLog({
            log: opts.log,
            ...(opts.refusalLogMs === undefined ? {} : { intervalMs: opts.refusalLogMs }),
          });
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

  #bucketOf(uid: number): TokenBucket {
    let bucket = this.#buckets.get(uid);
    if (bucket === undefined) {
      const rate = Daemon.isPlatform(uid)
        ? this.#opts.ratePerSecond
        : (this.#opts.uidRatePerSecond ?? 200);
      bucket = new TokenBucket(rate);
      this.#buckets.set(uid, bucket);
    }
    return bucket;
  }

  async listen(): Promise<void> {
    const { socketPath } = this.#opts;
    mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
    await removeStaleSocket(socketPath);
    await this.#listenOn(this.#createServer());
    const every = this.#opts.socketCheckMs ?? 1000;
    if (every > 0) {
      this.#watch = setInterval(() => this.checkSocket(), every);
      this.#watch.unref();
    }
  }

  async #listenOn(server: Server): Promise<void> {
    const { socketPath, socketGroup } = this.#opts;
    // The umask makes the socket 0600 from the moment it exists; chmod below only widens it to the group.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(socketPath, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } finally {
      process.umask(oldMask);
    }
    this.#servers.push(server);
    chmodSync(socketPath, 0o600);
    if (socketGroup !== undefined) {
      chownSync(socketPath, process.getuid?.() ?? 0, resolveGid(socketGroup));
      chmodSync(socketPath, 0o660);
    }
    this.#inode = socketInode(socketPath);
  }

  /**
   * A socket file someone deleted leaves the daemon listening on an inode no
   * client can reach: recreate it (and log it). Something else at the path
   * is left alone and reported once. Returns what it found.
   */
  async checkSocket(): Promise<"ok" | "recreated" | "foreign"> {
    const path = this.#opts.socketPath;
    const inode = socketInode(path);
    if (inode !== undefined && inode === this.#inode) return "ok";
    if (inode !== undefined || pathExists(path)) {
      if (!this.#foreignSaid)
        this.#opts.log?.(
          `api: ${path} was replaced by something this daemon did not create; leaving it alone (clients cannot reach this daemon)`,
        );
      this.#foreignSaid = true;
      return "foreign";
    }
    this.#foreignSaid = false;
    // The old listener is bound to an inode nobody can reach: stop it first
    // (closing a unix-socket server unlinks its path, which would take the
    // new socket with it); its open connections finish.
    for (const server of this.#servers.splice(0)) server.close();
    try {
      await this.#listenOn(this.#createServer());
    } catch (error) {
      this.#opts.log?.(`api: ${path} was deleted and could not be recreated: ${String(error)}`);
      return "foreign";
    }
    this.socketRecreated++;
    this.#opts.log?.(`api: ${path} was deleted; recreated it`);
    return "recreated";
  }

  async close(): Promise<void> {
    if (this.#watch !== undefined) clearInterval(this.#watch);
    this.#refusalLog?.flush();
    for (const server of this.#servers.splice(0)) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    }
    if (socketInode(this.#opts.socketPath) === this.#inode) {
      try {
        unlinkSync(this.#opts.socketPath);
      } catch {
        // already gone
      }
    }
  }

  #refuse(status: number, reason: RefusalReason, message: string): never {
    throw new HttpError(status, reason, message);
  }

  #fail(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    const e =
      error instanceof HttpError
        ? error
        : error instanceof RecordError
          ? new HttpError(503, "record_unavailable", error.message)
          : new HttpError(
              500,
              "backend_error",
              error instanceof Error ? error.message : String(error),
            );
    this.refusals[e.reason] = (this.refusals[e.reason] ?? 0) + 1;
    this.#opts.onRefusal?.(e.reason);
    const peer = this.#peers.get(req.socket);
    this.#refusalLog?.refused(
      e.status,
      e.reason,
      peer === undefined || peer instanceof Error ? undefined : peer.uid,
      e.message,
    );
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
          reject(new HttpError(413, "too_large", `body exceeds ${max} bytes`));
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
    const peer = this.#peers.get(req.socket);
    if (peer === undefined || peer instanceof Error) {
      this.#refuse(
        403,
        "no_peer_credentials",
        `cannot identify the client: ${peer?.message ?? "unknown socket"}`,
      );
    }
    if (!this.#bucketOf(peer.uid).take())
      this.#refuse(429, "rate_limited", `uid ${peer.uid}: more than its requests/s`);
    const platform = Daemon.isPlatform(peer.uid);
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
      // No pid: the caller registers itself (SO_PEERCRED gives its pid in our namespace).
      const pid = body.pid ?? peer.pid;
      const decision = checkPid(
        { pid, fn: body.function, peer, platform },
        daemon,
        this.#cgroupMount,
      );
      if (!decision.ok) this.#refuse(403, "forbidden_pid", decision.why);
      let id: string;
      try {
        id = daemon.startInvocation(body.function, pid, { uid: peer.uid });
      } catch (error) {
        if (error instanceof OpenLimitError) this.#refuse(503, "open_limit", error.message);
        if (error instanceof QuotaError) this.#refuse(429, "quota", error.message);
        throw error;
      }
      this.#send(res, 201, { id, pid });
      return;
    }
    const end = /^\/v1\/invocations\/([0-9]{1,20})\/end$/.exec(path);
    if (end !== null) {
      if (method !== "POST") this.#refuse(405, "method_not_allowed", `${method} ${path}`);
      const id = end[1] as string;
      const body = await this.#readJson(req, EndBody, true);
      const open = daemon.openInvocation(id);
      // Ended by the daemon already (its task exited, or it was open too long): say how.
      const reaped = open === undefined ? daemon.reapedInvocation(id) : undefined;
      const owner = open?.uid ?? reaped?.uid;
      if (owner === undefined) this.#refuse(404, "not_found", `no open invocation ${id}`);
      if (!platform && peer.uid !== owner)
        this.#refuse(403, "forbidden_pid", `invocation ${id} belongs to uid ${owner}`);
      if (reaped !== undefined) {
        this.#send(res, 200, reaped);
        return;
      }
      // The daemon decides whether a client's cpu_ms is believed (the platform's only).
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
