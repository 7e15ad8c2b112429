/**
 * `alps doctor [--json] [--no-bpf] [--platform … and its options]`: what
 * this host supports, which mode `--mode auto` picks and every reason
 * (issues 4 and 5); with `--platform`, what that adapter sees now
 * (issue 9): one scan, no daemon needed, nothing changed. Exits 1 when the
 * platform cannot be read, or when the host's cgroup layout makes the
 * adapter refuse sandboxes (the report says why and how to fix it).
 */
import type { Command } from "commander";
import { detectHost, type HostReport } from "../backend/detect.js";
import { UsageError } from "../errors.js";
import { flagName, loadPlatformConfig, PLATFORM_KEYS } from "../frontend/config.js";
import { formatPlatformReport, platformReport } from "../frontend/platforms/report.js";
import type { PlatformAdapter } from "../frontend/platforms/types.js";
import { configOption } from "./config-option.js";

export function registerDoctor(program: Command): void {
  const cmd = program
    .command("doctor")
    .description(
      "what this host supports and which mode `auto` picks, and why; with --platform, the sandboxes and functions that adapter sees",
    )
    .option("--json", "print the report as JSON")
    .option("--no-bpf", "treat BPF as unavailable (test the fallback)")
    .option("--config <file>", "take the platform options from this daemon config file");
  // The daemon's own platform flags (and ALPS_PLATFORM… variables), one definition for both.
  for (const key of PLATFORM_KEYS) cmd.addOption(configOption(key));
  cmd.action(async (opts: Record<string, unknown>) => {
    const platformConfig = loadPlatformConfig({
      ...(typeof opts.config === "string" ? { configFile: opts.config } : {}),
      env: process.env,
      flags: opts,
    });
    if (platformConfig.platform === undefined) {
      const stray = PLATFORM_KEYS.find((k) => k !== "platform" && opts[k] !== undefined);
      if (stray !== undefined) throw new UsageError(`--${flagName(stray)} needs --platform`);
    }
    // Build the adapter before probing: a bad or missing platform flag is a usage error.
    let adapter: PlatformAdapter | undefined;
    let warnings: string[] = [];
    if (platformConfig.platform !== undefined) {
      const { createPlatformAdapter, deprecatedPlatformSettings, platformOptionsOf } = await import(
        "../frontend/platforms/index.js"
      );
      adapter = createPlatformAdapter(platformConfig.platform, platformOptionsOf(platformConfig));
      warnings = deprecatedPlatformSettings(platformConfig);
    }
    // ALPS_NO_BPF=1 is honoured (and named as the reason) by the BPF probe itself.
    const report = detectHost({ noBpf: opts.bpf === false });
    const platform = adapter === undefined ? undefined : await platformReport(adapter, warnings);
    if (opts.json === true) {
      const out = platform === undefined ? report : { ...report, platform };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else {
      process.stdout.write(
        formatReport(report) + (platform === undefined ? "" : formatPlatformReport(platform)),
      );
    }
    if (platform !== undefined && !platform.ok) {
      // Asked for and unusable: say so on stderr too, and fail.
      process.stderr.write(
        `alps doctor: platform ${platform.platform} is unusable: ${platform.error ?? "unknown error"}\n`,
      );
      process.exitCode = 1;
    } else if (platform !== undefined && !platform.layout.supported) {
      // Readable, but some sandboxes cannot be told apart on this host: alps would schedule nothing in them.
      process.stderr.write(
        `alps doctor: platform ${platform.platform}: ${platform.refused.length} sandboxes refused, host layout unsupported: ${platform.layout.problem ?? ""}; fix: ${platform.layout.fix ?? ""}\n`,
      );
      process.exitCode = 1;
    }
  });
}

function verdict(v: { ok: boolean; reason?: string }): string {
  return v.ok ? "yes" : `no (${v.reason})`;
}

export function formatReport(r: HostReport): string {
  const v1 = r.cgroup.v1_cpu_rt;
  const lines = [
    `kernel         ${r.kernel}`,
    `BTF            ${r.btf ? "yes" : "no"}`,
    `BPF            ${verdict(r.bpf)}`,
    `native addon   ${verdict(r.addon)}`,
    `syscalls       ${r.syscalls.kind}${r.syscalls.reason === undefined ? "" : ` (${r.syscalls.reason})`}`,
    `RT throttling  ${r.rt.throttling} (sched_rt_runtime_us ${r.rt.rt_runtime_us} of ${r.rt.rt_period_us})`,
    `cgroup v2      ${r.cgroup.v2_mount ?? "not mounted"}`,
    `v1 cpu RT      ${
      v1.mount === undefined
        ? "no v1 cpu controller"
        : `${v1.mount}, RT group scheduling ${v1.rt_group_sched ? "on" : "off"}` +
          (v1.self_rt_runtime_us === undefined
            ? ""
            : `, own cgroup ${v1.self_cgroup} rt_runtime_us ${v1.self_rt_runtime_us}`) +
          (v1.zero_runtime_cgroups.length > 0
            ? `, FIFO refused in: ${v1.zero_runtime_cgroups.join(" ")}`
            : "")
    }`,
    `cpu controller ${r.weights.cpu_controller === "none" ? "none" : `${r.weights.cpu_controller} at ${r.weights.cpu_mount}${r.weights.writable ? "" : " (read-only)"}`}, autogroup ${r.weights.autogroup ? "on" : "off"}`,
    `levels go to   ${r.weights.entities.join(", then ")}${r.weights.problem === undefined ? "" : ` (problem: ${r.weights.problem})`}`,
    `fair slice     ${r.fair_slice ? "yes (sched_runtime for SCHED_OTHER accepted)" : "no"}`,
    `sched_ext      ${r.sched_ext ? "yes" : "no"}`,
    `fair class     ${r.kernel_features.fair_class === "cfs" ? "CFS (nice acts through vruntime; EEVDF from Linux 6.6)" : "EEVDF"}`,
    `capabilities   ${r.capabilities.missing.length === 0 ? "all present" : `missing ${r.capabilities.missing.map((n) => n.cap).join(", ")}`}`,
    `mode (auto)    ${r.mode}`,
    "why:",
    ...r.reasons.map((reason) => `  - ${reason}`),
  ];
  return `${lines.join("\n")}\n`;
}
