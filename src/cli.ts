#!/usr/bin/env node
/**
 * The `alps` command. Thin on purpose: each subcommand lives in
 * src/commands/<name>.ts and calls one module.
 */
import { Command } from "commander";
import { registerCommands } from "./commands/index.js";
import { InputError, UsageError } from "./errors.js";
import { ALPS_VERSION } from "./version.js";

const program = new Command()
  .name("alps")
  .description("Kernel-assisted SRPT-like CPU scheduling for FaaS worker hosts")
  .version(ALPS_VERSION)
  .showHelpAfterError();

await registerCommands(program, process.argv);

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof InputError || error instanceof UsageError) {
    process.stderr.write(`alps: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(
    `alps: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
