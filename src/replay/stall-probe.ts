/**
 * Whether the host stood still during a mode: one stall probe per CPU
 * (native/probes/stall-probe.c, built by the set-up into
 * native/build/stall-probe), pinned there at SCHED_FIFO 99, wakes every
 * STALL_PROBE_PERIOD_US and reports each wake-up later than
 * STALL_THRESHOLD_MS. Nothing outranks it, so such a delay is not a
 * scheduling decision of alps's or of CFS's: the hypervisor took the virtual
 * CPU away, or the kernel ran that long without letting it in. On
 * this project's VM hosts they see a stall of about 100 ms about once a
 * minute, in every mode (docs/results.md, "The host stands still"); every
 * invocation in flight during one counts it in its turnaround, so a replay
 * reports them beside its figures (summary.json `details.<run>.host_stalls`,
 * the CSV's `host_stall_ms`, a note for a long one).
 *
 * Safety: the probe is this replay's own process, at SCHED_FIFO with
 * SCHED_RESET_ON_FORK, never started while RT throttling is off; it sleeps
 * between wake-ups, ends when its standard input closes (the replay ended or
 * died) or past STALL_PROBE_MAX_CPU_PERCENT of a CPU (a runaway), and the
 * replay kills it by pid if it has not ended a second after being told to.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { rtThrottling } from "../backend/capabilities.js";
import { loadSyscalls } from "../host/syscalls.js";
import type { MeasuredInvocation } from "./types.js";

/** From src/replay (tests) and from dist/replay alike: repo/native/build/stall-probe. */
export const STALL_PROBE = fileURLToPath(
  new URL("../../native/build/stall-probe", import.meta.url),
);

/**
 * How often each probe wakes, µs: 50 wake-ups a second, about 0.1 % of a
 * CPU on this project's VM hosts (about 20 µs a wake-up there, timers
 * included; its start-up costs some 16 ms more). A stall is seen at most
 * one period short of its length.
 */
export const STALL_PROBE_PERIOD_US = 20_000;
/** A wake-up later than this is a stall, ms: well above the kernel's own wake-up latency for a FIFO task. */
export const STALL_THRESHOLD_MS = 20;
/** Each probe's CPU bound, % of the wall time it ran (plus 50 ms for its start-up): fifty times its use. */
export const STALL_PROBE_MAX_CPU_PERCENT = 5;
/** A stall this long gets a note beside the figures, ms. */
export const STALL_NOTE_MS = 250;

/** One late wake-up of one CPU's probe. Times on CLOCK_MONOTONIC, ms. */
export interface HostStall {
  cpu: number;
  /** When the probe woke. */
  atMonoMs: number;
  /** How late it woke: the CPU ran nothing for about this long before atMonoMs. */
  ms: number;
}

/** What the probes saw during one mode (summary.json `details.<mode>.host_stalls`). */
export interface HostStallReport {
  /** False when no probe ran: `why_not` says why, and nothing below was measured. */
  probed: boolean;
  why_not?: string;
  cpus: number[];
  threshold_ms: number;
  count: number;
  longest_ms: number;
  /** Time at least one CPU stood still (the stalls' union), ms. */
  total_ms: number;
  stalls: Array<{ cpu: number; at_mono_ms: number; ms: number }>;
}

/** A probe's output line: a stall (S), its end (E), or why it could not start or stopped (X). */
export type ProbeLine =
  | { kind: "stall"; stall: HostStall }
  | { kind: "end"; cpu: number; wakeups: number; cpuMs: number }
  | { kind: "refused"; reason: string };

function integerField(parts: string[], i: number, line: string): number {
  const text = parts[i] ?? "";
  const value = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(value))
    throw new Error(`stall-probe: field ${i} of '${line}' is not an integer`);
  return value;
}

export function parseProbeLine(line: string): ProbeLine {
  if (line.startsWith("X ")) return { kind: "refused", reason: line.slice(2) };
  const parts = line.trim().split(" ");
  if (parts[0] === "S" && parts.length === 4)
    return {
      kind: "stall",
      stall: {
        cpu: integerField(parts, 1, line),
        atMonoMs: integerField(parts, 2, line) / 1e6,
        ms: integerField(parts, 3, line) / 1e6,
      },
    };
  if (parts[0] === "E" && parts.length === 4)
    return {
      kind: "end",
      cpu: integerField(parts, 1, line),
      wakeups: integerField(parts, 2, line),
      cpuMs: integerField(parts, 3, line) / 1e6,
    };
  throw new Error(`stall-probe: unexpected line '${line.slice(0, 200)}'`);
}

/** The stalls as intervals [start, end] of CLOCK_MONOTONIC ms, merged where they overlap (CPUs together). */
export function stallIntervals(stalls: readonly HostStall[]): Array<[number, number]> {
  const spans = stalls
    .map((s): [number, number] => [s.atMonoMs - s.ms, s.atMonoMs])
    .sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const [from, to] of spans) {
    const last = merged.at(-1);
    if (last !== undefined && from <= last[1]) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  return merged;
}

/** How long the host stood still while [fromMonoMs, toMonoMs] ran, ms. */
export function stallOverlapMs(
  intervals: ReadonlyArray<readonly [number, number]>,
  fromMonoMs: number,
  toMonoMs: number,
): number {
  let sum = 0;
  for (const [from, to] of intervals)
    sum += Math.max(0, Math.min(to, toMonoMs) - Math.max(from, fromMonoMs));
  return sum;
}

/**
 * The host's stall during each invocation, from its arrival to its end
 * (undefined where the worker gave no CLOCK_MONOTONIC times).
 */
export function invocationStallMs(
  inv: MeasuredInvocation,
  intervals: ReadonlyArray<readonly [number, number]>,
): number | undefined {
  if (inv.startMonoMs === undefined || inv.endMonoMs === undefined) return undefined;
  return stallOverlapMs(intervals, inv.startMonoMs - inv.startMs, inv.endMonoMs);
}

export function stallReport(
  stalls: readonly HostStall[],
  cpus: number[],
  thresholdMs = STALL_THRESHOLD_MS,
): HostStallReport {
  const intervals = stallIntervals(stalls);
  return {
    probed: true,
    cpus,
    threshold_ms: thresholdMs,
    count: stalls.length,
    longest_ms: stalls.reduce((m, s) => Math.max(m, s.ms), 0),
    total_ms: intervals.reduce((sum, [from, to]) => sum + (to - from), 0),
    stalls: [...stalls]
      .sort((a, b) => a.atMonoMs - b.atMonoMs)
      .map((s) => ({ cpu: s.cpu, at_mono_ms: s.atMonoMs, ms: s.ms })),
  };
}

/** Each invocation's `hostStallMs`: how long the host stood still between its arrival and its end. */
export function markStalls(invocations: MeasuredInvocation[], report: HostStallReport): void {
  if (!report.probed) return;
  const intervals = stallIntervals(
    report.stalls.map((s) => ({ cpu: s.cpu, atMonoMs: s.at_mono_ms, ms: s.ms })),
  );
  for (const inv of invocations) {
    const stalled = invocationStallMs(inv, intervals);
    if (stalled !== undefined) inv.hostStallMs = stalled;
  }
}

/** The note beside a mode's figures: no probe ran, or the host stood still long enough to matter. */
export function hostStallNote(
  key: string,
  report: HostStallReport,
  invocations: readonly MeasuredInvocation[],
): string | undefined {
  if (!report.probed) return `${key}: no stall probe ran (${report.why_not ?? "unknown"})`;
  if (report.longest_ms < STALL_NOTE_MS) return undefined;
  const hit = invocations.filter((inv) => (inv.hostStallMs ?? 0) > 0).length;
  return (
    `${key}: the host stood still for up to ${Math.round(report.longest_ms)} ms ` +
    `(${report.count} stalls over ${STALL_THRESHOLD_MS} ms, ${Math.round(report.total_ms)} ms in all: ` +
    `a real-time probe on each CPU woke that late, which no scheduling decision causes); ` +
    `${hit} invocations were in flight then (host_stall_ms in ${key}.csv)`
  );
}

/** Why no probe can run here, or undefined when they can. */
export function stallProbeUnavailable(
  path = STALL_PROBE,
  throttling = rtThrottling,
): string | undefined {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    return `${path} is not built (npm run build compiles native/probes/stall-probe.c; it needs a C compiler)`;
  }
  if (throttling().disabled)
    return "RT throttling is off (sched_rt_runtime_us = -1): no real-time probe is started without it";
  return undefined;
}

export interface StallWatch {
  /** Ends every probe (by pid) and says what they saw. */
  stop(): Promise<HostStallReport>;
}

export interface StallWatchOptions {
  cpus?: number[];
  periodUs?: number;
  thresholdMs?: number;
  maxCpuPercent?: number;
  path?: string;
}

function notProbed(whyNot: string, cpus: number[], thresholdMs: number): HostStallReport {
  return {
    probed: false,
    why_not: whyNot,
    cpus,
    threshold_ms: thresholdMs,
    count: 0,
    longest_ms: 0,
    total_ms: 0,
    stalls: [],
  };
}

/** Starts one probe per CPU; never throws: a probe that cannot run makes the report say why. */
export function watchStalls(opts: StallWatchOptions = {}): StallWatch {
  const thresholdMs = opts.thresholdMs ?? STALL_THRESHOLD_MS;
  const path = opts.path ?? STALL_PROBE;
  let cpus: number[] = [];
  try {
    // The CPUs this process may run on: its workers' too.
    cpus = opts.cpus ?? loadSyscalls().syscalls.getAffinity(process.pid);
  } catch (err) {
    const report = notProbed((err as Error).message, cpus, thresholdMs);
    return { stop: async () => report };
  }
  const unavailable = stallProbeUnavailable(path);
  if (unavailable !== undefined) {
    const report = notProbed(unavailable, cpus, thresholdMs);
    return { stop: async () => report };
  }
  const stalls: HostStall[] = [];
  const problems: string[] = [];
  const children: ChildProcess[] = [];
  const exits: Array<Promise<void>> = [];
  let stopping = false;
  for (const cpu of cpus) {
    const child = spawn(
      path,
      [
        String(cpu),
        String(opts.periodUs ?? STALL_PROBE_PERIOD_US),
        String(thresholdMs),
        String(opts.maxCpuPercent ?? STALL_PROBE_MAX_CPU_PERCENT),
      ],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    children.push(child);
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-500);
    });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on("line", (line) => {
      try {
        const parsed = parseProbeLine(line);
        if (parsed.kind === "stall") stalls.push(parsed.stall);
        else if (parsed.kind === "refused") problems.push(`cpu ${cpu}: ${parsed.reason}`);
      } catch (err) {
        problems.push((err as Error).message);
      }
    });
    exits.push(
      new Promise<void>((resolve) => {
        child.on("error", (err) => {
          problems.push(`cpu ${cpu}: ${err.message}`);
          resolve();
        });
        // 'close': the exit and every line of its output are in.
        child.on("close", (code, signal) => {
          // 3 and 4 said why on their X line; any other end before stop() is
          // a part of the run no probe watched, and says so too.
          if (code !== 3 && code !== 4 && (!stopping || (code !== 0 && signal !== "SIGKILL")))
            problems.push(
              `cpu ${cpu}: stall-probe ended ${stopping ? "with" : "before the run did, with"} ${code ?? signal}${stderr ? `: ${stderr.trim()}` : ""}`,
            );
          resolve();
        });
      }),
    );
  }
  return {
    async stop() {
      // Closing its input ends a probe at its next wake-up; a probe that does
      // not end within a second is killed by pid.
      stopping = true;
      for (const child of children) child.stdin?.end();
      const killer = setTimeout(() => {
        for (const child of children)
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      }, 1000);
      await Promise.all(exits);
      clearTimeout(killer);
      if (problems.length > 0) return notProbed(problems.join("; "), cpus, thresholdMs);
      return stallReport(stalls, cpus, thresholdMs);
    },
  };
}
