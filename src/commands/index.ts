import type { Command } from "commander";
import { registerDaemon } from "./daemon.js";
import { registerDoctor } from "./doctor.js";
import { registerInvoke } from "./invoke.js";
import { registerPolicy } from "./policy.js";
import { registerReplay } from "./replay.js";
import { registerRestore } from "./restore.js";
import { registerSimulate } from "./simulate.js";
import { registerTrace } from "./trace.js";

/**
 * Every subcommand registers itself here, one line each.
 * Keep this file a plain list: no logic.
 */
export function registerCommands(program: Command): void {
  void program;
  registerDaemon(program);
  registerDoctor(program);
  registerInvoke(program);
  registerPolicy(program);
  registerReplay(program);
  registerRestore(program);
  registerSimulate(program);
  registerTrace(program);
}
