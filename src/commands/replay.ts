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
  API_PROTOCOLS,
  type ApiProtocol,
  DRIVERS,
  type Driver,
  REGISTRATIONS,
  type Registration,
  REPLAY_MODES,
  type ReplayMode,
  SANDBOX_CGROUP_LAYOUTS,
  type SandboxCgroupLayout,
  WORKER_KINDS,
  type WorkerKind,
} from "../replay/types.js";
import { badFlag, choiceFlag, choiceListFlag, numberFlag } from "./flag-values.js";

function parseModes(text: string): ReplayMode[] {
  if (text.split(",").some((m) => m.trim() === "cfs"))
    throw badFlag(
      "--modes",
      `a list of ${REPLAY_MODES.join(", ")}; 'cfs' is ambiguous: 'none' is the host without alps (CFS as it is, the baseline), 'cfs-observed' the alps daemon in its observe-only cfs mode`,
      text,
    );
  return choiceListFlag("--modes", text, REPLAY_MODES);
}

function positiveNumber(flag: string, integer: boolean) {
  return (text: string): number => numberFlag(flag, text, { integer, above: 0 });
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
  apiProtocol: ApiProtocol;
  registration?: Registration;
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
          .argParser((text) => choiceFlag("--workers", text, WORKER_KINDS))
          .default("warm"),
      )
      .addOption(
        new Option(
          "--sandbox-cgroups <layout>",
          "cpu (every sandbox a cpu cgroup of its own, as platforms do) or none (one cgroup v2 directory per function, no cpu controller)",
        )
          .argParser((text) => choiceFlag("--sandbox-cgroups", text, SANDBOX_CGROUP_LAYOUTS))
          .default("cpu"),
      )
      .option(
        "--socket <path>",
        "drivers api and sandbox: use the alps daemon already running on this socket instead of starting one",
      )
      .addOption(
        new Option(
          "--api-protocol <p>",
          "driver api: start and end each invocation over the control API's line protocol (line, a platform's hot loop) or its HTTP routes (http)",
        )
          .argParser((text) => choiceFlag("--api-protocol", text, API_PROTOCOLS))
          .default("line"),
      )
      .addOption(
        new Option(
          "--registration <when>",
          "driver api: when an invocation starts against its registration. await (default for fork workers): once the daemon answered; concurrent (warm workers, their default): at once, the registration on its way, its level lands when the daemon has it; resume (fork workers): the stopped process is continued by the daemon once it has answered",
        ).argParser((text) => choiceFlag("--registration", text, REGISTRATIONS)),
      )
      .option(
        "--daemon-args <flags>",
        "more flags for the alps daemon the replay starts, space-separated (e.g. '--idle-from-nice 20')",
      )
      .addOption(
        new Option("--strategy <s>", `how alps picks levels: ${STRATEGIES.join(", ")}`)
          .argParser((text) => choiceFlag("--strategy", text, STRATEGIES))
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
        const modes = parseModes(flags.modes);
        const drivers = choiceListFlag<Driver>("--driver", flags.driver, DRIVERS);
        if (flags.socket !== undefined && drivers.includes("inprocess"))
          throw new UsageError("flag --socket: driver inprocess starts its own daemon in process");
        if (flags.socket !== undefined && modes.filter((m) => m !== "none").length > 1)
          throw new UsageError(
            "flag --socket: a running daemon has one mode; name none and that one mode in --modes",
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
            apiProtocol: flags.apiProtocol,
            ...(flags.registration === undefined ? {} : { registration: flags.registration }),
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
            `\n${comparisonTable(result.summary)}\n\noutputs in ${outDir} (report.html, summary.json, <run>.csv)\n`,
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
