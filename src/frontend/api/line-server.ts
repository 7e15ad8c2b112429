/**
 * The line protocol's server (grammar: line-protocol.ts; docs/api.md): the
 * lean path for a platform's hot loop, beside the HTTP API on a socket of
 * its own. Every request goes through the same ApiRoutes as HTTP: peer
 * credentials read once per connection, the same rate limit per uid, pid
 * rule, quotas and open limit, the same zod schemas, refusals counted and
 * logged the same way. What it saves is HTTP: no header parsing, no JSON,
 * and the answers to everything that arrived in one read go out in one
 * write.
 */
import { createServer, type Server, type Socket } from "node:net";
import { type PeerCred, peerCredOf, socketFd } from "../../host/libc.js";
import {
  encodeEnded,
  encodeRefusal,
  encodeStarted,
  LINE_MAX_BYTES,
  LineSplitter,
  LineSyntaxError,
  parseRequestLine,
} from "./line-protocol.js";
import { ApiError, type ApiRoutes, validated } from "./routes.js";
import {
  EndBody,
  type EndRequest,
  FUNCTION_NAME_CHARS,
  FUNCTION_NAME_MAX,
  InvocationBody,
  type InvocationRequest,
  MAX_PID,
} from "./schemas.js";

/** A request line with its fields validated (the HTTP bodies' schemas). */
export type ValidLineRequest =
  | { route: "start"; body: InvocationRequest }
  | { route: "end"; id: string; body: EndRequest };

const INTEGER = /^[0-9]+$/;
const DECIMAL = /^[0-9]+(\.[0-9]+)?$/;

/** A numeric field as a number, or a refusal naming it. */
function numberField(name: string, text: string, pattern: RegExp, what: string): number {
  if (!pattern.test(text) || text.length > 24)
    throw new ApiError(400, "invalid_body", `field '${name}': expected ${what}, got '${text}'`);
  return Number(text);
}

/**
 * The hot path's bodies, checked without zod: a start whose name and pid
 * InvocationBody accepts, an end without cpu_ms. zod's parse of those two
 * bodies was 5 % of the daemon's CPU per invocation at 50/s (perf,
 * development run). Anything else (a refusal, cpu_ms) goes through the
 * schemas, which stay the only judge of what is refused and say why; this
 * accepts a subset of what they accept, with the same result
 * (test/frontend/api/line-protocol.test.ts compares the two).
 */
export function fastStartBody(
  fn: string,
  pid: number | undefined,
  resume?: true,
): InvocationRequest | undefined {
  if (fn.length > FUNCTION_NAME_MAX || !FUNCTION_NAME_CHARS.test(fn)) return undefined;
  if (pid === undefined) return { function: fn };
  if (!(Number.isInteger(pid) && pid >= 1 && pid <= MAX_PID)) return undefined;
  return resume === undefined ? { function: fn, pid } : { function: fn, pid, resume };
}

/**
 * One request line, parsed and validated: `400 bad_line` for a line of no
 * known shape, `400 invalid_body` naming the field for a bad field.
 */
export function lineRequestOf(line: string): ValidLineRequest {
  let request;
  try {
    request = parseRequestLine(line);
  } catch (error) {
    if (error instanceof LineSyntaxError) throw new ApiError(400, "bad_line", error.message);
    throw error;
  }
  if (request.verb === "S") {
    const value: { function: string; pid?: number; resume?: true } =
      request.pid === undefined
        ? { function: request.function }
        : {
            function: request.function,
            pid: numberField("pid", request.pid, INTEGER, "a decimal integer"),
            ...(request.resume === undefined ? {} : { resume: request.resume }),
          };
    return {
      route: "start",
      body:
        fastStartBody(value.function, value.pid, request.resume) ??
        validated(InvocationBody, value),
    };
  }
  if (!/^[0-9]{1,20}$/.test(request.id))
    throw new ApiError(
      400,
      "invalid_body",
      `field 'id': expected an invocation id (1 to 20 digits), got '${request.id.slice(0, 32)}'`,
    );
  // An end without cpu_ms is the empty body, which EndBody accepts as it is.
  if (request.cpuMs === undefined) return { route: "end", id: request.id, body: {} };
  const value = {
    cpu_ms: numberField("cpu_ms", request.cpuMs, DECIMAL, "a decimal number of ms"),
  };
  return { route: "end", id: request.id, body: validated(EndBody, value) };
}

/** Pause reading a client whose answers pile up past this many bytes unread. */
const MAX_UNREAD_BYTES = 256 * 1024;

export class LineServer {
  readonly #routes: ApiRoutes;
  readonly #connections = new Set<Socket>();

  constructor(routes: ApiRoutes) {
    this.#routes = routes;
  }

  /** A new listening server (the first, and one per recreation of a deleted socket). */
  create(): Server {
    return createServer((socket) => this.#serve(socket));
  }

  /** Ends every open connection (at close). */
  closeAll(): void {
    for (const socket of this.#connections) socket.destroy();
    this.#connections.clear();
  }

  #serve(socket: Socket): void {
    let peer: PeerCred | Error;
    try {
      const fd = socketFd(socket);
      if (fd === undefined) throw new Error("accepted socket has no fd");
      peer = peerCredOf(fd);
    } catch (error) {
      peer = error instanceof Error ? error : new Error(String(error));
    }
    this.#connections.add(socket);
    socket.once("close", () => this.#connections.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.setEncoding("utf8");
    const splitter = new LineSplitter();
    socket.on("drain", () => socket.resume());
    socket.on("data", (chunk: string) => {
      const lines = splitter.push(chunk);
      if (lines === "too_large") {
        // The rest of an over-long line cannot be told from the next request: answer and close.
        const e = this.#routes.refused(
          new ApiError(413, "too_large", `a line longer than ${LINE_MAX_BYTES} characters`),
          peer,
        );
        socket.end(encodeRefusal(e.status, e.reason, e.message));
        return;
      }
      let out = "";
      for (const line of lines) out += this.#answer(line, peer);
      if (out !== "" && !socket.write(out) && socket.writableLength > MAX_UNREAD_BYTES)
        socket.pause();
    });
  }

  /** The answer line to one request line. */
  #answer(line: string, peer: PeerCred | Error): string {
    const routes = this.#routes;
    routes.counted(
      line.startsWith("E ") ? "end" : line.startsWith("S ") ? "start" : "unknown",
      "line",
    );
    try {
      const caller = routes.admit(peer);
      const request = lineRequestOf(line);
      if (request.route === "start") {
        const started = routes.startInvocation(caller, request.body);
        return encodeStarted(started.id, started.pid);
      }
      return encodeEnded(routes.endInvocation(caller, request.id, request.body));
    } catch (error) {
      const e = routes.refused(error, peer);
      return encodeRefusal(e.status, e.reason, e.message);
    }
  }
}
