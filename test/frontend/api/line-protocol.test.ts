/**
 * The line protocol's grammar (src/frontend/api/line-protocol.ts) and the
 * server's validation of a line (lineRequestOf): what parses, what is
 * refused and with which reason and field, and that answers encode and
 * decode back to the same values.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  encodeEnd,
  encodeEnded,
  encodeRefusal,
  encodeStart,
  encodeStarted,
  LINE_MAX_BYTES,
  LineSplitter,
  LineSyntaxError,
  parseReplyLine,
  parseRequestLine,
} from "../../../src/frontend/api/line-protocol.js";
import { fastStartBody, lineRequestOf } from "../../../src/frontend/api/line-server.js";
import { InvocationBody } from "../../../src/frontend/api/schemas.js";
import { ApiError } from "../../../src/frontend/api/routes.js";

/** The refusal lineRequestOf throws for `line`. */
function refusal(line: string): { status: number; reason: string; message: string } {
  try {
    lineRequestOf(line);
  } catch (error) {
    if (error instanceof ApiError)
      return { status: error.status, reason: error.reason, message: error.message };
    throw error;
  }
  throw new Error(`'${line}' was accepted`);
}

describe("line protocol requests", () => {
  it("parses start with and without a pid, and end with and without cpu_ms", () => {
    expect(parseRequestLine("S thumb")).toEqual({ verb: "S", function: "thumb" });
    expect(parseRequestLine("S thumb 4123")).toEqual({ verb: "S", function: "thumb", pid: "4123" });
    expect(parseRequestLine("S thumb 4123 resume")).toEqual({
      verb: "S",
      function: "thumb",
      pid: "4123",
      resume: true,
    });
    expect(parseRequestLine("E 17")).toEqual({ verb: "E", id: "17" });
    expect(parseRequestLine("E 17 2.5\r")).toEqual({ verb: "E", id: "17", cpuMs: "2.5" });
  });

  it("validates the fields with the HTTP bodies' rules", () => {
    expect(lineRequestOf("S ns/thumb:v2@x_y.z-1 4123")).toEqual({
      route: "start",
      body: { function: "ns/thumb:v2@x_y.z-1", pid: 4123 },
    });
    expect(lineRequestOf("S f")).toEqual({ route: "start", body: { function: "f" } });
    expect(lineRequestOf("S f 12 resume")).toEqual({
      route: "start",
      body: { function: "f", pid: 12, resume: true },
    });
    expect(lineRequestOf("E 17 12.25")).toEqual({
      route: "end",
      id: "17",
      body: { cpu_ms: 12.25 },
    });
    expect(lineRequestOf("E 17")).toEqual({ route: "end", id: "17", body: {} });
  });

  it("takes the fast path only for bodies the schema accepts, with the schema's result", () => {
    const names = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.stringMatching(/^[A-Za-z0-9_.:@/-]{1,260}$/),
      fc.constantFrom("", "a", "x".repeat(255), "x".repeat(256), "fn with space", "é", "a\n"),
    );
    const pids = fc.oneof(
      fc.constant(undefined),
      fc.integer({ min: -5, max: 4_194_310 }),
      fc.constantFrom(0, 1, 4_194_304, 4_194_305, 1.5, Number.NaN, 1e21),
    );
    fc.assert(
      fc.property(names, pids, fc.boolean(), (fn, pid, resume) => {
        const fast = fastStartBody(fn, pid, resume && pid !== undefined ? true : undefined);
        const parsed = InvocationBody.safeParse(
          pid === undefined
            ? { function: fn }
            : resume
              ? { function: fn, pid, resume: true }
              : { function: fn, pid },
        );
        // Never accepts what the schema refuses; where it answers, the same body.
        if (fast !== undefined) expect(parsed.success && parsed.data).toEqual(fast);
        // Every well-formed start (what a platform sends) is on the fast path.
        if (parsed.success && /^[A-Za-z0-9_.:@/-]+$/.test(fn)) expect(fast).toBeDefined();
      }),
      { numRuns: 2000 },
    );
    // An end without cpu_ms is the empty body; with it, the schema still judges.
    expect(lineRequestOf("E 7")).toEqual({ route: "end", id: "7", body: {} });
    expect(lineRequestOf("E 7 1.5")).toEqual({ route: "end", id: "7", body: { cpu_ms: 1.5 } });
  });

  it("refuses a line of no known shape with 400 bad_line", () => {
    for (const line of [
      "X f",
      "s f",
      "S",
      "S f 1 2",
      "S f 1 Resume",
      "S f 1 resume x",
      "E",
      "E 1 2 3",
      "S  f",
      "GET / HTTP/1.1",
    ]) {
      const r = refusal(line);
      expect(r.status, line).toBe(400);
      expect(r.reason, line).toBe(line === "S  f" ? "invalid_body" : "bad_line");
    }
    expect(() => parseRequestLine("Q")).toThrow(LineSyntaxError);
    expect(refusal("\u0001\u0002 x").message).not.toMatch(/[\u0000-\u001f]/);
  });

  it("refuses a bad field with 400 invalid_body naming it", () => {
    const cases: Array<[string, string]> = [
      ["S bad!name 12", "function"],
      [`S ${"a".repeat(256)}`, "function"],
      ["S f 0", "pid"],
      ["S f 4194305", "pid"],
      ["S f -3", "pid"],
      ["S f 1e3", "pid"],
      ["S f 12x", "pid"],
      // `resume` is only a flag after a pid: in the pid's place it is a bad pid.
      ["S f resume", "pid"],
      ["E abc", "id"],
      [`E ${"1".repeat(21)}`, "id"],
      ["E 5 -1", "cpu_ms"],
      ["E 5 1e9", "cpu_ms"],
      ["E 5 86400001", "cpu_ms"],
      ["E 5 NaN", "cpu_ms"],
    ];
    for (const [line, field] of cases) {
      const r = refusal(line);
      expect(r.status, line).toBe(400);
      expect(r.reason, line).toBe("invalid_body");
      expect(r.message, line).toContain(`field '${field}'`);
    }
  });

  it("encodes what it parses", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_.:@/-]{1,255}$/),
        fc.option(fc.integer({ min: 1, max: 4_194_304 }), { nil: undefined }),
        fc.boolean(),
        (fn, pid, resume) => {
          const withResume = resume && pid !== undefined;
          const line = encodeStart(fn, pid, withResume);
          expect(line.endsWith("\n")).toBe(true);
          expect(lineRequestOf(line.slice(0, -1))).toEqual({
            route: "start",
            body:
              pid === undefined
                ? { function: fn }
                : withResume
                  ? { function: fn, pid, resume: true }
                  : { function: fn, pid },
          });
        },
      ),
    );
    // A task to continue is named by its pid: no resume of the caller itself.
    expect(() => encodeStart("f", undefined, true)).toThrow(LineSyntaxError);
    expect(lineRequestOf(encodeEnd("9", 0.125).slice(0, -1))).toEqual({
      route: "end",
      id: "9",
      body: { cpu_ms: 0.125 },
    });
  });
});

describe("line protocol answers", () => {
  it("round-trips started, ended and refused", () => {
    expect(parseReplyLine(encodeStarted("17", 4123).slice(0, -1))).toEqual({
      status: 201,
      id: "17",
      pid: 4123,
    });
    expect(
      parseReplyLine(
        encodeEnded({ id: "17", cpuMs: 1.23456, cpuSource: "schedstat" }).slice(0, -1),
      ),
    ).toEqual({ status: 200, id: "17", cpuMs: 1.235, cpuSource: "schedstat" });
    expect(
      parseReplyLine(
        encodeEnded({ id: "3", cpuMs: 0, cpuSource: "exit", reaped: "exited" }).slice(0, -1),
      ),
    ).toEqual({ status: 200, id: "3", cpuMs: 0, cpuSource: "exit", reaped: "exited" });
    expect(
      parseReplyLine(
        encodeRefusal(403, "forbidden_pid", "pid 1 (init) is never\na task").slice(0, -1),
      ),
    ).toEqual({ status: 403, reason: "forbidden_pid", message: "pid 1 (init) is never?a task" });
  });

  it("rejects a line no server writes", () => {
    expect(() => parseReplyLine("hello")).toThrow(LineSyntaxError);
    expect(() => parseReplyLine("201 x")).toThrow(LineSyntaxError);
    expect(() => parseReplyLine("200")).toThrow(LineSyntaxError);
  });
});

describe("line splitter", () => {
  it("returns complete lines across chunks and drops empty ones", () => {
    const s = new LineSplitter();
    expect(s.push("S a 1\nE ")).toEqual(["S a 1"]);
    expect(s.push("5\n\n\r\nS b")).toEqual(["E 5"]);
    expect(s.push("\n")).toEqual(["S b"]);
  });

  it("gives up on a line longer than the limit, complete or not", () => {
    expect(new LineSplitter().push(`S ${"a".repeat(LINE_MAX_BYTES)}`)).toBe("too_large");
    expect(new LineSplitter().push(`S ${"a".repeat(LINE_MAX_BYTES)}\n`)).toBe("too_large");
    expect(new LineSplitter().push(`${"a".repeat(LINE_MAX_BYTES)}\n`)).toEqual([
      "a".repeat(LINE_MAX_BYTES),
    ]);
  });
});
