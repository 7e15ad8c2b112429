/**
 * Least privilege and RT throttling (issue 8; safety invariant 4, docs/safety.md).
 *
 * - Which Linux capabilities this process holds (CapEff of
 *   /proc/self/status) and which a mode needs, so `alps doctor` can list
 *   what is missing and the daemon can run as a non-root user with only
 *   those.
 * - The kernel's RT throttling (/proc/sys/kernel/sched_rt_runtime_us):
 *   read only. alps NEVER writes it; -1 (disabled) is a warning, and the
 *   daemon refuses to start on such a host when anything of it would run on
 *   SCHED_FIFO, unless explicitly allowed.
 */
import { readFileSync } from "node:fs";
import { release } from "node:os";
import { UsageError } from "../errors.js";
import type { Mode } from "./types.js";

/** Capability numbers of include/uapi/linux/capability.h, index = bit. */
export const CAPABILITY_NAMES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

/** Names of the bits set in a capability mask (hex as in /proc/<pid>/status). Unknown bits are `CAP_<n>`. */
export function capabilityNames(hexMask: string): string[] {
  if (!/^[0-9a-fA-F]{1,16}$/.test(hexMask)) throw new Error(`not a capability mask: '${hexMask}'`);
  const mask = BigInt(`0x${hexMask}`);
  const names: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    if ((mask >> BigInt(bit)) & 1n) names.push(CAPABILITY_NAMES[bit] ?? `CAP_${bit}`);
  }
  return names;
}

/** Effective capabilities of a process (default: this one), from the CapEff line of its status file. */
export function effectiveCapabilities(
  statusText: string = readFileSync("/proc/self/status", "utf8"),
): Set<string> {
  const match = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(statusText);
  if (match?.[1] === undefined) throw new Error("no CapEff line in the process status");
  return new Set(capabilityNames(match[1]));
}

/** One capability a mode needs, and why (doctor prints the reason). */
export interface CapabilityNeed {
  cap: string;
  why: string;
  /** Needed only in some set-ups (said in `why`); missing it is a warning, not a failure. */
  optional?: boolean;
}

/** Kernel release "6.1.0-..." → [6, 1]. */
function kernelVersion(rel: string): [number, number] {
  const match = /^(\d+)\.(\d+)/.exec(rel);
  return match === null ? [0, 0] : [Number(match[1]), Number(match[2])];
}

/**
 * What the daemon needs in `mode`. Before Linux 5.8 there is no CAP_BPF /
 * CAP_PERFMON and loading tracing programs needs CAP_SYS_ADMIN.
 */
export function neededCapabilities(
  mode: Mode,
  kernelRelease: string = release(),
): CapabilityNeed[] {
  const nice: CapabilityNeed = {
    cap: "CAP_SYS_NICE",
    why: "set nice levels and SCHED_FIFO on function tasks of other users, and the daemon's own real-time priority",
  };
  const cgroups: CapabilityNeed = {
    cap: "CAP_DAC_OVERRIDE",
    why: "write root-owned cgroup files; not needed when the cgroup subtree is delegated to the daemon's user",
    optional: true,
  };
  if (mode === "cfs") return [];
  if (mode === "sfs") return [nice, cgroups];
  const [major, minor] = kernelVersion(kernelRelease);
  const bpf: CapabilityNeed[] =
    major > 5 || (major === 5 && minor >= 8)
      ? [
          { cap: "CAP_BPF", why: "create BPF maps and load the tp_btf programs" },
          { cap: "CAP_PERFMON", why: "attach tracing programs to scheduler tracepoints" },
        ]
      : [
          {
            cap: "CAP_SYS_ADMIN",
            why: "load and attach BPF programs (kernel < 5.8 has no CAP_BPF)",
          },
        ];
  return [...bpf, nice, cgroups];
}

/** The needs in `needed` that `have` lacks (default: this process's effective set). */
export function missingCapabilities(
  needed: readonly CapabilityNeed[],
  have: ReadonlySet<string> = effectiveCapabilities(),
): CapabilityNeed[] {
  return needed.filter((need) => !have.has(need.cap));
}

/** The state of RT throttling on this host. */
export interface RtThrottling {
  /** sched_rt_runtime_us: RT tasks may run this long per period; -1 = unlimited. */
  runtimeUs: number;
  periodUs: number;
  disabled: boolean;
  /** Set when throttling is disabled: what doctor prints. */
  warning?: string;
}

/** The flag (config key allowUnthrottledRt) that lets the daemon start on a host without RT throttling. */
export const ALLOW_UNTHROTTLED_RT_FLAG = "--allow-unthrottled-rt";

/** Reads (never writes) the RT throttling settings. */
export function rtThrottling(procSysKernel = "/proc/sys/kernel"): RtThrottling {
  const read = (name: string): number => {
    const text = readFileSync(`${procSysKernel}/${name}`, "utf8").trim();
    const value = Number(text);
    if (!Number.isInteger(value))
      throw new Error(`${procSysKernel}/${name}: not an integer: '${text}'`);
    return value;
  };
  const runtimeUs = read("sched_rt_runtime_us");
  const periodUs = read("sched_rt_period_us");
  if (runtimeUs >= 0) return { runtimeUs, periodUs, disabled: false };
  return {
    runtimeUs,
    periodUs,
    disabled: true,
    warning:
      `RT throttling is disabled (${procSysKernel}/sched_rt_runtime_us = -1): a runaway SCHED_FIFO task can starve the host; ` +
      `alps does not change this setting; the daemon refuses to start when anything of it would run on SCHED_FIFO, unless ${ALLOW_UNTHROTTLED_RT_FLAG}`,
  };
}

/** What of a daemon configuration runs on SCHED_FIFO. */
export interface RealtimeConfig {
  /** The mode asked for; auto may fall back to sfs. */
  mode: Mode | "auto";
  strategy: string;
  /** SCHED_FIFO priority of the daemon's own threads (0 = they stay fair). */
  realtimePriority: number;
}

/** Each part of `config` that would put a task on SCHED_FIFO, said the way its flag says it. */
export function realtimeUses(config: RealtimeConfig): string[] {
  const uses: string[] = [];
  if (config.realtimePriority > 0)
    uses.push(`the daemon's own threads (--realtime-priority ${config.realtimePriority})`);
  if (config.mode === "sfs") uses.push("sfs mode's FIFO slices (--mode sfs)");
  if (config.mode === "auto")
    uses.push("sfs mode's FIFO slices, which --mode auto falls back to without BPF");
  if (config.mode !== "cfs" && config.strategy === "rt")
    uses.push("function tasks on SCHED_FIFO (--strategy rt)");
  return uses;
}

/**
 * Gate at the daemon's start (invariant 4): on a host without RT throttling
 * a runaway SCHED_FIFO task can take a core for good, so the daemon refuses
 * when anything of it would run on SCHED_FIFO, unless explicitly allowed.
 * Only reads /proc/sys/kernel.
 */
export function checkRtThrottling(
  config: RealtimeConfig,
  allowUnthrottled: boolean,
  rt: RtThrottling = rtThrottling(),
): void {
  const uses = realtimeUses(config);
  if (!rt.disabled || uses.length === 0 || allowUnthrottled) return;
  throw new UsageError(
    `refusing to start: RT throttling is disabled on this host (sched_rt_runtime_us = ${rt.runtimeUs}), ` +
      `so a runaway SCHED_FIFO task could starve it, and these would run on SCHED_FIFO: ${uses.join("; ")}. ` +
      "alps never changes this setting. Turn throttling back on (sysctl -w kernel.sched_rt_runtime_us=950000), " +
      "or run nothing on SCHED_FIFO (--realtime-priority 0 with --mode alps or cfs, strategy dynamic or static), " +
      `or accept the risk with ${ALLOW_UNTHROTTLED_RT_FLAG} (config key allowUnthrottledRt, env ALPS_ALLOW_UNTHROTTLED_RT=1)`,
  );
}
