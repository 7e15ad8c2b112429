/**
 * `alps replay`: run a trace on this host with real processes under each mode
 * and compare with the host without alps (mode none: CFS as it is). Ctrl-C
 * (SIGINT) aborts the mode running, and the replay still kills its workers,
 * removes its cgroups, stops its daemon and restores every task before
 * exiting.
 */
import { Command, Option } from "commander";
import { STRATEGIES, type Strategy } from "../contracts/levels.js";
import { UsageError } from "../errors.js";
import {
  DRIVERS,
  type Driver,
  REPLAY_MODES,
  type ReplayMode,
  SANDBOX_CGROUP_LAYOUTS,
  type SandboxCgroupLayout,
  WORKER_KINDS,
  type WorkerKind,
} from "../replay/types.js";

/** A comma list of known, distinct names. */
function parseList<T extends string>(flag: string, text: string, known: readonly T[]): T[] {
  const items = text
    .split(",")
    .map((m) => m.trim())
    .filter((m) => m !== "");
  for (const m of items) {
    if (flag === "--modes" && m === "cfs")
      throw new UsageError(
        "--modes: 'cfs' is ambiguous: 'none' is the host without alps (CFS as it is, the baseline), 'cfs-observed' the alps daemon in its observe-only cfs mode",
      );
    if (!(known as readonly string[]).includes(m))
      throw new UsageError(`${flag}: unknown value '${m}' (one of ${known.join(", ")})`);
  }
  if (items.length === 0) throw new UsageError(`${flag}: name at least one`);
  if (new Set(items).size !== items.length)
    throw new UsageError(`${flag}: a value is named twice in '${text}'`);
  return items as T[];
}

function positiveNumber(flag: string, integer: boolean) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
      throw new UsageError(
        `${flag}: expected a positive ${integer ? "integer" : "number"}, got '${text}'`,
      );
    }
    return n;
  };
}

function defaultOutDir(): string {
  return `./alps-replay-${new Date().toISOString().replace(/[:.]/g, "-")}`;
}

interface ReplayFlags {
  trace?: string;
  modes: string;
  driver: string;
  workers: WorkerKind;
  sandboxCgroups: SandboxCgroupLayout;
  socket?: string;
  daemonArgs?: string;
  strategy: Strategy;
  cores?: number;
  out?: string;
  json?: boolean;
  fallback?: boolean;
  timeLimitS?: number;
}

export function registerReplay(program: Command): void {
  program.addCommand(
    new Command("replay")
      .description(
        "replay a trace on this host with real processes under each mode and compare with the host without alps",
      )
      .option("--trace <file>", "native CSV trace (default: the bundled workloads/azure-like.csv)")
      .option(
        "--modes <list>",
        `comma-separated modes, run in turn (${REPLAY_MODES.join(", ")}; none = the host without alps, the baseline)`,
        "none,alps",
      )
      .option(
        "--driver <list>",
        "how the replay reaches alps: api (an alps daemon process, every invocation registered through the control API), sandbox (sandboxes declared, invocations inferred from bursts), inprocess (a shortcut: the daemon inside the dispatcher); several run each mode once per driver",
        "api",
      )
      .addOption(
        new Option(
          "--workers <kind>",
          "warm (a pool of Node workers per function) or fork (a fresh process per invocation, held until registered)",
        )
          .choices([...WORKER_KINDS])
          .default("warm"),
      )
      .addOption(
        new Option(
          "--sandbox-cgroups <layout>",
          "cpu (every sandbox a cpu cgroup of its own, as platforms do) or none (one cgroup v2 directory per function, no cpu controller)",
        )
          .choices([...SANDBOX_CGROUP_LAYOUTS])
          .default("cpu"),
      )
      .option(
        "--socket <path>",
        "drivers api and sandbox: use the alps daemon already running on this socket instead of starting one",
      )
      .option(
        "--daemon-args <flags>",
        "more flags for the alps daemon the replay starts, space-separated (e.g. '--idle-from-nice 20')",
      )
      .addOption(
        new Option("--strategy <s>", "how alps picks levels")
          .choices([...STRATEGIES])
          .default("dynamic"),
      )
      .option(
        "--cores <n>",
        "confine functions to this many cores",
        positiveNumber("--cores", true),
      )
      .option("--out <dir>", "output directory (default ./alps-replay-<time>/)")
      .option("--json", "print summary.json on stdout, no progress bar")
      .option("--fallback", "run sfs where alps cannot run here (no BPF), and say so")
      .option(
        "--time-limit-s <s>",
        "replay only invocations arriving in the first S seconds",
        positiveNumber("--time-limit-s", false),
      )
      .action(async (flags: ReplayFlags) => {
        const { replay, comparisonTable, DEFAULT_TRACE } = await import("../replay/index.js");
        const modes = parseList<ReplayMode>("--modes", flags.modes, REPLAY_MODES);
        const drivers = parseList<Driver>("--driver", flags.driver, DRIVERS);
        if (flags.socket !== undefined && drivers.includes("inprocess"))
          throw new UsageError("--socket: driver inprocess starts its own daemon in process");
        if (flags.socket !== undefined && modes.filter((m) => m !== "none").length > 1)
          throw new UsageError(
            "--socket: a running daemon has one mode; name none and that one mode in --modes",
          );
        const daemonArgs = (flags.daemonArgs ?? "").split(/\s+/).filter((a) => a !== "");
        const outDir = flags.out ?? defaultOutDir();
        const controller = new AbortController();
        let interrupted = false;
        const onSignal = (signal: NodeJS.Signals): void => {
          if (interrupted) return;
          interrupted = true;
          process.stderr.write(
            `\nalps replay: ${signal}: stopping, cleaning up workers and sandboxes\n`,
          );
          controller.abort(new Error(`interrupted by ${signal}`));
        };
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
        try {
          const result = await replay({
            tracePath: flags.trace ?? DEFAULT_TRACE,
            modes,
            drivers,
            workers: flags.workers,
            sandboxCgroups: flags.sandboxCgroups,
            ...(flags.socket === undefined ? {} : { socket: flags.socket }),
            ...(daemonArgs.length === 0 ? {} : { daemonArgs }),
            strategy: flags.strategy,
            cores: flags.cores,
            outDir,
            fallback: flags.fallback ?? false,
            timeLimitS: flags.timeLimitS,
            progress: !flags.json && process.stdout.isTTY === true,
            signal: controller.signal,
            log: (m) => process.stderr.write(`alps replay: ${m}\n`),
          });
          if (flags.json) {
            process.stdout.write(`${JSON.stringify(result.summary, null, 2)}\n`);
            return;
          }
          for (const [key, detail] of Object.entries(result.summary.details)) {
            const d = detail as { requested: string; mode: string; reasons: string[] };
            if (d.requested !== d.mode)
              process.stdout.write(
                `note: ${d.requested} could not run here, ${key} ran instead: ${d.reasons.join("; ")}\n`,
              );
          }
          for (const note of result.summary.notes) process.stdout.write(`note: ${note}\n`);
          process.stdout.write(
            `\n${comparisonTable(result.summary)}\n\noutputs in ${outDir} (report.html, summary.json, <mode>.csv)\n`,
          );
        } catch (error: unknown) {
          if (interrupted) {
            process.stderr.write(
              "alps replay: interrupted; workers, sandboxes and priorities cleaned up\n",
            );
            process.exitCode = 130;
            return;
          }
          throw error;
        } finally {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
        }
      }),
  );
}
