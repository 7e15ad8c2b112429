/**
 * What differs between the kernels alps runs on, for `alps doctor`: the
 * scheduler facts that change what alps's levels and events mean or whether
 * its programs load. Each was seen on Debian's 5.10, 6.1 and 6.12 kernels
 * and this project's 6.18 development host (scripts/kernel-matrix.sh;
 * docs/kernels.md has the table and the measurements).
 *
 * - The fair class is CFS before Linux 6.6 and EEVDF from 6.6. Nice levels
 *   (weights) act under both; under CFS through vruntime alone, under EEVDF
 *   also through lag.
 * - A requested slice for SCHED_OTHER (`sched_attr.sched_runtime`) is honoured
 *   from 6.12; earlier kernels accept the call and read back 0. The doctor's
 *   own probe (detect.ts) says which; this module only explains it.
 * - The `sched_switch` tracepoint carries `prev_state` from 5.18. The BPF
 *   program reads it, so an older kernel's verifier refuses the program
 *   ("func 'sched_switch' doesn't have 4-th argument" on 5.10) and alps
 *   falls back to sfs.
 * - A v2 cgroup's `cpu.idle` (the idle weight for a whole sandbox) exists
 *   from 5.15; before, a sandbox cgroup's weight can only be lowered to
 *   cpu.weight 1.
 */
import { release } from "node:os";

export interface KernelFeatures {
  /** The fair scheduling class: "eevdf" from Linux 6.6, "cfs" before. */
  fair_class: "eevdf" | "cfs";
  /** The sched_switch tracepoint passes prev_state (Linux >= 5.18), which the BPF program reads. */
  switch_prev_state: boolean;
  /** cgroup v2 has cpu.idle (Linux >= 5.15). */
  cgroup_cpu_idle: boolean;
  /** One sentence per difference that matters to alps on this kernel. */
  notes: string[];
}

/** Kernel release "6.1.0-57-amd64" → [6, 1]; [0, 0] when unreadable. */
export function kernelMajorMinor(rel: string): [number, number] {
  const match = /^(\d+)\.(\d+)/.exec(rel);
  return match === null ? [0, 0] : [Number(match[1]), Number(match[2])];
}

function atLeast(rel: string, major: number, minor: number): boolean {
  const [a, b] = kernelMajorMinor(rel);
  return a > major || (a === major && b >= minor);
}

/** The differences that follow from the kernel release (default: this host's). */
export function kernelFeatures(kernelRelease: string = release()): KernelFeatures {
  const eevdf = atLeast(kernelRelease, 6, 6);
  const prevState = atLeast(kernelRelease, 5, 18);
  const cpuIdle = atLeast(kernelRelease, 5, 15);
  const notes: string[] = [];
  if (!eevdf)
    notes.push(
      "fair class is CFS (EEVDF replaced it in Linux 6.6): nice levels act through vruntime only; " +
        "alps's levels work the same, a fair-class slice request does not exist",
    );
  if (!prevState)
    notes.push(
      "sched_switch has no prev_state argument before Linux 5.18: the BPF program cannot load here, alps falls back to sfs",
    );
  if (!cpuIdle)
    notes.push(
      "cgroup v2 has no cpu.idle before Linux 5.15: a sandbox that is its own cpu cgroup can be lowered to cpu.weight 1, not to the idle weight",
    );
  return {
    fair_class: eevdf ? "eevdf" : "cfs",
    switch_prev_state: prevState,
    cgroup_cpu_idle: cpuIdle,
    notes,
  };
}

/** Why a SCHED_OTHER slice request is not honoured here, in words doctor can print. */
export function fairSliceExplanation(
  features: KernelFeatures,
  kernelRelease: string = release(),
): string {
  if (features.fair_class === "cfs")
    return "this kernel's CFS ignores sched_runtime for SCHED_OTHER (EEVDF honours it from Linux 6.12): alps applies levels only and --eevdf-slice has no effect";
  if (!atLeast(kernelRelease, 6, 12))
    return "EEVDF before Linux 6.12 ignores sched_runtime for SCHED_OTHER: alps applies levels only and --eevdf-slice has no effect";
  return "the kernel did not keep the requested slice: alps applies levels only and --eevdf-slice has no effect";
}
