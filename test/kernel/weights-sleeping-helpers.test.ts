/**
 * A warm worker in a sandbox of its own: its runtime has helper threads
 * that sleep nearly always and wake now and then. The kernel posts a
 * sleeping task's next-burst level (its boost) as it blocks, so a group
 * that counted every member's level kept the function's boost for the whole
 * invocation. The group must follow the members that run: once the worker's
 * own thread has run past its slice, the sandbox is back at its own weight,
 * however often the helper wakes.
 *
 * What is asserted is what alps wrote on the group (cpu.shares or
 * cpu.weight, cpu.idle) while the worker's own thread was past its slice,
 * judged by that thread's own CPU clock; no timing of the scheduler.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { addonSyscalls } from "../../src/host/addon.js";
import { type BpfBackend, createBpfBackend } from "../../src/backend/bpf/bpf-backend.js";
import { CpuSandboxes } from "../../src/host/sandbox-cgroups.js";
import { raiseToRealtime, restoreSelf } from "../../src/backend/actuator/self-priority.js";
import { emptyPolicy, type Policy } from "../../src/contracts/policy.js";
import { cpuCgroupHost, cleanupChild, procCpuNs } from "./bpf-kit.js";

const { loaded, hierarchy, ready } = cpuCgroupHost();

const SLICE_MS = 100;
const POLICY: Policy = {
  ...emptyPolicy(),
  functions: { worker: { priority: 1, predicted_ms: 20, slice_ms: SLICE_MS } },
};
/** The worker's own thread burns at most this much CPU (its bound), then exits. */
const BURN_MS = 700;

/**
 * A Node process whose worker thread wakes every 2 ms (a runtime's helper),
 * and whose main thread, once told on stdin, burns BURN_MS of its own CPU.
 */
const WORKER_SOURCE = `
const { Worker } = require("node:worker_threads");
const helper = new Worker(
  "const a = new Int32Array(new SharedArrayBuffer(4)); for (;;) Atomics.wait(a, 0, 0, 2);",
  { eval: true },
);
helper.unref();
helper.on("online", () => process.stdout.write("ready\\n"));
process.stdin.once("data", () => {
  const start = process.cpuUsage();
  const wall = Date.now();
  // The clock is read every 100 000 turns: little garbage, so the
  // runtime's GC threads seldom wake.
  for (let i = 0; ; i++) {
    if (i % 100000 !== 0) continue;
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ${BURN_MS} || Date.now() - wall > 10000) break;
  }
  process.exit(0);
});
`;

describe.skipIf(!ready)("a sandbox whose worker has sleeping helper threads", () => {
  const syscalls = loaded.ok ? addonSyscalls(loaded.addon) : undefined;
  const sandboxes = ready ? new CpuSandboxes(`alps-test-helpers-${process.pid}`) : undefined;
  const weightFile = hierarchy.v1 !== undefined ? "cpu.shares" : "cpu.weight";
  let backend: BpfBackend | undefined;
  let child: ChildProcess | undefined;

  beforeAll(() => raiseToRealtime(50));
  afterEach(async () => {
    if (syscalls) cleanupChild(child, syscalls);
    child = undefined;
    await backend?.close();
    backend = undefined;
  });
  afterAll(() => {
    restoreSelf();
    expect(sandboxes?.remove() ?? []).toEqual([]);
  });

  it("goes back to its own weight once the worker's own thread is past its slice", async () => {
    if (!syscalls || !sandboxes) throw new Error("not ready");
    backend = await createBpfBackend({ strategy: "dynamic" });
    backend.applyPolicy(POLICY);
    const box = sandboxes.create("worker");
    const own = readFileSync(join(box.cpuDir, weightFile), "utf8").trim();
    const proc = spawn(process.execPath, ["-e", WORKER_SOURCE], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    child = proc;
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    await new Promise<void>((resolve, reject) => {
      proc.stdout?.once("data", () => resolve());
      proc.once("exit", () => reject(new Error("the worker exited before it was ready")));
    });
    const pid = proc.pid ?? 0;
    box.add(pid);
    backend.startInvocation("worker", pid);
    // The group carries the boost as the invocation starts.
    await Promise.resolve();
    const boosted = readFileSync(join(box.cpuDir, weightFile), "utf8").trim();
    proc.stdin?.write("go\n");

    // Sample what alps wrote while the own thread is between 2 and 6
    // slices into its burst: its boost is long gone there.
    const samples: { cpuMs: number; weight: string; idle: string }[] = [];
    for (;;) {
      let cpuMs: number;
      try {
        cpuMs = procCpuNs(pid) / 1e6;
      } catch {
        break; // exited
      }
      if (cpuMs > 6 * SLICE_MS) break;
      if (cpuMs >= 2 * SLICE_MS)
        samples.push({
          cpuMs,
          weight: readFileSync(join(box.cpuDir, weightFile), "utf8").trim(),
          idle: readFileSync(join(box.cpuDir, "cpu.idle"), "utf8").trim(),
        });
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await exited).toBe(0);
    backend.endInvocation(pid);

    expect(Number(boosted)).toBeGreaterThan(Number(own));
    expect(samples.length).toBeGreaterThan(3);
    // A helper that wakes and runs a burst of its own (the runtime's GC
    // threads do, unasked) is a running member at its boost for that burst,
    // so a sample may catch the group boosted then. The previous rule, which
    // counted sleeping members, held every sample at the boost.
    const atOwn = samples.filter((s) => s.weight === own && s.idle === "0").length;
    expect(atOwn, JSON.stringify(samples)).toBeGreaterThan(samples.length / 2);
    const counters = backend.status().counters;
    // The helper was registered with the invocation and posted its levels.
    expect(counters.nr_helper_register_errors).toBe(0);
    expect(counters.nr_blocked).toBeGreaterThan(10);
    expect(counters.nr_group_write_errors).toBe(0);
  });
});
