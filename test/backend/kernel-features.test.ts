import { describe, expect, it } from "vitest";
import {
  fairSliceExplanation,
  kernelFeatures,
  kernelMajorMinor,
} from "../../src/backend/kernel-features.js";

describe("kernel features by release", () => {
  it("parses distribution releases", () => {
    expect(kernelMajorMinor("6.1.0-57-amd64")).toEqual([6, 1]);
    expect(kernelMajorMinor("6.12.57+deb13-amd64")).toEqual([6, 12]);
    expect(kernelMajorMinor("garbage")).toEqual([0, 0]);
  });

  it("Debian 12's 6.1: CFS, prev_state present, and says so", () => {
    const f = kernelFeatures("6.1.0-57-amd64");
    expect(f).toMatchObject({ fair_class: "cfs", switch_prev_state: true });
    expect(f.notes).toHaveLength(1);
    expect(f.notes[0]).toMatch(/CFS/);
    expect(fairSliceExplanation(f, "6.1.0-57-amd64")).toMatch(/CFS ignores sched_runtime/);
  });

  it("6.6 to 6.11: EEVDF without a slice request", () => {
    const f = kernelFeatures("6.6.30");
    expect(f.fair_class).toBe("eevdf");
    expect(f.notes).toEqual([]);
    expect(fairSliceExplanation(f, "6.6.30")).toMatch(/before Linux 6.12/);
  });

  it("6.12 and later: nothing to note", () => {
    for (const rel of ["6.12.57+deb13-amd64", "6.18.44", "7.0.1"]) {
      const f = kernelFeatures(rel);
      expect(f).toEqual({
        fair_class: "eevdf",
        switch_prev_state: true,
        cgroup_cpu_idle: true,
        notes: [],
      });
    }
  });

  it("Debian 11's 5.10: the BPF program cannot load (the note says sfs), and no cpu.idle", () => {
    const f = kernelFeatures("5.10.0-46-amd64");
    expect(f).toMatchObject({ switch_prev_state: false, cgroup_cpu_idle: false });
    expect(f.notes.join(" ")).toMatch(/falls back to sfs/);
    expect(f.notes.join(" ")).toMatch(/no cpu\.idle/);
  });
});
