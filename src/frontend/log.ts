/**
 * The daemon's log: pino, with a level (`--log-level`) and two formats
 * (`--log-format`): `json`, pino's one object per line (level as a word,
 * ISO time), for collectors; `text`, one readable line per record for a
 * person at a terminal or journald. Both go to stderr synchronously: the
 * daemon logs little, and a line written before `process.exit` is not lost.
 *
 * Structured fields go into JSON only; a message must read alone.
 *
 * Modules take a `Log` function, not the logger, so a library caller (the
 * replay, tests) passes any function and the level stays optional.
 */
import { writeSync } from "node:fs";
import pino from "pino";

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = "text" | "json";

/** One log record: a message, its level (default info) and structured fields for JSON. */
export type Log = (message: string, level?: LogLevel, fields?: Record<string, unknown>) => void;

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where each finished line goes; default: stderr. */
  write?: (line: string) => void;
}

const writeStderr = (line: string): void => {
  writeSync(2, line);
};

/**
 * A pino JSON line as one text line: `<time> <level> alps daemon: <msg>`.
 * Structured fields are for JSON readers; the message says it all in text.
 */
export function textLine(json: string): string {
  const record = JSON.parse(json) as { time?: unknown; level?: unknown; msg?: unknown };
  return `${String(record.time)} ${String(record.level).padEnd(5)} alps daemon: ${String(record.msg)}\n`;
}

export function createLog(opts: LoggerOptions): Log {
  const write = opts.write ?? writeStderr;
  const sink = {
    write: opts.format === "json" ? write : (line: string) => write(textLine(line)),
  };
  const logger = pino(
    {
      level: opts.level,
      base: { name: "alps", pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    sink,
  );
  return (message, level = "info", fields) => {
    if (fields === undefined) logger[level](message);
    else logger[level](fields, message);
  };
}
