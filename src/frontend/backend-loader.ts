/**
 * The daemon command's links to two backend modules that other parts of the
 * project provide: mode selection (src/backend/select.ts) and the daemon's
 * own real-time priority (src/backend/self-priority.ts). They are loaded
 * lazily (the CLI starts faster, and `alps policy`/`invoke` never pay for
 * them) and checked against the signatures the daemon relies on; a missing
 * or different module is an error that says so, never a silent fallback.
 */

import type { Syscalls } from "../backend/syscalls-types.js";
import type { TouchedTasks } from "../backend/touched-types.js";
import type { Backend, Mode } from "../backend/types.js";
import type { Strategy } from "../contracts/levels.js";

export interface CreateBackendOptions {
  mode: "auto" | Mode;
  sensor?: "bpf" | "proc";
  strategy?: Strategy;
  noBpf?: boolean;
  touched?: TouchedTasks;
  log?: (message: string) => void;
}
export type CreateBackend = (
  opts: CreateBackendOptions,
) => Promise<{ backend: Backend; reasons: string[] }>;
export type RaiseToRealtime = (priority: number, syscalls?: Syscalls) => unknown;

async function importFunction(spec: string, name: string): Promise<unknown> {
  let mod: unknown;
  try {
    mod = await import(spec);
  } catch (error) {
    throw new Error(
      `cannot load ${spec}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const fn = (mod as Record<string, unknown>)[name];
  if (typeof fn !== "function") throw new Error(`${spec} does not export a function ${name}`);
  return fn;
}

export async function loadCreateBackend(): Promise<CreateBackend> {
  return (await importFunction("../backend/select.js", "createBackend")) as CreateBackend;
}

export async function loadRaiseToRealtime(): Promise<RaiseToRealtime> {
  return (await importFunction(
    "../backend/self-priority.js",
    "raiseToRealtime",
  )) as RaiseToRealtime;
}
