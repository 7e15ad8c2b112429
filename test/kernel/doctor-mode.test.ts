/**
 * `alps doctor --json` on the real host (issue 5 must-show 1, issue 4
 * must-show 6): with ALPS_NO_BPF=1 it picks sfs and says why; without it,
 * alps when BPF loads here. Runs the built CLI (`npm run build` first).
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { probeBpf } from "../../src/backend/bpf/bpf-probe.js";
import type { HostReport } from "../../src/backend/detect.js";
import { isRoot, requireHost } from "../helpers/host.js";

const CLI = "dist/cli.js";
const canRun = requireHost("root and a built CLI (npm run build)", isRoot() && existsSync(CLI));

function doctor(env: NodeJS.ProcessEnv, ...args: string[]): HostReport {
  const out = execFileSync(process.execPath, [CLI, "doctor", "--json", ...args], {
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 20_000,
  });
  return JSON.parse(out) as HostReport;
}

describe.skipIf(!canRun)("alps doctor --json", () => {
  it("reports sfs with its reasons when BPF is hidden by ALPS_NO_BPF=1", () => {
    const report = doctor({ ALPS_NO_BPF: "1" });
    expect(report.mode).toBe("sfs");
    expect(report.bpf).toEqual({ ok: false, reason: expect.stringContaining("ALPS_NO_BPF=1") });
    expect(report.reasons.join("\n")).toMatch(/alps mode .*unavailable: .*ALPS_NO_BPF=1/);
    expect(report.reasons.join("\n")).toMatch(/sfs/);
    expect(report).toHaveProperty("kernel");
    expect(report).toHaveProperty("rt.throttling", "on");
    expect(report).toHaveProperty("cgroup.v2_mount");
  });

  it("reports sfs with ffi syscalls when the addon is hidden too", () => {
    const report = doctor({ ALPS_NO_BPF: "1", ALPS_NO_ADDON: "1" });
    expect(report.mode).toBe("sfs");
    expect(report.syscalls.kind).toBe("ffi");
    expect(report.syscalls.reason).toMatch(/ALPS_NO_ADDON=1/);
  });

  it("--no-bpf does the same as ALPS_NO_BPF=1", () => {
    const report = doctor({}, "--no-bpf");
    expect(report.mode).toBe("sfs");
    expect(report.bpf.reason).toMatch(/--no-bpf/);
  });

  it("reports alps when BPF loads here", () => {
    const probe = probeBpf();
    if (!requireHost(`BPF (${probe.ok ? "" : probe.reason})`, probe.ok)) return;
    const report = doctor({ ALPS_NO_BPF: "" });
    expect(report.bpf.ok).toBe(true);
    expect(report.mode).toBe("alps");
  });
});
