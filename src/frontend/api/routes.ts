/**
 * What the control API does, whatever protocol carried the request: HTTP
 * (server.ts) or the line protocol (line-server.ts). Both call these, so the
 * rules cannot drift apart: who the caller is (SO_PEERCRED), the rate limit
 * per uid (one token bucket per uid for both protocols), the pid rule
 * (access.ts), the daemon's quotas and open limit, validation with the zod
 * schemas (schemas.ts), and how a refusal is counted, reported and logged
 * (refusal-log.ts).
 */
import type { z } from "zod";
import { RecordError } from "../../errors.js";
import { cgroup2MountIfAny } from "../../host/cgroups.js";
import type { PeerCred } from "../../host/libc.js";
import { withProcSnapshot } from "../../host/proc-file.js";
import { readUids } from "../../host/proc-task.js";
import { Daemon, type FinishedRecord, OpenLimitError, QuotaError } from "../daemon.js";
import { checkPid } from "./access.js";
import { RefusalLog } from "./refusal-log.js";
import type { EndRequest, InvocationRequest } from "./schemas.js";

export type RefusalReason =
  | "rate_limited"
  | "too_large"
  | "bad_json"
  | "bad_line"
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

/** The protocol a request came in on (a label of the request counter). */
export type ApiProtocol = "http" | "line";
/** What a request asked for (a label of the request counter). */
export type ApiRoute = "start" | "end" | "sandbox" | "status" | "policy" | "bursts" | "unknown";

/**
 * Why a caller that is not the platform may not have `pid` continued, or
 * undefined when it may: kill(2)'s rule, the caller's uid is the task's real
 * or saved uid, so the daemon sends no signal the caller could not send.
 */
export function resumeRefusal(pid: number, uid: number): string | undefined {
  const uids = readUids(pid);
  if (uids === undefined) return `pid ${pid} is gone`;
  const [real, , saved] = uids;
  if (real === uid || saved === uid) return undefined;
  return `pid ${pid} runs as uids ${uids.join("/")} (real/effective/saved/fs): uid ${uid} could not signal it, so the daemon does not resume it`;
}

/** Why the daemon could not signal `pid` (signal 0: the permission check alone), or undefined. */
export function signalRefusal(pid: number): string | undefined {
  try {
    process.kill(pid, 0);
    return undefined;
  } catch (error) {
    return `pid ${pid} cannot be continued by the daemon: ${(error as Error).message}`;
  }
}

/** A refusal: the status and reason both protocols answer with. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

/** `value` checked against `schema`; a refusal naming the first bad field otherwise. */
export function validated<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ApiError(
      400,
      "invalid_body",
      `field '${issue?.path.join(".") ?? ""}': ${issue?.message ?? "invalid"}`,
    );
  }
  return parsed.data as z.infer<S>;
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

export interface RoutesOptions {
  daemon: Daemon;
  /** Requests per second of the platform (root, or the daemon's own user), both protocols. */
  ratePerSecond: number;
  /** Requests per second of each other uid; default 200. */
  uidRatePerSecond?: number;
  log?: (message: string) => void;
  onRefusal?: (reason: RefusalReason) => void;
  /** Every request that reached a route (refused ones too), by route and protocol. */
  onRequest?: (route: ApiRoute, protocol: ApiProtocol) => void;
  /** Interval of the refusal log's summaries, ms; default 10 s. */
  refusalLogMs?: number;
}

export class ApiRoutes {
  readonly daemon: Daemon;
  readonly cgroupMount = cgroup2MountIfAny();
  /** Refusals by reason, both protocols (GET /v1/status `api_refusals`). */
  readonly refusals: Record<string, number> = {};
  readonly #opts: RoutesOptions;
  /** Token bucket per uid: the platform's at ratePerSecond, the others' at uidRatePerSecond. */
  readonly #buckets = new Map<number, TokenBucket>();
  readonly #refusalLog: RefusalLog | undefined;

  constructor(opts: RoutesOptions) {
    this.#opts = opts;
    this.daemon = opts.daemon;
    this.#refusalLog =
      opts.log === undefined
        ? undefined
        : new RefusalLog({
            log: opts.log,
            ...(opts.refusalLogMs === undefined ? {} : { intervalMs: opts.refusalLogMs }),
          });
  }

  /**
   * The first checks of every request, in this order: the caller is known
   * (its connection's peer credentials), and its uid is within its rate.
   */
  admit(peer: PeerCred | Error | undefined): PeerCred {
    if (peer === undefined || peer instanceof Error)
      throw new ApiError(
        403,
        "no_peer_credentials",
        `cannot identify the client: ${peer?.message ?? "unknown socket"}`,
      );
    let bucket = this.#buckets.get(peer.uid);
    if (bucket === undefined) {
      const rate = Daemon.isPlatform(peer.uid)
        ? this.#opts.ratePerSecond
        : (this.#opts.uidRatePerSecond ?? 200);
      bucket = new TokenBucket(rate);
      this.#buckets.set(peer.uid, bucket);
    }
    if (!bucket.take())
      throw new ApiError(429, "rate_limited", `uid ${peer.uid}: more than its requests/s`);
    return peer;
  }

  counted(route: ApiRoute, protocol: ApiProtocol): void {
    this.#opts.onRequest?.(route, protocol);
  }

  /**
   * An invocation starts: the pid rule, then the daemon's limits. No pid: the
   * caller itself. The rules and the backend see one snapshot of the task's
   * /proc files, each read once (withProcSnapshot).
   */
  startInvocation(peer: PeerCred, body: InvocationRequest): { id: string; pid: number } {
    return withProcSnapshot(() => this.#start(peer, body));
  }

  #start(peer: PeerCred, body: InvocationRequest): { id: string; pid: number } {
    const daemon = this.daemon;
    const platform = Daemon.isPlatform(peer.uid);
    // No pid: the caller registers itself (SO_PEERCRED gives its pid in our namespace).
    const pid = body.pid ?? peer.pid;
    const decision = checkPid({ pid, fn: body.function, peer, platform }, daemon, this.cgroupMount);
    if (!decision.ok) throw new ApiError(403, "forbidden_pid", decision.why);
    if (body.resume === true) {
      const why = platform ? signalRefusal(pid) : resumeRefusal(pid, peer.uid);
      if (why !== undefined) throw new ApiError(403, "forbidden_pid", why);
    }
    let id: string;
    try {
      id = daemon.startInvocation(body.function, pid, { uid: peer.uid });
    } catch (error) {
      if (error instanceof OpenLimitError) throw new ApiError(503, "open_limit", error.message);
      if (error instanceof QuotaError) throw new ApiError(429, "quota", error.message);
      throw error;
    }
    if (body.resume === true) this.#resumeLater(pid, id);
    return { id, pid };
  }

  /**
   * Continues `pid` once this turn of the event loop is over: its level is
   * in place already (startInvocation applied it synchronously), and by
   * then the answer is written and the request's own follow-up work done.
   * Continued at once, the task often woke on the daemon's CPU and waited
   * there for the daemon (real-time) to finish that work: its first
   * instruction came 0.2-1.3 ms later at the median than when the platform
   * continued it after the answer (docs/results.md, "The daemon continues
   * a fork worker").
   */
  #resumeLater(pid: number, id: string): void {
    setImmediate(() => {
      try {
        process.kill(pid, "SIGCONT");
      } catch (error) {
        // Gone since: the invocation is open and its exit ends it, as any task's.
        if ((error as { code?: unknown }).code === "ESRCH") return;
        this.#opts.log?.(
          `api: invocation ${id}: pid ${pid} could not be continued: ${(error as Error).message}`,
        );
      }
    });
  }

  /**
   * Invocation `id` ended. Only its uid, or the platform, may end it; one the
   * daemon ended already (its task exited, or it was open too long) answers
   * with that record, which says how (`reaped`).
   */
  endInvocation(peer: PeerCred, id: string, body: EndRequest): FinishedRecord {
    const daemon = this.daemon;
    const open = daemon.openInvocation(id);
    const reaped = open === undefined ? daemon.reapedInvocation(id) : undefined;
    const owner = open?.uid ?? reaped?.uid;
    if (owner === undefined) throw new ApiError(404, "not_found", `no open invocation ${id}`);
    if (!Daemon.isPlatform(peer.uid) && peer.uid !== owner)
      throw new ApiError(403, "forbidden_pid", `invocation ${id} belongs to uid ${owner}`);
    if (reaped !== undefined) return reaped;
    // The daemon decides whether a client's cpu_ms is believed (the platform's only).
    const record = daemon.endInvocation(
      id,
      body.cpu_ms !== undefined ? { cpuMs: body.cpu_ms } : {},
    );
    if (record === undefined) throw new ApiError(404, "not_found", `no open invocation ${id}`);
    return record;
  }

  /**
   * Any error of a request as the refusal both protocols answer with:
   * counted by reason, reported (metrics), and logged aggregated.
   */
  refused(error: unknown, peer: PeerCred | Error | undefined): ApiError {
    const e =
      error instanceof ApiError
        ? error
        : error instanceof RecordError
          ? new ApiError(503, "record_unavailable", error.message)
          : new ApiError(
              500,
              "backend_error",
              error instanceof Error ? error.message : String(error),
            );
    this.refusals[e.reason] = (this.refusals[e.reason] ?? 0) + 1;
    this.#opts.onRefusal?.(e.reason);
    this.#refusalLog?.refused(
      e.status,
      e.reason,
      peer === undefined || peer instanceof Error ? undefined : peer.uid,
      e.message,
    );
    return e;
  }

  /** Writes the refusal log's pending summary (at shutdown). */
  flush(): void {
    this.#refusalLog?.flush();
  }
}
