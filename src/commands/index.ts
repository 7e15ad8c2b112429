import type { Command } from "commander";
import { registerReplay } from "./replay.js";
import { registerRestore } from "./restore.js";

/**
 * Every subcommand registers itself here, one line each.
 * Keep this file a plain list: no logic.
 */
export function registerCommands(program: Command): void {
  void program;
  registerReplay(program);
  registerRestore(program);
}
