/**
 * Sandboxes that are cpu cgroups of their own (the layout of every
 * platform): a short invocation that arrives while a long one runs on the
 * same pinned core finishes first only when alps writes its level on the
 * sandbox's group. Nice levels alone do not cross groups, and without alps
 * the core is split evenly.
 *
 * Each case measures the same quantity: the CPU the long invocation got
 * while the short one ran, against the short one's own CPU. Under an even
 * split they are about equal; with alps the long one may take at most half
 * of it (the short one's turnaround then stays within 1.5 x its CPU when
 * the two are alone on the core, as bpf-inherit shows without groups).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { addonSyscalls } from "../../src/host/addon.js";
import { type BpfBackend, createBpfBackend } from "../../src/backend/bpf/bpf-backend.js";
import { CpuSandboxes } from "../../src/host/sandbox-cgroups.js";
import { raiseToRealtime, restoreSelf } from "../../src/backend/actuator/self-priority.js";
import { readSched, type Sched } from "../helpers/processes.js";
import { emptyPolicy, type Policy } from "../../src/contracts/policy.js";
import {
  cpuCgroupHost,
  cleanupChild,
  type GatedBurner,
  procCpuNs,
  spawnGatedBurner,
} from "./bpf-kit.js";

const { loaded, hierarchy, ready } = cpuCgroupHost();

/** Short burns 60 ms: at HZ 250 that is 15 ticks, so an even split and a 2:1 bound are far apart. */
const SHORT_MS = 60;
const POLICY: Policy = {
  ...emptyPolicy(),
  functions: {
    long: { priority: 2, predicted_ms: 1000, slice_ms: 1000 },
    short: { priority: 1, predicted_ms: SHORT_MS, slice_ms: 200 },
  },
};

interface Split {
  shortCpuMs: number;
  longDuringShortMs: number;
  /** The groups' weights as the scheduler sees them when the short one starts (an idle group weighs 3). */
  shortWeight: number;
  longWeight: number;
  /** The two sandboxes' cpu directories. */
  dirs: string[];
  /** Policy, nice and state of each when the short one starts (a failure says what the scheduler had). */
  longSched: Sched | undefined;
  shortSched: Sched | undefined;
}

describe.skipIf(!ready)("sandboxes in their own cpu cgroups", () => {
  const syscalls = loaded.ok ? addonSyscalls(loaded.addon) : undefined;
  const sandboxes = ready ? new CpuSandboxes(`alps-test-weights-${process.pid}`) : undefined;
  const weightFile = hierarchy.v1 !== undefined ? "cpu.shares" : "cpu.weight";
  /** The group's weight in cpu.shares units (v2 cpu.weight 100 = 1024), 3 when idle (WEIGHT_IDLEPRIO). */
  const effectiveWeight = (dir: string): number => {
    if (readFileSync(join(dir, "cpu.idle"), "utf8").trim() === "1") return 3;
    const w = Number(readFileSync(join(dir, weightFile), "utf8").trim());
    return hierarchy.v1 !== undefined ? w : (w * 1024) / 100;
  };
  let backend: BpfBackend | undefined;

  beforeAll(() => raiseToRealtime(50));
  afterEach(async () => {
    await backend?.close();
    backend = undefined;
  });
  afterAll(() => {
    restoreSelf();
    expect(sandboxes?.remove() ?? []).toEqual([]);
  });

  /** One long and one short burner, each in its own sandbox, on one core; `alps` decides who registers. */
  async function race(label: string, alps: boolean): Promise<Split> {
    if (!syscalls || !sandboxes) throw new Error("not ready");
    const cpu = (syscalls.getAffinity(process.pid).at(-1) ?? 0) as number;
    const longBox = sandboxes.create(`${label}-long`);
    const shortBox = sandboxes.create(`${label}-short`);
    let long: GatedBurner | undefined;
    let short: GatedBurner | undefined;
    try {
      // Pinned before they are moved: each group's load is on `cpu` alone (spawnGatedBurner).
      long = await spawnGatedBurner("b700", 4000, undefined, cpu);
      short = await spawnGatedBurner(`b${SHORT_MS}`, 4000, undefined, cpu);
      longBox.add(long.pid);
      shortBox.add(short.pid);
      if (alps) backend?.startInvocation("long", long.pid);
      const longDone = long.release();
      await new Promise((r) => setTimeout(r, 120));
      if (alps) backend?.startInvocation("short", short.pid);
      const shortWeight = effectiveWeight(shortBox.cpuDir);
      const longWeight = effectiveWeight(longBox.cpuDir);
      const longSched = readSched(long.pid);
      const shortSched = readSched(short.pid);
      const longBefore = procCpuNs(long.pid);
      const res = await short.release();
      const longDuringShortMs = (procCpuNs(long.pid) - longBefore) / 1e6;
      if (alps) backend?.endInvocation(short.pid);
      expect(res.exitCode).toBe(0);
      const main = res.samples.filter((s) => s.who === "main");
      const shortCpuMs = ((main.at(-1)?.cpuUs ?? 0) - (main[0]?.cpuUs ?? 0)) / 1000;
      long.child.kill("SIGKILL");
      await longDone;
      if (alps) backend?.endInvocation(long.pid);
      return {
        shortCpuMs,
        longDuringShortMs,
        shortWeight,
        longWeight,
        dirs: [shortBox.cpuDir, longBox.cpuDir],
        longSched,
        shortSched,
      };
    } finally {
      cleanupChild(long?.child, syscalls);
      cleanupChild(short?.child, syscalls);
    }
  }

  it("with alps, the short sandbox's group carries its boost and it runs first", async () => {
    backend = await createBpfBackend({ strategy: "dynamic" });
    backend.applyPolicy(POLICY);
    const split = await race("alps", true);
    expect(split.shortCpuMs).toBeGreaterThanOrEqual(SHORT_MS - 1);
    // What alps decided: the short group outweighs the long one.
    expect(split.shortWeight).toBeGreaterThan(split.longWeight);
    expect(split.longDuringShortMs).toBeLessThanOrEqual(0.5 * split.shortCpuMs);
    const counters = backend.status().counters;
    expect(counters.nr_targets_cgroup).toBeGreaterThanOrEqual(2);
    expect(counters.nr_group_write_errors).toBe(0);
  });

  it("groups are put back to their own weight when the invocations end", async () => {
    backend = await createBpfBackend({ strategy: "dynamic" });
    backend.applyPolicy(POLICY);
    const { dirs } = await race("restored", true);
    // The kernel's defaults, which the groups were created with.
    const own = hierarchy.v1 !== undefined ? "1024" : "100";
    for (const dir of dirs) {
      expect(readFileSync(join(dir, weightFile), "utf8").trim()).toBe(own);
      expect(readFileSync(join(dir, "cpu.idle"), "utf8").trim()).toBe("0");
    }
    const counters = backend.status().counters;
    expect(counters.nr_group_restores).toBeGreaterThanOrEqual(2);
    expect(backend.actuator.targets?.groups()).toEqual([]);
  });

  it("nice levels alone do not cross groups: the core is split about evenly", async () => {
    backend = await createBpfBackend({ strategy: "dynamic", groupWeights: false });
    backend.applyPolicy(POLICY);
    const split = await race("nice-only", true);
    // The long one yields under SCHED_IDLE at times here (weight 3 in its
    // group). Beside stress-ng, burners pinned only after their move into
    // the groups left such a group starved in 8 of 40 runs (the long one
    // got 0.5-9 % of the short one's CPU, always at SCHED_IDLE); pinned
    // from their first instruction, in 0 of 37 (12 of them with the long
    // one forced to SCHED_IDLE). See spawnGatedBurner's `cpu`. The message
    // keeps what the scheduler had.
    expect(split.longDuringShortMs, JSON.stringify(split)).toBeGreaterThan(0.5 * split.shortCpuMs);
  });

  it("without alps the core is split about evenly", async () => {
    const split = await race("off", false);
    expect(split.shortWeight).toBe(split.longWeight);
    expect(split.longDuringShortMs).toBeGreaterThan(0.5 * split.shortCpuMs);
  });
});
