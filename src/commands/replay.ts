/**
 * `alps replay`: run a trace on this host with real processes under each mode
 * and compare with CFS. Ctrl-C (SIGINT) aborts the mode running, and the
 * replay still kills its workers, removes its cgroups and restores every task
 * before exiting.
 */
import { Command, Option } from "commander";
import { MODES, type Mode } from "../backend/types.js";
import { STRATEGIES, type Strategy } from "../contracts/levels.js";
import { choiceFlag, choiceListFlag, numberFlag } from "./flag-values.js";

const parseModes = (text: string): Mode[] => choiceListFlag("--modes", text, MODES);

function positiveNumber(flag: string, integer: boolean) {
  return (text: string): number => numberFlag(flag, text, { integer, above: 0 });
}

function defaultOutDir(): string {
  return `./alps-replay-${new Date().toISOString().replace(/[:.]/g, "-")}`;
}

interface ReplayFlags {
  trace?: string;
  modes: string;
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
        "replay a trace on this host with real processes under each mode and compare with CFS",
      )
      .option("--trace <file>", "native CSV trace (default: the bundled workloads/azure-like.csv)")
      .option("--modes <list>", "comma-separated modes, run in turn", "cfs,alps")
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
