/**
 * What `alps daemon` checks before it touches the host: before the
 * touched-task record, the guardian, any BPF program or any priority. A
 * mistake in the configuration, the policy file or the flags must stop the
 * daemon while nothing has changed yet, with the file, line or flag named,
 * not after its threads went real-time and its programs were attached.
 * (The configuration itself, file, environment and flags, is validated by
 * loadConfig before this runs.)
 */
import { checkRtThrottling } from "../backend/capabilities.js";
import type { Policy } from "../contracts/policy.js";
import { checkSocketGroupReach } from "../frontend/api/socket-group.js";
import type { DaemonConfig } from "../frontend/config.js";
import type { Log } from "../frontend/log.js";
import {
  createPlatformAdapter,
  deprecatedPlatformSettings,
  platformOptionsOf,
} from "../frontend/platforms/index.js";
import type { PlatformAdapter } from "../frontend/platforms/types.js";
import { readPolicyFile } from "../frontend/policy-file.js";

export interface Preflight {
  /** The policy file's policy, read once here (undefined: the daemon learns). */
  policy: Policy | undefined;
  /** The platform adapter, built (its options checked), not started. */
  platform: PlatformAdapter | undefined;
}

/** Throws InputError/UsageError naming what is wrong; reads, never changes, the host. */
export function preflight(config: DaemonConfig, log: Log): Preflight {
  const policy = config.policyFile !== undefined ? readPolicyFile(config.policyFile) : undefined;
  // Invariant 4: never run anything on SCHED_FIFO on a host without RT throttling, unless told to.
  checkRtThrottling(config, config.allowUnthrottledRt);
  if (config.socketGroup !== undefined) {
    checkSocketGroupReach(config.socket, config.socketGroup);
    // The line socket has the same group: its directory must be reachable too.
    if (config.lineSocket !== undefined && config.lineSocket !== "none")
      checkSocketGroupReach(config.lineSocket, config.socketGroup);
  }
  if (config.platform !== undefined)
    for (const warning of deprecatedPlatformSettings(config)) log(`WARNING: ${warning}`, "warn");
  const platform =
    config.platform === undefined
      ? undefined
      : createPlatformAdapter(
          config.platform,
          platformOptionsOf(config, (error: unknown) =>
            log(`platform ${config.platform}: ${String(error)}`, "warn"),
          ),
        );
  return { policy, platform };
}
