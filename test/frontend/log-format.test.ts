/**
 * The daemon's log (pino): `--log-level` drops the less severe lines,
 * `--log-format json` writes one JSON object per line with the level as a
 * word and the structured fields, `text` one readable line per record.
 */
import { describe, expect, it } from "vitest";
import { createLog, type LogFormat, type LogLevel } from "../../src/frontend/log.js";

function capture(level: LogLevel, format: LogFormat) {
  const lines: string[] = [];
  const log = createLog({ level, format, write: (line) => lines.push(line) });
  return { log, lines };
}

describe("daemon log", () => {
  it("json: one object per line, level as a word, ISO time, fields kept", () => {
    const { log, lines } = capture("info", "json");
    log("control API on /tmp/x.sock");
    log("policy changed", "info", { policy_changes: { functions: 2, added: [] } });
    log("a warning", "warn");
    expect(lines).toHaveLength(3);
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.every((l) => l.endsWith("\n") && !l.slice(0, -1).includes("\n"))).toBe(true);
    expect(records[0]).toMatchObject({ level: "info", msg: "control API on /tmp/x.sock" });
    expect(String(records[0]?.time)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(records[1]).toMatchObject({ policy_changes: { functions: 2, added: [] } });
    expect(records[2]?.level).toBe("warn");
  });

  it("the level drops less severe lines", () => {
    const warn = capture("warn", "json");
    warn.log("detail", "debug");
    warn.log("said", "info");
    warn.log("kept", "warn");
    warn.log("kept too", "error");
    expect(warn.lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([
      "kept",
      "kept too",
    ]);
    const debug = capture("debug", "text");
    debug.log("detail", "debug");
    expect(debug.lines).toHaveLength(1);
  });

  it("text: time, level, message on one line", () => {
    const { log, lines } = capture("info", "text");
    log("mode alps (sensor bpf)", "info", { ignored_in_text: true });
    log("learner failed", "error");
    expect(lines[0]).toMatch(
      /^\d{4}-\d\d-\d\dT[\d:.]+Z info  alps daemon: mode alps \(sensor bpf\)\n$/,
    );
    expect(lines[1]).toMatch(/ error alps daemon: learner failed\n$/);
  });
});
