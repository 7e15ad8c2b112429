/**
 * Can alps mode run here? Loads and attaches the real BPF object and closes
 * it again; the reason names what is missing (switch, addon build, BTF,
 * privilege), because no fallback may be silent.
 */
import { existsSync } from "node:fs";
import { bpfObjectPath, loadAddon } from "../../host/addon.js";
import { missingCapabilities, neededCapabilities } from "../capabilities.js";
import { kernelFeatures } from "../kernel-features.js";

export type ProbeResult = { ok: true } | { ok: false; reason: string };

export function probeBpf(): ProbeResult {
  if (process.env.ALPS_NO_BPF === "1") return { ok: false, reason: "disabled by ALPS_NO_BPF=1" };
  if (!existsSync("/sys/kernel/btf/vmlinux")) {
    return {
      ok: false,
      reason: "kernel has no BTF (/sys/kernel/btf/vmlinux missing): tp_btf programs cannot load",
    };
  }
  const loaded = loadAddon();
  if (!loaded.ok) return { ok: false, reason: loaded.reason };
  const objectPath = bpfObjectPath();
  if (!existsSync(objectPath))
    return {
      ok: false,
      reason: `BPF object not built (${objectPath} missing): run npm run build:native`,
    };
  try {
    loaded.addon.openBpf(objectPath).close();
    return { ok: true };
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === "EPERM" || e.code === "EACCES") {
      // The verifier refuses a program with EACCES too: with every
      // capability present, privilege is not the reason.
      if (missingCapabilities(neededCapabilities("alps")).some((n) => !n.optional))
        return {
          ok: false,
          reason: `loading BPF needs root or CAP_BPF+CAP_PERFMON (${e.message})`,
        };
      const features = kernelFeatures();
      return {
        ok: false,
        reason:
          `the kernel's verifier refused the alps programs (${e.message}; libbpf prints its log on stderr)` +
          (features.switch_prev_state
            ? ""
            : ": sched_switch has no prev_state argument before Linux 5.18, which alps_switch reads"),
      };
    }
    return { ok: false, reason: `BPF load/attach failed: ${e.message}` };
  }
}
