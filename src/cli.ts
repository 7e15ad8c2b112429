#!/usr/bin/env node
/**
 * The `alps` command. Thin on purpose: each subcommand lives in
 * src/commands/<name>.ts and calls one module. Every error ends here as one
 * line on stderr and an exit status from src/commands/exit-codes.ts; the
 * stack of an unexpected error is shown only with ALPS_DEBUG=1.
 */
import { Command, CommanderError } from "commander";
import { EXIT } from "./commands/exit-codes.js";
import { registerCommands } from "./commands/index.js";
import { CliError, InputError, UsageError } from "./errors.js";
import { ALPS_VERSION } from "./version.js";

const program = new Command()
  .name("alps")
  .description("Kernel-assisted SRPT-like CPU scheduling for FaaS worker hosts")
  .version(ALPS_VERSION)
  .showHelpAfterError("(add --help for the options)");

await registerCommands(program, process.argv);

// Commander's own usage errors (unknown option, missing argument) are thrown
// here rather than exiting with its status 1, so they get ours.
const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
for (const c of all(program)) c.exitOverride();

// `alps invoke` keeps the statuses below 125 for the command it runs.
const invoking = process.argv[2] === "invoke";
const usage = invoking ? EXIT.invokeFailed : EXIT.usage;
const failure = invoking ? EXIT.invokeFailed : EXIT.failure;

// Messages name the subcommand whose action failed: "alps policy: …".
let running = invoking ? "alps invoke" : "alps";
program.hook("preAction", (_program, action) => {
  const names: string[] = [];
  for (let c: Command | null = action; c !== null && c !== program; c = c.parent)
    names.unshift(c.name());
  running = ["alps", ...names].join(" ");
});

function say(message: string): void {
  process.stderr.write(`${running}: ${message}\n`);
}

function exitCodeOf(error: unknown): number {
  // Commander has printed its message (and help or version, which exit 0).
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : usage;
  if (error instanceof InputError || error instanceof UsageError) {
    say(error.message);
    return usage;
  }
  if (error instanceof CliError) {
    say(error.message);
    return invoking ? EXIT.invokeFailed : error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  say(message);
  if (process.env.ALPS_DEBUG === "1" && error instanceof Error && error.stack !== undefined)
    process.stderr.write(`${error.stack}\n`);
  return failure;
}

// Node ends with status 0 once nothing holds its event loop, even while an
// action still awaits something: the daemon's start-up did so, silently.
// An action that has not finished when the loop empties is a failure.
let finished = false;
process.on("beforeExit", () => {
  if (finished) return;
  say("ended before its work was done: nothing was left to wait for (a bug in alps)");
  process.exit(failure);
});

program.parseAsync(process.argv).then(
  () => {
    finished = true;
  },
  (error: unknown) => {
    finished = true;
    process.exit(exitCodeOf(error));
  },
);
