/**
 * Picks the implementation of the scheduling syscalls: the native addon
 * when it loads (it is also what the BPF backend uses), ffi-rs otherwise.
 * The reason for the choice is always returned, never swallowed: `doctor`,
 * the daemon log and `/v1/status` print it (safety invariant 5, docs/safety.md).
 */
import { addonSyscalls, loadAddon } from "./addon.js";
import { createFfiSyscalls } from "./syscalls-ffi.js";
import type { Syscalls } from "./syscalls-types.js";

export interface LoadedSyscalls {
  syscalls: Syscalls;
  /** Why the addon is not used; undefined when it is. */
  reason?: string;
}

/** The addon's syscalls when available, else ffi-rs (with the reason). Throws when neither works. */
export function loadSyscalls(): LoadedSyscalls {
  const addon = loadAddon();
  if (addon.ok) return { syscalls: addonSyscalls(addon.addon) };
  try {
    return { syscalls: createFfiSyscalls(), reason: `${addon.reason}; using ffi-rs syscalls` };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(`no way to make scheduling syscalls: ${addon.reason}; ffi-rs: ${why}`);
  }
}
