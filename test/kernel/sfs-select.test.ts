/**
 * Mode selection on the real host (issue 5): auto falls back to sfs with the
 * reason when BPF is made unavailable (--no-bpf or ALPS_NO_BPF=1), picks
 * alps with the BPF sensor when it loads, and each forced mode gives the
 * backend asked for.
 */
import { afterEach, describe, expect, it } from "vitest";
import { probeBpf } from "../../src/backend/bpf/bpf-probe.js";
import { createBackend } from "../../src/backend/select.js";
import type { Backend } from "../../src/backend/types.js";
import { isRoot, requireHost } from "../helpers/host.js";

const canRun = requireHost("root", isRoot());

describe.skipIf(!canRun)("createBackend", () => {
  const open: Backend[] = [];
  const saved = process.env.ALPS_NO_BPF;
  afterEach(async () => {
    for (const b of open.splice(0)) await b.close();
    if (saved === undefined) delete process.env.ALPS_NO_BPF;
    else process.env.ALPS_NO_BPF = saved;
  });

  it("auto with --no-bpf runs sfs on the proc sensor and says why", async () => {
    const logged: string[] = [];
    const { backend, reasons } = await createBackend({
      mode: "auto",
      noBpf: true,
      log: (m) => logged.push(m),
    });
    open.push(backend);
    expect(backend.mode).toBe("sfs");
    expect(backend.sensor).toBe("proc");
    expect(reasons.join("\n")).toMatch(
      /alps \(BPF sensor\) unavailable: BPF disabled by --no-bpf or ALPS_NO_BPF=1; falling back to sfs/,
    );
    expect(logged).toEqual(reasons);
    expect(backend.status().reasons.join("\n")).toMatch(/--no-bpf/);
  });

  it("auto with ALPS_NO_BPF=1 runs sfs and names the variable", async () => {
    process.env.ALPS_NO_BPF = "1";
    const { backend, reasons } = await createBackend({ mode: "auto" });
    open.push(backend);
    expect(backend.mode).toBe("sfs");
    expect(reasons.join("\n")).toMatch(/ALPS_NO_BPF=1/);
  });

  it("alps with the BPF sensor refuses loudly when BPF is unavailable", async () => {
    await expect(createBackend({ mode: "alps", noBpf: true })).rejects.toThrow(
      /--no-bpf.*--sensor proc/,
    );
  });

  it("forced modes give the backend asked for", async () => {
    // cfs observes with the BPF sensor where it loads (as alps does), else with /proc, saying why.
    const cfs = await createBackend({ mode: "cfs", noBpf: true });
    open.push(cfs.backend);
    expect([cfs.backend.mode, cfs.backend.sensor]).toEqual(["cfs", "proc"]);
    expect(cfs.reasons.join("\n")).toMatch(
      /proc sensor \(BPF sensor unavailable: BPF disabled by --no-bpf/,
    );
    const proc = await createBackend({ mode: "alps", sensor: "proc" });
    open.push(proc.backend);
    expect([proc.backend.mode, proc.backend.sensor]).toEqual(["alps", "proc"]);
  });

  it("auto picks alps with the BPF sensor when BPF loads here", async () => {
    delete process.env.ALPS_NO_BPF;
    const probe = probeBpf();
    if (!requireHost(`BPF (${probe.ok ? "" : probe.reason})`, probe.ok)) return;
    const { backend, reasons } = await createBackend({ mode: "auto" });
    open.push(backend);
    expect([backend.mode, backend.sensor]).toEqual(["alps", "bpf"]);
    expect(reasons.join("\n")).toMatch(/BPF programs load/);
  });
});
