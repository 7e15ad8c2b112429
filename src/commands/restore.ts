/**
 * `alps restore [--state-dir D] [--force] [--json]`: by hand, what the
 * guardian does when the daemon dies: every task in the touched-task record
 * that is still the recorded task goes back as it was (its original policy
 * and nice; SCHED_OTHER nice 0 for a v1 record), and every recorded cpu
 * cgroup gets its original weight and idle flag back.
 */
import { statSync } from "node:fs";
import type { Command } from "commander";
import { type RestoreResult, restoreTasks } from "../backend/guardian/restore.js";
import { DEFAULT_STATE_DIR, touchedFilePath } from "../backend/guardian/touched.js";
import { UsageError } from "../errors.js";
import { createFfiSyscalls } from "../host/syscalls-ffi.js";

export interface RestoreCommandOptions {
  stateDir: string;
  force?: boolean;
  json?: boolean;
}

/**
 * The state directory must exist: a daemon creates it before it changes
 * anything, so a missing one is a wrong --state-dir (or a host alps never
 * ran on), never "nothing to restore". Saying "restored 0" there would let
 * an operator believe the tasks of a daemon whose record lives elsewhere
 * are back to normal.
 */
function checkStateDir(dir: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOENT")
      throw new UsageError(
        `--state-dir ${dir} does not exist: no alps daemon kept its touched-task record there (give the daemon's --state-dir, default ${DEFAULT_STATE_DIR}); nothing was restored`,
      );
    throw new UsageError(
      `--state-dir ${dir}: ${error instanceof Error ? error.message : String(error)}; nothing was restored`,
    );
  }
  if (!isDir) throw new UsageError(`--state-dir ${dir} is not a directory; nothing was restored`);
}

/** Runs the restore and returns what to print and the exit code. */
export function runRestore(opts: RestoreCommandOptions): {
  output: string;
  exitCode: number;
  result: RestoreResult;
} {
  checkStateDir(opts.stateDir);
  const file = touchedFilePath(opts.stateDir);
  const result = restoreTasks(file, createFfiSyscalls(), { force: opts.force === true });
  const c = result.cgroups;
  const exitCode = result.failed.length === 0 && c.failed.length === 0 ? 0 : 1;
  if (opts.json === true)
    return { output: `${JSON.stringify({ file, ...result })}\n`, exitCode, result };
  const lines = [
    `${file}: restored ${result.restored}, gone ${result.gone}, recycled tid (left alone) ${result.recycled}, failed ${result.failed.length}`,
    ...result.failed.map((f) => `  tid ${f.tid}: ${f.error} (kept in the record)`),
    ...(c.restored + c.gone + c.recycled + c.failed.length === 0
      ? []
      : [
          `cgroups: restored ${c.restored}, gone ${c.gone}, recycled (left alone) ${c.recycled}, failed ${c.failed.length}`,
          ...c.failed.map((f) => `  ${f.dir}: ${f.error} (kept in the record)`),
        ]),
  ];
  return { output: `${lines.join("\n")}\n`, exitCode, result };
}

export function registerRestore(program: Command): void {
  program
    .command("restore")
    .description(
      "put every task and cpu cgroup alps changed back as it was (after the daemon died)",
    )
    .option(
      "--state-dir <dir>",
      "where the daemon keeps its touched-task record",
      DEFAULT_STATE_DIR,
    )
    .option("--force", "restore even though the daemon that owns the record is still running")
    .option("--json", "print the result as JSON")
    .action((opts: RestoreCommandOptions) => {
      const { output, exitCode } = runRestore(opts);
      process.stdout.write(output);
      process.exitCode = exitCode;
    });
}
