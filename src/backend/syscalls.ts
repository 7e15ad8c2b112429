/**
 * Picks the implementation of the scheduling syscalls: the native addon
 * when it loads (it is also what the BPF backend uses), ffi-rs otherwise.
 * The reason for the choice is always returned, never swallowed: `doctor`,
 * the daemon log and `/v1/status` print it (DESIGN §6, invariant 5).
 */
import { createFfiSyscalls } from "./syscalls-ffi.js";
import type { Syscalls } from "./syscalls-types.js";

export interface LoadedSyscalls {
  syscalls: Syscalls;
  /** Why the addon is not used; undefined when it is. */
  reason?: string;
}

/** What alps needs of src/backend/addon.ts (helper C's wrapper of the native addon). */
interface AddonModule {
  addonSyscalls?: () => Syscalls;
}

/** Resolved at run time so this module builds and works while the addon wrapper is absent. */
const ADDON_MODULE = "./addon.js";

/** Why the addon cannot be used, or undefined with its syscalls. */
export async function loadAddonSyscalls(): Promise<{ syscalls?: Syscalls; reason?: string }> {
  if (process.env.ALPS_NO_ADDON === "1")
    return { reason: "native addon hidden by ALPS_NO_ADDON=1" };
  let mod: AddonModule;
  try {
    mod = (await import(ADDON_MODULE)) as AddonModule;
  } catch (error) {
    return { reason: `native addon wrapper not loadable: ${describe(error)}` };
  }
  if (typeof mod.addonSyscalls !== "function")
    return { reason: "native addon wrapper has no addonSyscalls()" };
  try {
    return { syscalls: mod.addonSyscalls() };
  } catch (error) {
    return { reason: `native addon unavailable: ${describe(error)}` };
  }
}

/** The addon's syscalls when available, else ffi-rs (with the reason). Throws when neither works. */
export async function loadSyscalls(): Promise<LoadedSyscalls> {
  const addon = await loadAddonSyscalls();
  if (addon.syscalls !== undefined) return { syscalls: addon.syscalls };
  try {
    return {
      syscalls: createFfiSyscalls(),
      reason: `${addon.reason ?? "addon unavailable"}; using ffi-rs syscalls`,
    };
  } catch (error) {
    throw new Error(
      `no way to make scheduling syscalls: ${addon.reason}; ffi-rs: ${describe(error)}`,
    );
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
