/**
 * What this host supports, and which mode `--mode auto` picks there and why
 * (`alps doctor`, the daemon's start-up log, `/v1/status`). Every probe
 * records its reason; nothing here changes the host except a short-lived
 * child used to test the fair-class slice request.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { release } from "node:os";
import { join } from "node:path";
import { loadAddon } from "../host/addon.js";
import { probeBpf } from "./bpf/bpf-probe.js";
import {
  type CapabilityNeed,
  missingCapabilities,
  neededCapabilities,
  rtThrottling,
} from "./capabilities.js";
import { parseCgroup2Mount } from "../host/cgroups.js";
import { loadSyscalls } from "../host/syscalls.js";
import { baseAttr, SCHED_OTHER, type Syscalls } from "../host/syscalls-types.js";
import { fairSliceExplanation, type KernelFeatures, kernelFeatures } from "./kernel-features.js";
import type { Mode } from "./types.js";
import { parseCpuMounts, parseProcCgroup } from "../host/cpu-cgroups.js";
import { type WeightReport, weightReport } from "./actuator/weight-targets.js";

export interface Verdict {
  ok: boolean;
  reason?: string;
}

/** RT group scheduling in the v1 `cpu` controller: a child cgroup there gets cpu.rt_runtime_us 0. */
export interface V1CpuRt {
  /** Mount point of the v1 cpu controller, if mounted. */
  mount?: string;
  /** cpu.rt_runtime_us exists: the kernel has CONFIG_RT_GROUP_SCHED. */
  rt_group_sched: boolean;
  /** This process's cgroup in that hierarchy. */
  self_cgroup?: string;
  self_rt_runtime_us?: number;
  /** Child cgroups (first level) whose cpu.rt_runtime_us is 0: SCHED_FIFO is refused for their tasks. */
  zero_runtime_cgroups: string[];
  /** SCHED_FIFO is refused for tasks in this process's own cgroup. */
  fifo_refused: boolean;
  /** How to fix it, when something is refused. */
  fix?: string;
}

export interface HostReport {
  kernel: string;
  btf: boolean;
  bpf: Verdict;
  addon: Verdict;
  syscalls: { kind: Syscalls["kind"] | "none"; reason?: string };
  rt: {
    rt_runtime_us: number;
    rt_period_us: number;
    throttling: "on" | "disabled";
    warning?: string;
  };
  cgroup: { v2_mount?: string; v1_cpu_rt: V1CpuRt };
  /** Which entity carries a level on this host (a sandbox's cpu cgroup, an autogroup, the task). */
  weights: WeightReport;
  capabilities: { missing: CapabilityNeed[] };
  /** The kernel accepts sched_runtime (a requested slice) for SCHED_OTHER (EEVDF, Linux >= 6.12). */
  fair_slice: boolean;
  /** CONFIG_SCHED_CLASS_EXT: a sched_ext backend could be offered (never assumed). */
  sched_ext: boolean;
  /** Scheduler differences across kernel versions that change what alps's levels and events mean. */
  kernel_features: KernelFeatures;
  /** What `--mode auto` picks here. */
  mode: Mode;
  reasons: string[];
}

export interface DetectOptions {
  /** `--no-bpf`: treat BPF as unavailable (the fallback hook of issue 4). */
  noBpf?: boolean;
}

/** Mount point of the v1 hierarchy holding the `cpu` controller, from mountinfo text. */
export function parseV1CpuMount(mountinfo: string): string | undefined {
  return parseCpuMounts(mountinfo).v1;
}

/** This process's path in the v1 hierarchy with controller `controller`, from /proc/self/cgroup text. */
export function parseV1CgroupPath(procCgroup: string, controller: string): string | undefined {
  return parseProcCgroup(procCgroup).find((l) => l.controllers.includes(controller))?.path;
}

function readNumber(file: string): number | undefined {
  try {
    return Number(readFileSync(file, "utf8").trim());
  } catch {
    return undefined;
  }
}

export function detectV1CpuRt(
  mountinfo: string = readFileSync("/proc/self/mountinfo", "utf8"),
  procCgroup: string = readFileSync("/proc/self/cgroup", "utf8"),
): V1CpuRt {
  const mount = parseV1CpuMount(mountinfo);
  if (mount === undefined)
    return { rt_group_sched: false, zero_runtime_cgroups: [], fifo_refused: false };
  const rtGroupSched = existsSync(join(mount, "cpu.rt_runtime_us"));
  const result: V1CpuRt = {
    mount,
    rt_group_sched: rtGroupSched,
    zero_runtime_cgroups: [],
    fifo_refused: false,
  };
  if (!rtGroupSched) return result;
  const self = parseV1CgroupPath(procCgroup, "cpu");
  if (self !== undefined) {
    result.self_cgroup = self;
    result.self_rt_runtime_us = readNumber(join(mount, self, "cpu.rt_runtime_us"));
    result.fifo_refused = result.self_rt_runtime_us === 0;
  }
  try {
    for (const entry of readdirSync(mount, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      if (readNumber(join(mount, entry.name, "cpu.rt_runtime_us")) === 0) {
        result.zero_runtime_cgroups.push(join(mount, entry.name));
      }
    }
  } catch {
    // An unreadable hierarchy only hides the list; the self check above stands.
  }
  if (result.fifo_refused || result.zero_runtime_cgroups.length > 0) {
    result.fix =
      "RT group scheduling gives each v1 cpu child cgroup cpu.rt_runtime_us = 0, so SCHED_FIFO (sfs mode, strategy rt) " +
      "is refused for its tasks: give the sandbox's cgroup and each parent a budget, e.g. " +
      "`echo 50000 > <cgroup>/cpu.rt_runtime_us` (parents first), or keep sandboxes in the v1 cpu root";
  }
  return result;
}

/**
 * Does the kernel accept a requested slice for the fair class? Tried on a
 * short-lived child (never on a function or on this process), then killed.
 */
export function probeFairSlice(syscalls: Syscalls): Verdict {
  const child = spawn("sleep", ["5"], { stdio: "ignore" });
  const pid = child.pid;
  if (pid === undefined) return { ok: false, reason: "could not start a probe child" };
  try {
    const runtimeNs = 20_000_000n;
    syscalls.setAttr(pid, { ...baseAttr(), policy: SCHED_OTHER, runtimeNs });
    const back = syscalls.getAttr(pid);
    return back.runtimeNs === runtimeNs
      ? { ok: true }
      : {
          ok: false,
          reason: `sched_runtime for SCHED_OTHER read back as ${back.runtimeNs} ns, not ${runtimeNs}`,
        };
  } catch (error) {
    return {
      ok: false,
      reason: `sched_setattr(SCHED_OTHER, sched_runtime) refused: ${describe(error)}`,
    };
  } finally {
    child.kill("SIGKILL");
  }
}

function hasSchedExt(): boolean {
  return existsSync("/sys/kernel/sched_ext");
}

export function detectHost(options: DetectOptions = {}): HostReport {
  const reasons: string[] = [];
  const kernel = release();
  const btf = existsSync("/sys/kernel/btf/vmlinux");

  const addonResult = loadAddon();
  const addon: Verdict = addonResult.ok ? { ok: true } : { ok: false, reason: addonResult.reason };

  const probe =
    options.noBpf === true ? { ok: false as const, reason: "disabled by --no-bpf" } : probeBpf();
  const bpf: Verdict = probe.ok ? { ok: true } : { ok: false, reason: probe.reason };

  let syscalls: Syscalls | undefined;
  let syscallsInfo: HostReport["syscalls"];
  try {
    const loaded = loadSyscalls();
    syscalls = loaded.syscalls;
    syscallsInfo = {
      kind: loaded.syscalls.kind,
      ...(loaded.reason === undefined ? {} : { reason: loaded.reason }),
    };
  } catch (error) {
    syscallsInfo = { kind: "none", reason: describe(error) };
  }

  const throttling = rtThrottling();
  const rt: HostReport["rt"] = {
    rt_runtime_us: throttling.runtimeUs,
    rt_period_us: throttling.periodUs,
    throttling: throttling.disabled ? "disabled" : "on",
    ...(throttling.warning === undefined ? {} : { warning: throttling.warning }),
  };

  let v2Mount: string | undefined;
  try {
    v2Mount = parseCgroup2Mount(readFileSync("/proc/self/mountinfo", "utf8"));
  } catch {
    v2Mount = undefined;
  }
  const v1 = detectV1CpuRt();
  const weights = weightReport();

  const fairSlice =
    syscalls === undefined ? { ok: false, reason: "no syscalls" } : probeFairSlice(syscalls);

  // The mode auto picks: alps when BPF loads; sfs when SCHED_FIFO can be
  // given; otherwise observe only. Each step down says why.
  // alps is not claimed where its levels cannot reach what the scheduler
  // compares (a read-only cpu hierarchy: sandbox groups keep their weights).
  let mode: Mode;
  if (bpf.ok && weights.problem === undefined) {
    mode = "alps";
    reasons.push("BPF programs load and attach: alps mode with the BPF sensor");
    reasons.push(`levels are written on: ${weights.writes.join("; ")}`);
  } else {
    reasons.push(
      bpf.ok
        ? `alps mode unavailable: ${weights.problem}`
        : `alps mode (BPF sensor) unavailable: ${bpf.reason}`,
    );
    const sfsMissing = missingCapabilities(neededCapabilities("sfs", kernel)).filter(
      (need) => !need.optional,
    );
    if (syscalls === undefined) {
      mode = "cfs";
      reasons.push(`sfs mode unavailable: ${syscallsInfo.reason}; observing only (cfs)`);
    } else if (sfsMissing.length > 0) {
      mode = "cfs";
      reasons.push(
        `sfs mode unavailable: missing ${sfsMissing.map((n) => n.cap).join(", ")}; observing only (cfs)`,
      );
    } else if (v1.fifo_refused) {
      mode = "cfs";
      reasons.push(
        `sfs mode unavailable: SCHED_FIFO is refused in v1 cpu cgroup ${v1.self_cgroup} (cpu.rt_runtime_us = 0); observing only (cfs)`,
      );
    } else {
      mode = "sfs";
      reasons.push(
        `falling back to sfs mode (SCHED_FIFO slice, then CFS) on the proc sensor, syscalls via ${syscalls.kind}`,
      );
    }
  }
  if (!addon.ok) reasons.push(`native addon unavailable: ${addon.reason}`);
  if (syscallsInfo.reason !== undefined && syscalls !== undefined)
    reasons.push(`syscalls: ${syscallsInfo.reason}`);
  if (rt.warning !== undefined) reasons.push(`warning: ${rt.warning}`);
  if (v1.fix !== undefined) reasons.push(`warning: ${v1.fix}`);
  const features = kernelFeatures(kernel);
  if (!fairSlice.ok)
    reasons.push(
      `fair-class slice request unavailable: ${fairSlice.reason}` +
        (syscalls === undefined ? "" : `; ${fairSliceExplanation(features, kernel)}`),
    );
  for (const note of features.notes) reasons.push(`kernel ${kernel}: ${note}`);

  const missing = missingCapabilities(neededCapabilities(mode, kernel));
  return {
    kernel,
    btf,
    bpf,
    addon,
    syscalls: syscallsInfo,
    rt,
    cgroup: { ...(v2Mount === undefined ? {} : { v2_mount: v2Mount }), v1_cpu_rt: v1 },
    weights,
    capabilities: { missing },
    fair_slice: fairSlice.ok,
    sched_ext: hasSchedExt(),
    kernel_features: features,
    mode,
    reasons,
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
