/**
 * The deployment files: the DaemonSet validates against the Kubernetes
 * OpenAPI schema (kubernetes-models) and carries what the daemon needs; the
 * systemd unit passes `systemd-analyze verify` with no warning.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { requireHost } from "../../helpers/host.js";

const manifestPath = "deploy/kubernetes/daemonset.yaml";
const unitPath = "deploy/alps.service";

function loadManifest(): Record<string, unknown> {
  return parse(readFileSync(manifestPath, "utf8")) as Record<string, unknown>;
}

describe("kubernetes DaemonSet", () => {
  it("validates against the Kubernetes schema", () => {
    expect(() => new DaemonSet(loadManifest()).validate()).not.toThrow();
  });

  it("the validator is real: a wrongly typed field is refused", () => {
    // Break the document as text, so the typed model cannot stop us first.
    const bad = parse(
      readFileSync(manifestPath, "utf8").replace("hostPID: true", 'hostPID: "yes"'),
    );
    expect(() => new DaemonSet(bad).validate()).toThrow(/hostPID/);
  });

  it("runs in the host PID namespace with the capabilities and host paths alps needs", () => {
    const ds = new DaemonSet(loadManifest());
    const pod = ds.spec?.template.spec;
    expect(pod?.hostPID).toBe(true);
    const c = pod?.containers[0];
    expect(c?.securityContext?.capabilities?.add).toEqual(
      expect.arrayContaining(["BPF", "PERFMON", "SYS_NICE", "SYS_RESOURCE"]),
    );
    expect(c?.securityContext?.capabilities?.drop).toEqual(["ALL"]);
    expect(c?.securityContext?.privileged).toBe(false);
    const mounts = new Map((c?.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    const hostPaths = new Map((pod?.volumes ?? []).map((v) => [v.name, v.hostPath?.path]));
    for (const path of ["/sys/fs/cgroup", "/sys/fs/bpf", "/sys/kernel/btf"]) {
      const m = mounts.get(path);
      expect(m, `${path} mounted`).toBeDefined();
      expect(hostPaths.get(m?.name ?? "")).toBe(path);
    }
    expect(mounts.get("/sys/kernel/btf")?.readOnly).toBe(true);
    expect(c?.args).toEqual(
      expect.arrayContaining(["daemon", "--platform", "cgroup-pattern", "--pattern"]),
    );
  });
});

const hasAnalyze = spawnSync("systemd-analyze", ["--version"]).status === 0;

describe.skipIf(!requireHost("systemd-analyze", hasAnalyze))("systemd unit", () => {
  it("passes systemd-analyze verify without a warning", () => {
    const r = spawnSync("systemd-analyze", ["verify", unitPath], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("keeps the hardening and the capabilities alps needs", () => {
    const unit = readFileSync(unitPath, "utf8");
    for (const line of [
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ReadWritePaths=/sys/fs/cgroup /sys/fs/bpf /run/alps",
      "RuntimeDirectory=alps",
      // Safety invariant 3 under systemd: a timed-out stop kills the guardian with the
      // daemon, so the unit restores after stop and keeps the record across restarts.
      "ExecStopPost=/usr/bin/env alps restore --state-dir /run/alps",
      "RuntimeDirectoryPreserve=restart",
    ]) {
      expect(unit).toContain(line);
    }
    const caps = /^CapabilityBoundingSet=(.*)$/m.exec(unit)?.[1]?.split(" ") ?? [];
    expect(caps).toEqual(
      expect.arrayContaining(["CAP_BPF", "CAP_PERFMON", "CAP_SYS_NICE", "CAP_SYS_RESOURCE"]),
    );
    expect(/^AmbientCapabilities=(.*)$/m.exec(unit)?.[1]?.split(" ")).toEqual(caps);
    // Sandboxes are cgroups the daemon writes: ProtectControlGroups would make them read-only.
    expect(unit).not.toMatch(/^ProtectControlGroups=yes/m);
  });
});
