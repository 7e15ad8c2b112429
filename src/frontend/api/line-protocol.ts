/**
 * The control API's line protocol (docs/api.md, "The line protocol"): the
 * two requests of a platform's hot loop, start and end an invocation, as one
 * short text line each on a second unix socket, pipelined, answered in order
 * with one line each. Same rules as the HTTP routes (routes.ts); this module
 * is only the grammar, shared by the server (line-server.ts) and the clients
 * (line-client.ts; clients/alps-hook.cjs has its own copy, dependency-free):
 *
 *   request = start / end                        ; one per line, LF-terminated
 *   start   = "S" SP function [SP pid [SP "resume"]] ; 201 SP id SP pid
 *   end     = "E" SP id [SP cpu_ms]              ; 200 SP id SP cpu_ms SP cpu_source [SP reaped]
 *   refusal = status SP reason SP message        ; status 400..599, reason as in HTTP
 *
 * Fields are separated by exactly one space; a CR before the LF is ignored;
 * an empty line is ignored (no answer). No line may be longer than
 * LINE_MAX_BYTES characters (the LF excluded): such a line is answered `413 too_large`
 * and the connection closed. The fields' rules are the HTTP bodies' (the zod
 * schemas of schemas.ts): this module checks only the shape of a line.
 * No imports, so a client loads it cheaply.
 */

/** Longest request or answer line, bytes, LF excluded: a 255-character name and a pid fit. */
export const LINE_MAX_BYTES = 1024;

/** A request as written on the line, before its fields are validated. */
export type LineRequest =
  | { verb: "S"; function: string; pid?: string; resume?: true }
  | { verb: "E"; id: string; cpuMs?: string };

/** A line that is no request of this grammar (answered `400 bad_line`). */
export class LineSyntaxError extends Error {
  override readonly name = "LineSyntaxError";
}

/** The request on one line (without its LF; a trailing CR is allowed). Throws LineSyntaxError. */
export function parseRequestLine(line: string): LineRequest {
  const text = line.endsWith("\r") ? line.slice(0, -1) : line;
  const fields = text.split(" ");
  const verb = fields[0] ?? "";
  if (verb === "S") {
    if (fields.length < 2 || fields.length > 4)
      throw new LineSyntaxError(
        `'S' takes <function> [<pid> [resume]]: ${fields.length - 1} field(s) given`,
      );
    const [, fn, pid, flag] = fields as [string, string, string | undefined, string | undefined];
    if (pid === undefined) return { verb, function: fn };
    if (flag === undefined) return { verb, function: fn, pid };
    if (flag !== "resume")
      throw new LineSyntaxError(
        `'S' takes 'resume' after the pid, got '${printable(flag.slice(0, 16))}'`,
      );
    return { verb, function: fn, pid, resume: true };
  }
  if (verb === "E") {
    if (fields.length < 2 || fields.length > 3)
      throw new LineSyntaxError(`'E' takes <id> [<cpu_ms>]: ${fields.length - 1} field(s) given`);
    const [, id, cpuMs] = fields as [string, string, string | undefined];
    return cpuMs === undefined ? { verb, id } : { verb, id, cpuMs };
  }
  throw new LineSyntaxError(
    `unknown request '${printable(verb.slice(0, 16))}': a line starts with S (start) or E (end)`,
  );
}

/** `text` with control characters shown as `?`, so an answer stays one line. */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, "?");
}

/**
 * The start request. A name with a space or a control character would be
 * another request on the line (an injected `E`): refused here, before it is
 * written; the server's schema refuses it anyway.
 */
export function encodeStart(fn: string, pid?: number, resume = false): string {
  if (fn === "" || /[\s\u0000-\u001f\u007f]/.test(fn))
    throw new LineSyntaxError(`function name ${JSON.stringify(fn)} cannot go on a line`);
  if (pid !== undefined && (!Number.isInteger(pid) || pid < 1))
    throw new LineSyntaxError(`pid ${pid} is not a positive integer`);
  if (pid === undefined) {
    if (resume) throw new LineSyntaxError("resume needs a pid (a task that waits stopped)");
    return `S ${fn}\n`;
  }
  return resume ? `S ${fn} ${pid} resume\n` : `S ${fn} ${pid}\n`;
}

export function encodeEnd(id: string, cpuMs?: number): string {
  if (!/^[0-9]{1,20}$/.test(id))
    throw new LineSyntaxError(`invocation id '${id}' is not 1 to 20 digits`);
  if (cpuMs !== undefined && !(Number.isFinite(cpuMs) && cpuMs >= 0))
    throw new LineSyntaxError(`cpu_ms ${cpuMs} is not a finite number >= 0`);
  return cpuMs === undefined ? `E ${id}\n` : `E ${id} ${ms(cpuMs)}\n`;
}

export function encodeStarted(id: string, pid: number): string {
  return `201 ${id} ${pid}\n`;
}

/** cpu_ms with at most three decimals (µs), as the line carries it. */
function ms(value: number): string {
  return String(Math.round(value * 1000) / 1000);
}

export function encodeEnded(record: {
  id: string;
  cpuMs: number;
  cpuSource: string;
  reaped?: string | undefined;
}): string {
  const reaped = record.reaped === undefined ? "" : ` ${record.reaped}`;
  return `200 ${record.id} ${ms(record.cpuMs)} ${record.cpuSource}${reaped}\n`;
}

export function encodeRefusal(status: number, reason: string, message: string): string {
  const text = printable(message).slice(0, LINE_MAX_BYTES - 32);
  return `${status} ${reason} ${text}\n`;
}

/** An answer line as a client reads it. */
export type LineReply =
  | { status: 201; id: string; pid: number }
  | {
      status: 200;
      id: string;
      cpuMs: number;
      cpuSource: string;
      reaped?: string;
    }
  | { status: number; reason: string; message: string };

/** One answer line (without its LF). Throws LineSyntaxError on a line the server never writes. */
export function parseReplyLine(line: string): LineReply {
  const space = line.indexOf(" ");
  const status = Number(space < 0 ? line : line.slice(0, space));
  if (!Number.isInteger(status) || status < 100 || status > 599)
    throw new LineSyntaxError(
      `not an answer of the line protocol: '${printable(line.slice(0, 64))}'`,
    );
  const rest = space < 0 ? "" : line.slice(space + 1);
  if (status === 201) {
    const [id, pid] = rest.split(" ");
    if (id === undefined || pid === undefined || !/^[0-9]+$/.test(id) || !/^[0-9]+$/.test(pid))
      throw new LineSyntaxError(`malformed 201 answer: '${printable(line)}'`);
    return { status, id, pid: Number(pid) };
  }
  if (status === 200) {
    const [id, cpuMs, cpuSource, reaped] = rest.split(" ");
    if (id === undefined || cpuMs === undefined || cpuSource === undefined)
      throw new LineSyntaxError(`malformed 200 answer: '${printable(line)}'`);
    return {
      status,
      id,
      cpuMs: Number(cpuMs),
      cpuSource,
      ...(reaped === undefined ? {} : { reaped }),
    };
  }
  const reasonEnd = rest.indexOf(" ");
  return {
    status,
    reason: reasonEnd < 0 ? rest : rest.slice(0, reasonEnd),
    message: reasonEnd < 0 ? "" : rest.slice(reasonEnd + 1),
  };
}

/**
 * Splits a byte stream into lines. `push` returns the complete lines of
 * what arrived (empty ones dropped), keeping a partial last line for the
 * next chunk; a line that grows past LINE_MAX_BYTES makes it return
 * "too_large" (the caller answers and closes).
 */
export class LineSplitter {
  #partial = "";

  push(chunk: string): string[] | "too_large" {
    const text = this.#partial === "" ? chunk : this.#partial + chunk;
    const lines = text.split("\n");
    this.#partial = lines.pop() ?? "";
    if (this.#partial.length > LINE_MAX_BYTES) return "too_large";
    const out: string[] = [];
    for (const line of lines) {
      if (line.length > LINE_MAX_BYTES + 1) return "too_large"; // +1: a CR
      if (line !== "" && line !== "\r") out.push(line);
    }
    return out;
  }
}
