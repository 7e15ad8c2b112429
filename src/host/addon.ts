/**
 * The only module that touches the untyped native addon. It finds the built
 * `.node` file, tells why when there is none (native/build/status.json
 * written by scripts/build-native.sh), and wraps it in the typed
 * AlpsAddon interface of addon-types.ts.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { AlpsAddon, BpfHandle } from "./addon-types.js";
import type { Syscalls } from "./syscalls-types.js";

export type AddonResult = { ok: true; addon: AlpsAddon } | { ok: false; reason: string };

/** The package root: src/host/ or dist/host/ is two levels down. */
export function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
}

export function nativeBuildDir(): string {
  return join(packageRoot(), "native", "build");
}

/** Path of the compiled BPF object. */
export function bpfObjectPath(): string {
  return join(nativeBuildDir(), "alps.bpf.o");
}

/** Why the build script said the addon is missing, if it said so. */
function buildStatusReason(): string | undefined {
  const statusPath = join(nativeBuildDir(), "status.json");
  if (!existsSync(statusPath)) return undefined;
  try {
    const status = JSON.parse(readFileSync(statusPath, "utf8")) as {
      ok?: unknown;
      reason?: unknown;
    };
    if (status.ok === false && typeof status.reason === "string") return status.reason;
  } catch {
    return `${statusPath} is not valid JSON`;
  }
  return undefined;
}

let cached: AddonResult | undefined;

/** Loads the addon once. `ALPS_NO_ADDON=1` pretends it is absent. */
export function loadAddon(): AddonResult {
  if (process.env.ALPS_NO_ADDON === "1")
    return { ok: false, reason: "native addon disabled by ALPS_NO_ADDON=1" };
  if (cached) return cached;
  const nodeFile = join(nativeBuildDir(), "Release", "alps_native.node");
  if (!existsSync(nodeFile)) {
    const why = buildStatusReason() ?? "scripts/build-native.sh has not been run";
    cached = { ok: false, reason: `native addon not built (${nodeFile} missing): ${why}` };
    return cached;
  }
  try {
    const raw: any = createRequire(import.meta.url)(nodeFile);
    cached = { ok: true, addon: wrap(raw) };
  } catch (err) {
    cached = {
      ok: false,
      reason: `native addon at ${nodeFile} failed to load: ${(err as Error).message}`,
    };
  }
  return cached;
}

function wrap(raw: any): AlpsAddon {
  return {
    structLayout: () => raw.structLayout(),
    openBpf: (objectPath: string): BpfHandle => new raw.BpfHandle(objectPath),
    setNice: (tid, nice) => raw.setNice(tid, nice),
    getNice: (tid) => raw.getNice(tid),
    setAttr: (tid, attr) => raw.setAttr(tid, attr),
    getAttr: (tid) => raw.getAttr(tid),
    setAffinity: (tid, cpus) => raw.setAffinity(tid, [...cpus]),
    getAffinity: (tid) => raw.getAffinity(tid),
    monotonicNs: () => raw.monotonicNs(),
  };
}

/** The addon as the Syscalls interface the actuator and SFS policy use. */
export function addonSyscalls(addon: AlpsAddon): Syscalls {
  return {
    kind: "addon",
    setNice: (tid, nice) => addon.setNice(tid, nice),
    getNice: (tid) => addon.getNice(tid),
    setAttr: (tid, attr) => addon.setAttr(tid, attr),
    getAttr: (tid) => addon.getAttr(tid),
    setAffinity: (tid, cpus) => addon.setAffinity(tid, cpus),
    getAffinity: (tid) => addon.getAffinity(tid),
  };
}
