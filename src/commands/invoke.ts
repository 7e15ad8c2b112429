/**
 * `alps invoke --function F [--socket S] [--json] [--fail-open] -- CMD…`:
 * run CMD as one invocation of F under the running daemon.
 *
 * CMD must be registered before it executes its first instruction, so it is
 * started through a tiny shell shim that blocks reading fd 3; its pid is
 * registered through the control API; then one line on fd 3 lets the shim
 * `exec` CMD — same pid, so the registration (and any level the backend
 * gives it) covers CMD from its first instruction. CPU time comes from
 * getrusage(RUSAGE_CHILDREN) around the child (µs precision).
 *
 * Exit status: CMD's own (128 + n when signal n ended it); alps invoke's own
 * failures use 125, and 126/127 when CMD cannot be executed or found, as
 * env(1) and `docker run` do (src/commands/exit-codes.ts).
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";
import type { Writable } from "node:stream";
import type { Command } from "commander";
import { CliError, DaemonUnreachableError, UsageError } from "../errors.js";
import { EXIT } from "./exit-codes.js";
import { socketOf, socketOption } from "./socket-option.js";

// `command -v` is a shell builtin: the not-found case gets a readable line and
// 127 without another process; exec then replaces the shell (126 when it cannot).
const SHIM =
  'read -r _ <&3; exec 3<&-; command -v "$1" >/dev/null 2>&1 || { printf "alps invoke: %s: command not found\\n" "$1" >&2; exit 127; }; exec "$@"';

const EXIT_HELP = `
Exit status:
  CMD's own status (128 + n when signal n ended it), so a script sees the function's result.
  ${EXIT.invokeFailed}  alps invoke itself failed: a bad flag, no daemon on the socket (without
       --fail-open), the daemon refused the invocation
  ${EXIT.cannotExecute}  CMD was found but could not be executed
  ${EXIT.notFound}  CMD was not found

--fail-open: when the daemon cannot be reached or refuses the invocation, CMD
still runs, unscheduled (as if alps were not there), and a line on stderr says
so; its status is CMD's own.`;

interface InvokeFlags {
  function: string;
  socket?: string;
  json?: boolean;
  failOpen?: boolean;
}

export function registerInvoke(program: Command): void {
  program
    .command("invoke")
    .description("run CMD as one invocation of a function under the running daemon")
    .requiredOption("--function <name>", "the function this invocation belongs to")
    .addOption(socketOption())
    .option("--json", "print {function, turnaround_ms, cpu_ms, exit_code, scheduled} on stdout")
    .option(
      "--fail-open",
      "run CMD unscheduled when the daemon is away or refuses (said on stderr)",
    )
    .argument("<cmd...>", "the command (after --)")
    .addHelpText("after", EXIT_HELP)
    .action(async (cmd: string[], opts: InvokeFlags) => {
      const code = await runInvocation(opts.function, cmd, {
        socket: socketOf(opts),
        json: opts.json === true,
        failOpen: opts.failOpen === true,
      });
      process.exit(code);
    });
}

interface Registration {
  id: string;
}

/** Register `pid` as an invocation of `fn`; why not, when the daemon is away or refuses. */
async function register(
  socket: string,
  fn: string,
  pid: number,
): Promise<Registration | { refused: CliError }> {
  const { apiRequest, apiErrorMessage } = await import("../frontend/api/client.js");
  try {
    const res = await apiRequest(socket, "POST", "/v1/invocations", { function: fn, pid });
    const body = res.body as { id?: unknown };
    if (res.status === 201 && typeof body.id === "string") return { id: body.id };
    return {
      refused: new CliError(
        `the daemon refused the invocation (${res.status}): ${apiErrorMessage(res)}`,
      ),
    };
  } catch (error) {
    if (error instanceof DaemonUnreachableError) return { refused: error };
    throw error;
  }
}

async function runInvocation(
  fn: string,
  cmd: string[],
  opts: { socket: string; json: boolean; failOpen: boolean },
): Promise<number> {
  if (cmd.length === 0) throw new UsageError("no command given (alps invoke --function F -- CMD…)");
  const [{ apiRequest, apiErrorMessage }, { childrenCpuMs }] = await Promise.all([
    import("../frontend/api/client.js"),
    import("../host/libc.js"),
  ]);
  const cpuBefore = childrenCpuMs();
  const t0 = performance.now();
  const child = spawn("sh", ["-c", SHIM, "sh", ...cmd], {
    stdio: ["inherit", "inherit", "inherit", "pipe"],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const spawnError = new Promise<never>((_, reject) =>
    child.once("error", (error) => reject(new CliError(`cannot start sh: ${error.message}`))),
  );
  const pid = child.pid;
  if (pid === undefined) return Promise.race([spawnError, exited]).then(() => EXIT.invokeFailed);
  const release = child.stdio[3] as Writable;

  let registration: Registration | { refused: CliError };
  try {
    registration = await register(opts.socket, fn, pid);
  } catch (error) {
    registration = { refused: error instanceof CliError ? error : new CliError(String(error)) };
  }
  if ("refused" in registration) {
    if (!opts.failOpen) {
      // The shim never ran CMD: stop it (it is our own child, by pid).
      process.kill(pid, "SIGKILL");
      await exited;
      throw registration.refused;
    }
    process.stderr.write(
      `alps invoke: ${registration.refused.message}; running the command unscheduled (--fail-open)\n`,
    );
  }
  const id = "id" in registration ? registration.id : undefined;

  const forward = (signal: NodeJS.Signals) => () => {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  };
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  release.end("go\n");
  const { code, signal } = await exited;
  process.off("SIGINT", onInt);
  process.off("SIGTERM", onTerm);
  const turnaroundMs = performance.now() - t0;
  const cpuMs = Math.max(0, childrenCpuMs() - cpuBefore);
  const exitCode = code ?? 128 + (signal !== null ? signalNumber(signal) : 0);

  if (id !== undefined) {
    // CMD has run: a failure to end the invocation is reported, and CMD's status still stands.
    try {
      const end = await apiRequest(opts.socket, "POST", `/v1/invocations/${id}/end`, {
        cpu_ms: cpuMs,
        exit_code: exitCode,
      });
      if (end.status !== 200)
        process.stderr.write(
          `alps invoke: ending invocation ${id} failed (${end.status}): ${apiErrorMessage(end)}\n`,
        );
    } catch (error) {
      process.stderr.write(
        `alps invoke: ending invocation ${id} failed: ${error instanceof Error ? error.message : String(error)}\n`,
      );
    }
  }
  if (opts.json)
    process.stdout.write(
      `${JSON.stringify({ function: fn, turnaround_ms: turnaroundMs, cpu_ms: cpuMs, exit_code: exitCode, scheduled: id !== undefined })}\n`,
    );
  return exitCode;
}

function signalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal] ?? 0;
}
