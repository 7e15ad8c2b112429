/**
 * `alps doctor [--json] [--no-bpf]`: what this host supports, which mode
 * `--mode auto` picks and every reason (DESIGN §3; issues 4 and 5).
 */
import type { Command } from "commander";
import { detectHost, type HostReport } from "../backend/detect.js";

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("what this host supports and which mode `auto` picks, and why")
    .option("--json", "print the report as JSON")
    .option("--no-bpf", "treat BPF as unavailable (test the fallback)")
    .action((opts: { json?: boolean; bpf: boolean }) => {
      // ALPS_NO_BPF=1 is honoured (and named as the reason) by the BPF probe itself.
      const report = detectHost({ noBpf: opts.bpf === false });
      process.stdout.write(
        opts.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report),
      );
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
          (
            v1.zero_runtime_cgroups.length > 0
              ? `, FIFO refused in: ${v1.zero_runtime_cgroups.join(" ")}`
              : ""
          )
    }`,
    `fair slice     ${r.fair_slice ? "yes (sched_runtime for SCHED_OTHER accepted)" : "no"}`,
    `sched_ext      ${r.sched_ext ? "yes" : "no"}`,
    `capabilities   ${r.capabilities.missing.length === 0 ? "all present" : `missing ${r.capabilities.missing.map((n) => n.cap).join(", ")}`}`,
    `mode (auto)    ${r.mode}`,
    "why:",
    ...r.reasons.map((reason) => `  - ${reason}`),
  ];
  return `${lines.join("\n")}\n`;
}
