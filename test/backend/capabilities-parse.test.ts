/**
 * Capabilities and RT throttling: masks decode to the right names, each
 * mode's needs follow the kernel version, a process started with CAP_BPF
 * dropped (setpriv) is seen to lack it, and RT throttling is only read.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  capabilityNames,
  checkRtThrottling,
  effectiveCapabilities,
  missingCapabilities,
  neededCapabilities,
  realtimeUses,
  rtThrottling,
} from "../../src/backend/capabilities.js";
import { UsageError } from "../../src/errors.js";
import { isRoot, requireHost } from "../helpers/host.js";

describe("capability masks", () => {
  it("names each bit", () => {
    expect(capabilityNames("800000")).toEqual(["CAP_SYS_NICE"]);
    expect(capabilityNames("8000000000")).toEqual(["CAP_BPF"]);
    expect(capabilityNames("4000000000")).toEqual(["CAP_PERFMON"]);
    expect(capabilityNames("0000000000000003")).toEqual(["CAP_CHOWN", "CAP_DAC_OVERRIDE"]);
    expect(capabilityNames("0")).toEqual([]);
    expect(capabilityNames("20000000000")).toEqual(["CAP_41"]);
    expect(() => capabilityNames("xyz")).toThrow(/capability mask/);
  });

  it("reads CapEff, not the other sets", () => {
    const status =
      "Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t0000000000800000\n";
    expect([...effectiveCapabilities(status)]).toEqual(["CAP_SYS_NICE"]);
    expect(() => effectiveCapabilities("Name:\tx\n")).toThrow(/CapEff/);
  });

  it("lists what each mode needs, by kernel version", () => {
    const caps = (mode: "alps" | "sfs" | "cfs", rel: string) =>
      neededCapabilities(mode, rel).map((n) => n.cap);
    expect(caps("alps", "6.18.44")).toEqual([
      "CAP_BPF",
      "CAP_PERFMON",
      "CAP_SYS_NICE",
      "CAP_DAC_OVERRIDE",
    ]);
    expect(caps("alps", "5.4.0-150-generic")).toEqual([
      "CAP_SYS_ADMIN",
      "CAP_SYS_NICE",
      "CAP_DAC_OVERRIDE",
    ]);
    expect(caps("sfs", "6.1.0")).toEqual(["CAP_SYS_NICE", "CAP_DAC_OVERRIDE"]);
    expect(caps("cfs", "6.1.0")).toEqual([]);
    const missing = missingCapabilities(
      neededCapabilities("alps", "6.1.0"),
      new Set(["CAP_SYS_NICE", "CAP_BPF"]),
    );
    expect(missing.map((n) => n.cap)).toEqual(["CAP_PERFMON", "CAP_DAC_OVERRIDE"]);
    expect(missing.find((n) => n.cap === "CAP_DAC_OVERRIDE")?.optional).toBe(true);
  });

  it.skipIf(!requireHost("root and setpriv", isRoot()))(
    "sees CAP_BPF missing in a process started without it",
    () => {
      const script = "process.stdout.write(require('fs').readFileSync('/proc/self/status','utf8'))";
      const dropped = execFileSync(
        "setpriv",
        ["--bounding-set=-bpf", process.execPath, "-e", script],
        {
          encoding: "utf8",
        },
      );
      const have = effectiveCapabilities(dropped);
      expect(have.has("CAP_BPF")).toBe(false);
      expect(have.has("CAP_SYS_NICE")).toBe(true);
      const missing = missingCapabilities(neededCapabilities("alps", "6.1.0"), have).map(
        (n) => n.cap,
      );
      expect(missing).toEqual(["CAP_BPF"]);
      // This test process itself (root) has everything alps needs.
      expect(missingCapabilities(neededCapabilities("alps", "6.1.0"))).toEqual([]);
    },
  );
});

describe("RT throttling", () => {
  const fakeProc = (runtime: string): string => {
    const dir = mkdtempSync(join(tmpdir(), "alps-rt-"));
    writeFileSync(join(dir, "sched_rt_runtime_us"), `${runtime}\n`);
    writeFileSync(join(dir, "sched_rt_period_us"), "1000000\n");
    return dir;
  };

  it("warns when disabled and gates the real-time modes", () => {
    const dir = fakeProc("-1");
    try {
      const rt = rtThrottling(dir);
      expect(rt).toMatchObject({ runtimeUs: -1, periodUs: 1_000_000, disabled: true });
      expect(rt.warning).toMatch(/disabled.*sched_rt_runtime_us = -1/);
      const daemon = { mode: "alps", strategy: "dynamic", realtimePriority: 50 } as const;
      // The daemon's own threads are real-time by default: refused, saying why and how out.
      expect(() => checkRtThrottling(daemon, false, rt)).toThrow(UsageError);
      expect(() => checkRtThrottling(daemon, false, rt)).toThrow(
        /refusing to start: RT throttling is disabled .*the daemon's own threads \(--realtime-priority 50\).*--allow-unthrottled-rt \(config key allowUnthrottledRt/,
      );
      expect(() => checkRtThrottling(daemon, true, rt)).not.toThrow();
      // Whatever would run on SCHED_FIFO is named; nothing on it, nothing to refuse.
      expect(realtimeUses({ mode: "sfs", strategy: "dynamic", realtimePriority: 0 })).toEqual([
        "sfs mode's FIFO slices (--mode sfs)",
      ]);
      expect(realtimeUses({ mode: "auto", strategy: "dynamic", realtimePriority: 0 })).toHaveLength(
        1,
      );
      expect(realtimeUses({ mode: "alps", strategy: "rt", realtimePriority: 0 })).toEqual([
        "function tasks on SCHED_FIFO (--strategy rt)",
      ]);
      const fair = { mode: "alps", strategy: "dynamic", realtimePriority: 0 } as const;
      expect(() => checkRtThrottling(fair, false, rt)).not.toThrow();
      expect(() => checkRtThrottling({ ...fair, mode: "cfs" }, false, rt)).not.toThrow();
      expect(() => checkRtThrottling({ ...fair, mode: "sfs" }, false, rt)).toThrow(UsageError);
      // Reading never writes.
      expect(readFileSync(join(dir, "sched_rt_runtime_us"), "utf8")).toBe("-1\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is quiet when enabled, and reads this host's setting", () => {
    const dir = fakeProc("950000");
    try {
      expect(rtThrottling(dir)).toEqual({
        runtimeUs: 950_000,
        periodUs: 1_000_000,
        disabled: false,
      });
      const sfs = { mode: "sfs", strategy: "dynamic", realtimePriority: 50 } as const;
      expect(() => checkRtThrottling(sfs, false, rtThrottling(dir))).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const host = rtThrottling();
    expect(host.runtimeUs).toBe(
      Number(readFileSync("/proc/sys/kernel/sched_rt_runtime_us", "utf8")),
    );
    const bad = fakeProc("lots");
    try {
      expect(() => rtThrottling(bad)).toThrow(/not an integer/);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});
