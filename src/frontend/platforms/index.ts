/**
 * Platform adapters: how the daemon finds a FaaS platform's sandboxes.
 * `alps daemon --platform openlambda|openwhisk|cgroup-pattern` builds one
 * with createPlatformAdapter and, on each event, calls
 * backend.addSandbox(e.fn, e.cgroupPath) / backend.removeSandbox(e.cgroupPath)
 * (an "add" for a declared cgroup re-keys it); every invocation a platform
 * hook registers is passed to adapter.noteInvocation.
 */
import { UsageError } from "../../errors.js";
import type { PlatformConfig } from "../config.js";
import { CgroupPatternAdapter } from "./cgroup-pattern.js";
import { OpenLambdaAdapter } from "./openlambda.js";
import { OpenWhiskAdapter } from "./openwhisk.js";
import type { AdapterErrorListener, PlatformAdapter, PlatformKind } from "./types.js";
import { PLATFORM_KINDS } from "./types.js";

export { CgroupPatternAdapter } from "./cgroup-pattern.js";
export { OpenLambdaAdapter } from "./openlambda.js";
export { OpenWhiskAdapter } from "./openwhisk.js";
export { parseInvokerContainerName } from "./openwhisk-names.js";
export { parseCgroupPattern } from "./pattern.js";
export type {
  AdapterErrorListener,
  PlatformAdapter,
  PlatformKind,
  PlatformScan,
  PlatformSource,
  RefusedSandbox,
  SandboxEvent,
  SandboxInfo,
} from "./types.js";
export { PLATFORM_KINDS } from "./types.js";

/** Everything any adapter may be configured with (CLI flags map 1:1). */
export interface PlatformOptions {
  /** cgroup-pattern: `--pattern`. */
  pattern?: string;
  /** openlambda: `--ol-path` (the `ol` directory). */
  olPath?: string;
  /** openlambda: `--cgroup-root` (overrides the one derived from olPath). */
  cgroupRoot?: string;
  /** openwhisk: `--docker-socket` (default /var/run/docker.sock). */
  dockerSocket?: string;
  /** Rescan period for the cgroup-walking adapters (default 200 ms). */
  pollMs?: number;
  onError?: AdapterErrorListener;
}

export function isPlatformKind(s: string): s is PlatformKind {
  return (PLATFORM_KINDS as readonly string[]).includes(s);
}

/** The adapter options a daemon config (or `alps doctor`'s same flags) names. */
export function platformOptionsOf(
  config: Omit<PlatformConfig, "platform">,
  onError?: AdapterErrorListener,
): PlatformOptions {
  return {
    ...(config.pattern !== undefined ? { pattern: config.pattern } : {}),
    ...(config.olPath !== undefined ? { olPath: config.olPath } : {}),
    ...(config.cgroupRoot !== undefined ? { cgroupRoot: config.cgroupRoot } : {}),
    ...(config.dockerSocket !== undefined ? { dockerSocket: config.dockerSocket } : {}),
    ...(onError !== undefined ? { onError } : {}),
  };
}

/**
 * Warnings for platform settings that are accepted but do nothing any more,
 * for the daemon's log and doctor's output.
 */
export function deprecatedPlatformSettings(config: Omit<PlatformConfig, "platform">): string[] {
  const warnings: string[] = [];
  if (config.namespaces !== undefined) {
    warnings.push(
      "--namespaces (config key namespaces, ALPS_NAMESPACES) is deprecated and ignored: " +
        "an OpenWhisk container's function key is its name's whole remainder after <prefix>_<seq>_, never split",
    );
  }
  return warnings;
}

export function createPlatformAdapter(kind: string, opts: PlatformOptions = {}): PlatformAdapter {
  const common = {
    ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
    ...(opts.onError !== undefined ? { onError: opts.onError } : {}),
  };
  switch (kind) {
    case "cgroup-pattern":
      if (opts.pattern === undefined)
        throw new UsageError(
          "--platform cgroup-pattern needs --pattern (e.g. /sys/fs/cgroup/kubepods.slice/*/{function}/*)",
        );
      return new CgroupPatternAdapter({ pattern: opts.pattern, ...common });
    case "openlambda":
      if (opts.olPath === undefined && opts.cgroupRoot === undefined) {
        throw new UsageError(
          "--platform openlambda needs --ol-path (the OpenLambda directory) or --cgroup-root",
        );
      }
      return new OpenLambdaAdapter({
        ...(opts.olPath !== undefined ? { olPath: opts.olPath } : {}),
        ...(opts.cgroupRoot !== undefined ? { cgroupRoot: opts.cgroupRoot } : {}),
        ...common,
      });
    case "openwhisk":
      return new OpenWhiskAdapter({
        ...(opts.dockerSocket !== undefined ? { dockerSocket: opts.dockerSocket } : {}),
        ...(opts.onError !== undefined ? { onError: opts.onError } : {}),
      });
    default:
      throw new UsageError(
        `--platform must be one of ${PLATFORM_KINDS.join(", ")}, got ${JSON.stringify(kind)}`,
      );
  }
}
