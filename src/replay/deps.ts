/**
 * What the replay takes from the rest of alps, loaded by name when a replay
 * starts. Each is described here by the part of its signature the replay uses,
 * so the replay compiles and its pure parts test on their own; a missing module
 * is an error naming the module and who provides it, never a silent fallback.
 */

import type { Syscalls } from "../host/syscalls-types.js";
import type { Backend, Mode } from "../backend/types.js";
import type { LevelCurve, Strategy } from "../contracts/levels.js";
import type { Policy } from "../contracts/policy.js";
import type { FinishedInvocation, Summary } from "../contracts/summary.js";
import type { TraceInvocation } from "../contracts/trace.js";

/** src/sim/index.ts (the simulator). */
export interface SimModule {
  simulate(
    trace: readonly TraceInvocation[],
    opts: {
      policy: string;
      cores: number;
      alps?: { policy: Policy; strategy?: Strategy; curve?: LevelCurve };
    },
  ): { summary: Summary };
  summarize(
    finished: readonly FinishedInvocation[],
    opts: { cores: number; label: { policy?: string; mode?: string }; contextSwitches?: number },
  ): Summary;
}

/** src/trace/native.ts (the native CSV reader). */
export interface TraceModule {
  readTraceFile(path: string, opts?: { skipBad?: boolean }): TraceInvocation[];
}

/** src/backend/cgroups.ts (cgroup v2 sandboxes). */
export interface CgroupsModule {
  createCgroup(relPath: string): string;
  moveToCgroup(absPath: string, pid: number): void;
  removeCgroup(absPath: string): void;
}

/** src/backend/select.ts (one backend per mode). */
export interface SelectModule {
  createBackend(opts: {
    mode: Mode;
    strategy?: Strategy;
    noBpf?: boolean;
    log?: (message: string) => void;
  }): Promise<{ backend: Backend; reasons: string[] }>;
}

/** src/backend/syscalls.ts (the addon's syscalls or ffi-rs). */
export interface SyscallsModule {
  loadSyscalls(): Promise<{ syscalls: Syscalls; reason?: string }>;
}

/** The part of src/frontend/daemon.ts the replay drives. */
export interface DaemonLike {
  start(): void;
  stop(): void;
  addSandbox(fn: string, cgroupDir: string): Promise<void>;
  removeSandbox(cgroupDir: string): Promise<void>;
  /** Returns the invocation's id. */
  startInvocation(fn: string, pid: number): string;
  endInvocation(id: string, report?: { cpuMs?: number }): unknown;
  policy(): Policy;
}
export interface DaemonModule {
  Daemon: new (opts: {
    backend: Backend;
    cores?: number;
    log?: (message: string) => void;
  }) => DaemonLike;
}

/** A module's location (relative to this file), who writes it, and its exports the replay needs. */
const MODULES = {
  sim: {
    spec: "../sim/index.js",
    owner: "the simulator (src/sim)",
    needs: ["simulate", "summarize"],
  },
  trace: {
    spec: "../trace/native.js",
    owner: "the trace reader (src/trace)",
    needs: ["readTraceFile"],
  },
  cgroups: {
    spec: "../backend/cgroups.js",
    owner: "the cgroup helpers (src/backend/cgroups.ts)",
    needs: ["createCgroup", "moveToCgroup", "removeCgroup"],
  },
  select: {
    spec: "../backend/select.js",
    owner: "backend selection (src/backend/select.ts)",
    needs: ["createBackend"],
  },
  syscalls: {
    spec: "../backend/syscalls.js",
    owner: "the syscalls loader (src/backend/syscalls.ts)",
    needs: ["loadSyscalls"],
  },
  daemon: {
    spec: "../frontend/daemon.js",
    owner: "the daemon (src/frontend/daemon.ts)",
    needs: ["Daemon"],
  },
} as const;

type ModuleName = keyof typeof MODULES;
interface ModuleTypes {
  sim: SimModule;
  trace: TraceModule;
  cgroups: CgroupsModule;
  select: SelectModule;
  syscalls: SyscallsModule;
  daemon: DaemonModule;
}

export class MissingDependencyError extends Error {
  override readonly name = "MissingDependencyError";
}

/** Load one of alps's modules, checking that the exports the replay calls are there. */
export async function loadModule<K extends ModuleName>(name: K): Promise<ModuleTypes[K]> {
  const { spec, owner, needs } = MODULES[name];
  let loaded: Record<string, unknown>;
  try {
    // A variable specifier: resolved at run time, so this file compiles before the module exists.
    const specifier: string = spec;
    loaded = (await import(specifier)) as Record<string, unknown>;
  } catch (error: unknown) {
    const why = error instanceof Error ? error.message : String(error);
    throw new MissingDependencyError(
      `replay needs ${owner} (${spec}), which could not be loaded: ${why}`,
    );
  }
  for (const exported of needs) {
    if (typeof loaded[exported] !== "function") {
      throw new MissingDependencyError(
        `replay needs ${owner} (${spec}) to export '${exported}', and it does not`,
      );
    }
  }
  return loaded as unknown as ModuleTypes[K];
}
