import type { Command } from "commander";

/** Adds one command; may load more (after looking at the arguments) before it returns. */
type Register = (program: Command) => void | Promise<void>;

/**
 * Every subcommand, loaded on demand: `alps simulate` must start fast, so a
 * run imports only the module of the command it names (zod, ffi-rs and the
 * daemon's modules cost ~0.2 s to load). --version loads none; help and
 * unknown commands load all.
 * Keep this a plain list: one line per command, no logic.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  daemon: async () => (await import("./daemon.js")).registerDaemon,
  doctor: async () => (await import("./doctor.js")).registerDoctor,
  invoke: async () => (await import("./invoke.js")).registerInvoke,
  policy: async () => (await import("./policy.js")).registerPolicy,
  replay: async () => (await import("./replay.js")).registerReplay,
  restore: async () => (await import("./restore.js")).registerRestore,
  simulate: async () => (await import("./simulate.js")).registerSimulate,
  trace: async () => (await import("./trace.js")).registerTrace,
};

export async function registerCommands(program: Command, argv: readonly string[]): Promise<void> {
  const named = argv[2];
  if (named === "--version" || named === "-V") return;
  const names =
    named !== undefined && Object.hasOwn(COMMANDS, named) ? [named] : Object.keys(COMMANDS);
  for (const name of names) {
    const load = COMMANDS[name];
    if (load !== undefined) await (await load())(program);
  }
}
