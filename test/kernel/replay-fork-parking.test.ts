/**
 * How `--workers fork` parks a process ahead of its invocation (the burn-fork
 * zygote, driven by the replay's own Zygote class, into sandboxes made by the
 * replay's SandboxSet, layout cpu):
 * - a parked process is stopped, inside its sandbox's cgroups (the v1 cpu
 *   cgroup on a hybrid host, and the v2 directory), on SCHED_OTHER nice 0;
 * - it got there without running a single instruction inside its sandbox:
 *   the sandbox's v2 directory has accounted no CPU time at all (cpu.stat
 *   usage_usec, counted in ns by the kernel whatever controllers are on),
 *   and the same counter does grow once the invocation runs there. The old
 *   flow (the child demoted itself and wrote its own pid, then stopped) ran
 *   inside the sandbox after the last move and fails this;
 * - every thread of the zygote (its main loop and the mover) is on SCHED_FIFO;
 * - a move a cgroup refuses is reported as E naming the path and the errno,
 *   and the child is killed and reaped, never left stopped;
 * - a park asked for right after a go is held back for the zygote's quiet
 *   time (2 ms), so the process just continued does not wait behind a fork.
 */
import { readFileSync } from "node:fs";
import { dirname, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cgroup2Mount } from "../../src/host/cgroups.js";
import { parseProcCgroup, readCpuHierarchy } from "../../src/host/cpu-cgroups.js";
import { listChildren, readTaskStat, threadsOf } from "../../src/host/proc-stat.js";
import { loadSyscalls } from "../../src/host/syscalls.js";
import { burnerUnavailable } from "../../src/replay/burner.js";
import { Zygote } from "../../src/replay/fork-workers.js";
import { type Sandbox, SandboxSet } from "../../src/replay/sandboxes.js";
import { requireHost } from "../helpers/host.js";
import { bpfHost } from "./bpf-kit.js";

const { ready } = bpfHost();
const FORK_READY = requireHost(
  `the fork burner (${burnerUnavailable() ?? "built"})`,
  burnerUnavailable() === undefined,
);
const SCHED_OTHER = 0;
const SCHED_FIFO = 1;

/** CPU time accounted to a cgroup v2 directory (all its tasks, ever), µs. */
function usageUsec(v2Dir: string): number {
  const line = readFileSync(`${v2Dir}/cpu.stat`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("usage_usec "));
  if (line === undefined) throw new Error(`${v2Dir}/cpu.stat has no usage_usec`);
  return Number(line.split(" ")[1]);
}

/** Waits (asleep, up to 10 s) until `check` holds; returns whether it did. */
async function eventually(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

let zygote: Zygote | undefined;
let sandboxes: SandboxSet | undefined;

afterEach(async () => {
  // The zygote kills and reaps its children (parked ones included) before it exits.
  await zygote?.close();
  zygote = undefined;
  const failures = (await sandboxes?.removeAll()) ?? [];
  sandboxes = undefined;
  expect(failures).toEqual([]);
});

async function setUp(): Promise<{ zyg: Zygote; sandbox: Sandbox }> {
  sandboxes = new SandboxSet(process.pid, "cpu", {
    declareSandbox: () => Promise.resolve(),
    undeclareSandbox: () => Promise.resolve(),
  });
  sandboxes.setFunctions(["f"]);
  const sandbox = await sandboxes.create("f", "s0");
  zygote = Zygote.start(loadSyscalls().syscalls, undefined, "--alps-test-parking");
  return { zyg: zygote, sandbox };
}

describe.skipIf(!ready || !FORK_READY)("fork workers: parking", () => {
  it("a parked process is stopped, in its sandbox, on SCHED_OTHER nice 0, and never ran there before its invocation", async () => {
    const { zyg, sandbox } = await setUp();
    const parked = await zyg.park(sandbox.procsFiles);
    const stat = readTaskStat(parked.pid);
    expect(stat?.state).toBe("T");
    expect([stat?.policy, stat?.nice]).toEqual([SCHED_OTHER, 0]);
    // A child of the zygote, which placed it.
    expect(stat?.ppid).toBe(zyg.pid);
    // Not one instruction inside the sandbox while parking.
    expect(usageUsec(sandbox.v2)).toBe(0);

    // In every cgroup given: the v1 cpu cgroup (hybrid host) and the v2 directory.
    const lines = parseProcCgroup(readFileSync(`/proc/${parked.pid}/cgroup`, "utf8"));
    const v2Line = lines.find((l) => l.controllers.length === 0);
    expect(v2Line?.path).toBe(`/${relative(cgroup2Mount(), sandbox.v2)}`);
    const v1 = readCpuHierarchy().v1;
    if (v1 !== undefined) {
      expect(sandbox.procsFiles).toHaveLength(2);
      const cpuDir = dirname(sandbox.procsFiles[0] ?? "");
      const cpuLine = lines.find((l) => l.controllers.includes("cpu"));
      expect(cpuLine?.path).toBe(`/${relative(v1, cpuDir)}`);
    }

    // The mover is a second thread of the zygote; both on SCHED_FIFO.
    const threads = threadsOf(zyg.pid);
    expect(threads.length).toBe(2);
    expect(threads.map((t) => readTaskStat(zyg.pid, t)?.policy)).toEqual([SCHED_FIFO, SCHED_FIFO]);

    // The counter is live: the invocation (5 ms of CPU) is accounted there.
    const done = await parked.run(5, 0, 10_000);
    expect([done.nice, done.policy]).toEqual([0, SCHED_OTHER]);
    expect(usageUsec(sandbox.v2)).toBeGreaterThanOrEqual(4000);
  }, 30_000);

  it("a park asked for right after a go is held back 2 ms; the process parked then is placed as any other", async () => {
    const { zyg, sandbox } = await setUp();
    const first = await zyg.park(sandbox.procsFiles);
    // A lower bound, so a loaded host cannot break it: the zygote reads the
    // G after this instant and parks nothing until 2 ms after that read. The
    // second process is parked without a move (no cgroup given): a move
    // waits for an RCU grace period, longer than the hold, so with one this
    // would hold without the hold too; without, it takes about 1 ms here.
    const goAt = performance.now();
    const running = first.run(5, 0, 10_000);
    const next = await zyg.park([]);
    expect(performance.now() - goAt).toBeGreaterThanOrEqual(2);
    const stat = readTaskStat(next.pid);
    expect(stat?.state).toBe("T");
    expect([stat?.policy, stat?.nice]).toEqual([SCHED_OTHER, 0]);
    const done = await running;
    expect(done.cpuMs).toBeGreaterThanOrEqual(4.5);
    // Held back, never lost: it runs its invocation like the first.
    const again = await next.run(1, 0, 10_000);
    expect([again.nice, again.policy]).toEqual([0, SCHED_OTHER]);
  }, 30_000);

  it("a cgroup that refuses the pid: E names the path and the errno, the child is killed and reaped", async () => {
    const { zyg, sandbox } = await setUp();
    // A parked one stays, to tell the failed child apart from it.
    const kept = await zyg.park(sandbox.procsFiles);
    const missing = `${sandbox.v2}/no-such-dir/cgroup.procs`;
    // The first files take it (the v1 cpu cgroup on a hybrid host), the last one refuses.
    const refused = zyg.park([...sandbox.procsFiles.slice(0, -1), missing]);
    await expect(refused).rejects.toThrow(
      `cannot join ${missing}: No such file or directory (errno 2)`,
    );
    // Reaped: the kept one is the zygote's only child again (the zygote reaps at SIGCHLD).
    expect(await eventually(() => listChildren(zyg.pid).join() === `${kept.pid}`)).toBe(true);
    expect(readTaskStat(kept.pid)?.state).toBe("T");
  }, 30_000);
});
