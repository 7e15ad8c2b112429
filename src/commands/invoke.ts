/**
 * `alps invoke --function F [--socket S] [--json] -- CMD…`: run CMD as one
 * invocation of F under the running daemon.
 *
 * CMD must be registered before it executes its first instruction, so it is
 * started through a tiny shell shim that blocks reading fd 3; its pid is
 * registered through the control API; then one line on fd 3 lets the shim
 * `exec` CMD — same pid, so the registration (and any level the backend
 * gives it) covers CMD from its first instruction. CPU time comes from
 * getrusage(RUSAGE_CHILDREN) around the child (µs precision).
 */
import { spawn } from "node:child_process";
import type { Writable } from "node:stream";
import type { Command } from "commander";
import { UsageError } from "../errors.js";

const SHIM = 'read -r _ <&3; exec 3<&-; exec "$@"';

export function registerInvoke(program: Command): void {
  program
    .command("invoke")
    .description("run CMD as one invocation of a function under the running daemon")
    .requiredOption("--function <name>", "the function this invocation belongs to")
    .option(
      "--socket <path>",
      "control API socket",
      process.env.ALPS_SOCKET ?? "/run/alps/alps.sock",
    )
    .option("--json", "print {function, turnaround_ms, cpu_ms, exit_code}")
    .argument("<cmd...>", "the command (after --)")
    .action(async (cmd: string[], opts: { function: string; socket: string; json?: boolean }) => {
      const code = await runInvocation(opts.function, cmd, opts.socket, opts.json === true);
      process.exit(code);
    });
}

async function runInvocation(
  fn: string,
  cmd: string[],
  socket: string,
  json: boolean,
): Promise<number> {
  if (cmd.length === 0)
    throw new UsageError("invoke: no command given (alps invoke --function F -- CMD…)");
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
  const spawnError = new Promise<never>((_, reject) => child.once("error", reject));
  const pid = child.pid;
  if (pid === undefined) return Promise.race([spawnError, exited]).then(() => 127);
  const release = child.stdio[3] as Writable;

  let id: string;
  try {
    const res = await apiRequest(socket, "POST", "/v1/invocations", { function: fn, pid });
    const body = res.body as { id?: unknown };
    if (res.status !== 201 || typeof body.id !== "string")
      throw new Error(`daemon refused the invocation (${res.status}): ${apiErrorMessage(res)}`);
    id = body.id;
  } catch (error) {
    // The shim never ran CMD: stop it (it is our own child, by pid).
    process.kill(pid, "SIGKILL");
    await exited;
    throw error;
  }

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

  const end = await apiRequest(socket, "POST", `/v1/invocations/${id}/end`, {
    cpu_ms: cpuMs,
    exit_code: exitCode,
  });
  if (end.status !== 200)
    process.stderr.write(
      `alps invoke: ending invocation ${id} failed (${end.status}): ${apiErrorMessage(end)}\n`,
    );
  if (json)
    process.stdout.write(
      `${JSON.stringify({ function: fn, turnaround_ms: turnaroundMs, cpu_ms: cpuMs, exit_code: exitCode })}\n`,
    );
  return exitCode;
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGABRT: 6,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGTERM: 15,
  };
  return numbers[signal] ?? 0;
}
