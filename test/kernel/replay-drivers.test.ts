/**
 * The replay's real paths, each on a short trace (a few seconds):
 * - driver api with warm and with fork workers: an `alps daemon` process the
 *   replay started, every invocation registered through the control API
 *   before its first instruction (each worker reports its own nice level and
 *   policy at that instruction: the level the policy gives, never nice 0);
 * - driver sandbox: no invocation registered, the daemon's bursts compared
 *   with the real invocations;
 * - baseline none: no alps BPF program loaded while it runs, no daemon, every
 *   first instruction at nice 0 on SCHED_OTHER, each worker in a cpu cgroup
 *   of its own;
 * and after each: no worker, no daemon, no cgroup (v2 or v1 cpu) left, the
 * dispatcher back on SCHED_OTHER.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  curveForPolicy,
  DEFAULT_IDLE_FROM,
  dynamicLevel,
  runsIdle,
} from "../../src/contracts/levels.js";
import type { Policy } from "../../src/contracts/policy.js";
import { readCpuHierarchy } from "../../src/host/cpu-cgroups.js";
import { burnerUnavailable } from "../../src/replay/burner.js";
import { type ReplayResult, replay, replayCgroupRoot } from "../../src/replay/index.js";
import {
  leftoverCgroup,
  leftoverWorkers,
  ownThreadPolicies,
  replayDaemons,
  shortLongTrace,
  writeTrace,
} from "../replay/replay-fixtures.js";
import { requireHost } from "../helpers/host.js";
import { bpfHost } from "./bpf-kit.js";

const { ready } = bpfHost();
const FORK_READY = requireHost(
  `the fork burner (${burnerUnavailable() ?? "built"})`,
  burnerUnavailable() === undefined,
);
const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

/** Every function starts its bursts at one known level: predicted 1 ms, boosted for 500 ms. */
const POLICY: Policy = {
  functions: {},
  default: { priority: 1, predicted_ms: 1, slice_ms: 500 },
};
const EXPECTED_LEVEL = dynamicLevel(1, 0, 500, curveForPolicy(POLICY));
const EXPECTED_POLICY = runsIdle(EXPECTED_LEVEL, DEFAULT_IDLE_FROM) ? SCHED_IDLE : SCHED_OTHER;

function shortTrace(dir: string, seed: number): { path: string; count: number } {
  const trace = shortLongTrace({ spanS: 3, load: 0.5, cores: 2, seed });
  return { path: writeTrace(dir, trace), count: trace.length };
}

function policyFile(dir: string): string {
  const file = join(dir, "policy.json");
  writeFileSync(file, JSON.stringify(POLICY));
  return file;
}

let daemonsBefore = new Set<number>();

function expectNothingLeft(): void {
  expect(leftoverWorkers(process.pid)).toEqual([]);
  expect(leftoverCgroup(process.pid)).toBe(false);
  expect(replayDaemons().filter((d) => !daemonsBefore.has(d))).toEqual([]);
  expect(ownThreadPolicies().every((p) => p === 0)).toBe(true);
}

afterEach(() => {
  // Only if an assertion failed with something still running: end what the replay started, by pid.
  for (const w of leftoverWorkers(process.pid)) process.kill(w, "SIGKILL");
  for (const d of replayDaemons()) if (!daemonsBefore.has(d)) process.kill(d, "SIGTERM");
});

/** The cpu cgroup of `pid` (the v1 cpu hierarchy on a hybrid host, else v2); throws once it exited. */
function cpuCgroupOf(pid: number, onV1: boolean): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, "utf8")
    .split("\n")
    .find((l) => (onV1 ? l.split(":")[1]?.split(",").includes("cpu") : l.startsWith("0::")));
  if (line === undefined) throw new Error(`/proc/${pid}/cgroup names no cpu cgroup`);
  return line.split(":")[2] ?? "";
}

function onlyRun(result: ReplayResult) {
  expect(result.runs).toHaveLength(1);
  const run = result.runs[0]?.run;
  if (run === undefined) throw new Error("no run");
  return run;
}

describe.skipIf(!ready)("replay drivers", () => {
  // Each protocol of the API once: warm workers over the line protocol (the default), fork over
  // HTTP; and fork workers the daemon continues itself (registration resume).
  for (const [workers, apiProtocol, registration] of [
    ["warm", "line", "await"],
    ["fork", "http", "await"],
    ["fork", "line", "resume"],
  ] as const) {
    it.skipIf(workers === "fork" && !FORK_READY)(
      `api + ${workers} over ${apiProtocol}, registration ${registration}: every invocation registered through the daemon before its first instruction`,
      async () => {
        daemonsBefore = new Set(replayDaemons());
        const dir = mkdtempSync(join(tmpdir(), `alps-replay-api-${workers}-`));
        const { path, count } = shortTrace(dir, 11);
        const result = await replay({
          tracePath: path,
          modes: ["alps"],
          drivers: ["api"],
          workers,
          sandboxCgroups: "cpu",
          cores: 2,
          outDir: dir,
          daemonArgs: ["--policy-file", policyFile(dir)],
          apiProtocol,
          registration,
        });
        const run = onlyRun(result);
        expect(run.mode).toBe("alps");
        expect(run.setup).toEqual({ driver: "api", workers, sandboxCgroups: "cpu" });
        expect(run.invocations).toHaveLength(count);
        for (const m of run.invocations) {
          expect(m.registerMs, `invocation ${m.index} registered`).toBeDefined();
          // At the policy's level from the first instruction: registration came first.
          expect([m.index, m.firstNice, m.firstPolicy]).toEqual([
            m.index,
            EXPECTED_LEVEL,
            EXPECTED_POLICY,
          ]);
        }
        expect(EXPECTED_LEVEL).not.toBe(0);
        // The daemon saw each one: its backend counted the registrations.
        expect(run.backendStatus?.counters.nr_invocations).toBe(count);
        if (workers === "fork") expect(new Set(run.invocations.map((m) => m.pid)).size).toBe(count);
        const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as {
          setup: unknown;
          details: Record<string, { driver: string; first_instruction: unknown }>;
        };
        expect(summary.setup).toEqual({
          workers,
          sandbox_cgroups: "cpu",
          drivers: ["api"],
          api_protocol: apiProtocol,
          registration,
        });
        expect(run.reasons.join("\n")).toContain(
          apiProtocol === "line" ? "over the line protocol on " : "over HTTP (--api-protocol http)",
        );
        expect(run.reasons.join("\n")).toContain(`registration ${registration}: `);
        expect(summary.details.alps?.driver).toBe("api");
        expect(summary.details.alps?.first_instruction).toEqual({
          at_base: 0,
          at_other_level: count,
          unknown: 0,
        });
        expectNothingLeft();
      },
      180_000,
    );
  }

  // No --registration asked for: warm workers' default, concurrent (the replay's headline path).
  it("api + warm, registration by default: concurrent, every invocation registered and ended, the run labelled", async () => {
    daemonsBefore = new Set(replayDaemons());
    const dir = mkdtempSync(join(tmpdir(), "alps-replay-api-concurrent-"));
    const { path, count } = shortTrace(dir, 12);
    const result = await replay({
      tracePath: path,
      modes: ["alps"],
      drivers: ["api"],
      workers: "warm",
      sandboxCgroups: "cpu",
      cores: 2,
      outDir: dir,
      daemonArgs: ["--policy-file", policyFile(dir)],
    });
    const run = onlyRun(result);
    expect(run.invocations).toHaveLength(count);
    // Every registration was answered (its id ended the invocation), none refused.
    for (const m of run.invocations)
      expect(m.registerMs, `invocation ${m.index} registered`).toBeDefined();
    expect(run.backendStatus?.counters.nr_invocations).toBe(count);
    expect(run.reasons.join("\n")).toContain("registration concurrent: ");
    const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as {
      setup: unknown;
    };
    expect(summary.setup).toEqual({
      workers: "warm",
      sandbox_cgroups: "cpu",
      drivers: ["api"],
      api_protocol: "line",
      registration: "concurrent",
    });
    expectNothingLeft();
  }, 180_000);

  it("sandbox: nothing registered, the daemon's bursts set against the real invocations", async () => {
    daemonsBefore = new Set(replayDaemons());
    const dir = mkdtempSync(join(tmpdir(), "alps-replay-sandbox-"));
    const { path, count } = shortTrace(dir, 12);
    const result = await replay({
      tracePath: path,
      modes: ["alps"],
      drivers: ["sandbox"],
      workers: "warm",
      sandboxCgroups: "cpu",
      cores: 2,
      outDir: dir,
    });
    const run = onlyRun(result);
    expect(run.setup.driver).toBe("sandbox");
    expect(run.invocations).toHaveLength(count);
    expect(run.invocations.every((m) => m.registerMs === undefined)).toBe(true);
    expect(run.backendStatus?.counters.nr_invocations).toBe(0);
    const inference = run.inference;
    if (inference === undefined) throw new Error("no inference report");
    expect(inference.invocations).toBe(count);
    // Each invocation is one run of its worker's thread: nearly all show up as a burst of it,
    // with about its CPU (a little more: reading the command and writing the report).
    expect(inference.matched, JSON.stringify(inference)).toBeGreaterThanOrEqual(0.9 * count);
    expect(inference.cpu_ratio.p50).toBeGreaterThan(0.8);
    expect(inference.cpu_ratio.p50).toBeLessThan(1.25);
    expect(inference.lost).toBe(0);
    const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as {
      details: Record<string, { inference: { matched: number } | null }>;
    };
    expect(summary.details.alps?.inference?.matched).toBe(inference.matched);
    expect(readFileSync(join(dir, "report.html"), "utf8")).toMatch(/Inferred invocations/);
    expectNothingLeft();
  }, 180_000);

  it.skipIf(!FORK_READY)(
    "sandbox + fork: a parked process is seen once, when its invocation wakes it, never while parked",
    async () => {
      daemonsBefore = new Set(replayDaemons());
      const dir = mkdtempSync(join(tmpdir(), "alps-replay-sandbox-fork-"));
      const { path, count } = shortTrace(dir, 14);
      const result = await replay({
        tracePath: path,
        modes: ["alps"],
        drivers: ["sandbox"],
        workers: "fork",
        sandboxCgroups: "cpu",
        cores: 2,
        outDir: dir,
      });
      const run = onlyRun(result);
      expect(run.invocations).toHaveLength(count);
      expect(new Set(run.invocations.map((m) => m.pid)).size).toBe(count);
      const inference = run.inference;
      if (inference === undefined) throw new Error("no inference report");
      // Every process was forked and moved into its sandbox before its invocation (parked,
      // stopped): the move may sleep, so a process that woke inside the sandbox while parking
      // would show as a burst of its own (spurious) or as the start of its invocation's burst
      // long before the invocation began.
      expect(inference.matched, JSON.stringify(inference)).toBe(count);
      expect(inference.spurious_early, JSON.stringify(inference)).toBe(0);
      // A spare process, parked and never given an invocation, would count among the rest
      // (its tid ran none); so would any task the replay did not start. The examples say which.
      expect(inference.spurious, JSON.stringify(inference)).toBe(0);
      expect(inference.lost).toBe(0);
      expectNothingLeft();
    },
    180_000,
  );

  it("none: no alps BPF program and no daemon while it runs, sandboxes in cpu cgroups of their own", async () => {
    daemonsBefore = new Set(replayDaemons());
    const dir = mkdtempSync(join(tmpdir(), "alps-replay-none-"));
    const { path, count } = shortTrace(dir, 13);
    const alpsPrograms = (): Promise<string[]> =>
      new Promise((resolve, reject) => {
        // chrt: the dispatcher is SCHED_FIFO during the run; bpftool need not be.
        const child = spawn("chrt", ["--other", "0", "bpftool", "prog", "show", "--json"], {
          stdio: ["ignore", "pipe", "inherit"],
        });
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
        });
        child.on("error", reject);
        // "close", not "exit": exit may come before the last of stdout has been read, and a
        // throw in here would leave the promise (and the watcher awaiting it) unsettled.
        child.on("close", (code) => {
          if (code !== 0) return reject(new Error(`bpftool exited ${code}`));
          let progs: Array<{ id: number; name?: string; pids?: unknown }>;
          try {
            progs = JSON.parse(out) as typeof progs;
          } catch (error) {
            return reject(new Error(`bpftool printed no JSON (${String(error)}): ${out}`));
          }
          resolve(
            progs
              .filter((p) => p.name?.startsWith("alps_"))
              .map((p) => `${p.id} ${p.name} ${JSON.stringify(p.pids ?? [])}`),
          );
        });
      });
    expect(await alpsPrograms(), "alps BPF programs loaded before the run").toEqual([]);
    const seen: string[] = [];
    // Every cpu cgroup each worker was seen in. A warm worker is spawned in the replay's
    // own cgroup and placed in its sandbox at once, before its first invocation; at the
    // end the replay moves whatever is left back to the hierarchy's root before it
    // removes the sandbox. A poll may catch a worker on either side of its sandbox.
    const cpuCgroupsOf = new Map<number, Set<string>>();
    let polls = 0;
    let running = true;
    const onV1 = readCpuHierarchy().v1 !== undefined;
    const watcher = (async () => {
      while (running) {
        seen.push(...(await alpsPrograms()));
        polls++;
        for (const pid of leftoverWorkers(process.pid)) {
          try {
            const seenIn = cpuCgroupsOf.get(pid) ?? new Set<string>();
            seenIn.add(cpuCgroupOf(pid, onV1));
            cpuCgroupsOf.set(pid, seenIn);
          } catch {
            // Exited meanwhile.
          }
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    let result: ReplayResult;
    try {
      result = await replay({
        tracePath: path,
        modes: ["none"],
        workers: "warm",
        sandboxCgroups: "cpu",
        cores: 2,
        outDir: dir,
      });
    } finally {
      running = false;
      await watcher;
    }
    expect(seen, "alps BPF programs loaded during the none run").toEqual([]);
    expect(polls).toBeGreaterThan(2);
    const run = onlyRun(result);
    expect(run.mode).toBe("none");
    expect(run.setup.driver).toBeUndefined();
    expect(run.invocations).toHaveLength(count);
    expect(run.invocations.every((m) => m.firstNice === 0 && m.firstPolicy === SCHED_OTHER)).toBe(
      true,
    );
    expect(run.backendStatus).toBeUndefined();
    // Warm workers in sandboxes of their own: one cpu cgroup each, below the replay's root,
    // besides the cgroups a worker passes through (the replay's own, the hierarchy's root).
    const root = `/${replayCgroupRoot(process.pid)}/`;
    const passedThrough = new Set(["/", cpuCgroupOf(process.pid, onV1)]);
    const sandboxes = new Set<string>();
    let placed = 0;
    for (const [pid, seenIn] of cpuCgroupsOf) {
      const own = [...seenIn].filter((c) => !passedThrough.has(c));
      expect(own.length, `worker ${pid} seen in ${[...seenIn].join(" ")}`).toBeLessThanOrEqual(1);
      for (const c of own) {
        expect(c.startsWith(root), `worker ${pid} seen in ${c}`).toBe(true);
        sandboxes.add(c);
        placed++;
      }
    }
    expect(sandboxes.size).toBeGreaterThan(1);
    expect(sandboxes.size, "no two workers share a sandbox").toBe(placed);
    expect(result.summary.baseline?.key).toBe("none");
    expect(result.summary.vs_baseline.none?.mean_turnaround_ratio).toBe(1);
    // The decile table: ten mean slowdowns, none below 1 (a run never beats its duration).
    expect(result.summary.deciles.none).toHaveLength(10);
    expect(Math.min(...(result.summary.deciles.none ?? []))).toBeGreaterThanOrEqual(1);
    expectNothingLeft();
  }, 180_000);
});
