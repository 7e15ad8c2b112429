/**
 * A client of the line protocol (line-protocol.ts, docs/api.md): one
 * connection, requests pipelined, answers matched to requests in order. Used
 * by `alps replay --driver api` and the daemon-cost benchmark for the hot
 * loop's start and end; everything else goes through HTTP (client.ts).
 *
 * A refusal rejects with a LineApiError (status, reason, message, as HTTP
 * gives them). A daemon that cannot be reached, closes the connection or
 * does not answer within the timeout rejects every pending request with a
 * DaemonUnreachableError; the next request connects again.
 */
import { connect, type Socket } from "node:net";
import { DaemonUnreachableError } from "../../errors.js";
import { API_TIMEOUT_MS } from "./client.js";
import {
  encodeEnd,
  encodeStart,
  LineSplitter,
  type LineReply,
  parseReplyLine,
} from "./line-protocol.js";

export class LineApiError extends Error {
  override readonly name = "LineApiError";
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(`${status} ${reason}: ${message}`);
  }
}

export interface LineEnded {
  id: string;
  cpuMs: number;
  cpuSource: string;
  reaped?: string;
}

interface Pending {
  resolve: (reply: LineReply) => void;
  reject: (error: Error) => void;
  sentAt: number;
}

export class LineClient {
  readonly socketPath: string;
  readonly #timeoutMs: number;
  #socket: Socket | undefined;
  #splitter = new LineSplitter();
  readonly #pending: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(socketPath: string, opts: { timeoutMs?: number } = {}) {
    this.socketPath = socketPath;
    this.#timeoutMs = opts.timeoutMs ?? API_TIMEOUT_MS;
  }

  /**
   * Registers an invocation of `fn` in `pid` (omitted: the calling process);
   * `resume`: the task waits stopped and the daemon continues it once its
   * level is in place.
   */
  async start(fn: string, pid?: number, resume = false): Promise<{ id: string; pid: number }> {
    const reply = await this.#request(encodeStart(fn, pid, resume));
    if (reply.status !== 201 || !("pid" in reply)) throw this.#refusal(reply);
    return { id: reply.id, pid: reply.pid };
  }

  /** Ends invocation `id`, with the CPU the client measured (believed from the platform only). */
  async end(id: string, cpuMs?: number): Promise<LineEnded> {
    const reply = await this.#request(encodeEnd(id, cpuMs));
    if (reply.status !== 200 || !("cpuSource" in reply)) throw this.#refusal(reply);
    return {
      id: reply.id,
      cpuMs: reply.cpuMs,
      cpuSource: reply.cpuSource,
      ...(reply.reaped === undefined ? {} : { reaped: reply.reaped }),
    };
  }

  close(): void {
    this.#fail(new DaemonUnreachableError(this.socketPath, "the client closed the connection"));
  }

  #refusal(reply: LineReply): LineApiError {
    return "reason" in reply
      ? new LineApiError(reply.status, reply.reason, reply.message)
      : new LineApiError(reply.status, "unexpected", "an answer of another request's kind");
  }

  #request(line: string): Promise<LineReply> {
    const socket = this.#socket ?? this.#connect();
    return new Promise<LineReply>((resolve, reject) => {
      this.#pending.push({ resolve, reject, sentAt: performance.now() });
      socket.write(line);
      this.#armTimer();
    });
  }

  #connect(): Socket {
    const socket = connect(this.socketPath);
    socket.setEncoding("utf8");
    this.#splitter = new LineSplitter();
    socket.on("data", (chunk: string) => {
      const lines = this.#splitter.push(chunk);
      if (lines === "too_large") {
        this.#fail(new DaemonUnreachableError(this.socketPath, "an answer line too long"));
        return;
      }
      for (const line of lines) {
        const pending = this.#pending.shift();
        if (pending === undefined) continue;
        try {
          pending.resolve(parseReplyLine(line));
        } catch (error) {
          pending.reject(error instanceof Error ? error : new Error(String(error)));
        }
      }
      this.#armTimer();
    });
    socket.on("error", (error: NodeJS.ErrnoException) =>
      this.#fail(new DaemonUnreachableError(this.socketPath, error.code ?? error.message)),
    );
    socket.on("close", () =>
      this.#fail(new DaemonUnreachableError(this.socketPath, "the daemon closed the connection")),
    );
    this.#socket = socket;
    return socket;
  }

  /** One timer for the oldest pending request; none while nothing is pending. */
  #armTimer(): void {
    const oldest = this.#pending[0];
    if (oldest === undefined) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      return;
    }
    if (this.#timer !== undefined) return;
    const wait = Math.max(0, oldest.sentAt + this.#timeoutMs - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const first = this.#pending[0];
      if (first === undefined) return;
      if (performance.now() - first.sentAt >= this.#timeoutMs)
        this.#fail(
          new DaemonUnreachableError(this.socketPath, `no answer within ${this.#timeoutMs} ms`),
        );
      else this.#armTimer();
    }, wait);
    this.#timer.unref();
  }

  #fail(error: Error): void {
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.destroy();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const pending of this.#pending.splice(0)) pending.reject(error);
  }
}
