/**
 * `--workers fork` with registration resume, on the path a platform takes: a
 * real `alps daemon --mode alps` (BPF sensor, a policy that boosts every
 * function), the replay's own Zygote and SandboxSet (layout cpu), and the
 * line protocol's `S <fn> <pid> resume`:
 * - H hands the parked process its demand and leaves it stopped (nobody but
 *   the daemon continues it);
 * - the daemon continues it once its level is in place: the invocation's
 *   first instruction runs boosted (the nice it reads of itself is below
 *   0), where a G without alps runs at 0 (test/kernel/replay-fork-parking);
 * - the invocation then ends like any other.
 * Needs `npm run build` first. The zygote kills its children at close; the
 * daemon is stopped and the sandbox removed in every exit path.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { apiRequest } from "../../src/frontend/api/client.js";
import { LineClient } from "../../src/frontend/api/line-client.js";
import { readTaskStat } from "../../src/host/proc-stat.js";
import { loadSyscalls } from "../../src/host/syscalls.js";
import { burnerUnavailable } from "../../src/replay/burner.js";
import { Zygote } from "../../src/replay/fork-workers.js";
import { SandboxSet } from "../../src/replay/sandboxes.js";
import { requireHost } from "../helpers/host.js";
import { bpfHost } from "./bpf-kit.js";
import { boostingPolicy, CLI, type RunningDaemon, startDaemon } from "./tenant-kit.js";

const { ready } = bpfHost();
const runs =
  requireHost(
    `the fork burner (${burnerUnavailable() ?? "built"})`,
    burnerUnavailable() === undefined,
  ) && requireHost("the built CLI (npm run build)", existsSync(CLI));
const SCHED_OTHER = 0;

let zygote: Zygote | undefined;
let sandboxes: SandboxSet | undefined;
let daemon: RunningDaemon | undefined;
let line: LineClient | undefined;
const dir = mkdtempSync(join(tmpdir(), "alps-fork-resume-"));

afterEach(async () => {
  line?.close();
  await zygote?.close();
  zygote = undefined;
  const failures = (await sandboxes?.removeAll()) ?? [];
  sandboxes = undefined;
  await daemon?.stop();
  daemon = undefined;
  rmSync(dir, { recursive: true, force: true });
  expect(failures).toEqual([]);
});

describe.skipIf(!ready || !runs)("fork workers: the daemon continues what it registers", () => {
  it("H leaves the process stopped; S ... resume continues it at its level", async () => {
    daemon = await startDaemon(["--mode", "alps", "--policy-file", boostingPolicy(dir)]);
    const status = (await apiRequest(daemon.socket, "GET", "/v1/status")).body as {
      line_socket: string;
    };
    line = new LineClient(status.line_socket);
    sandboxes = new SandboxSet(process.pid, "cpu", {
      declareSandbox: () => Promise.resolve(),
      undeclareSandbox: () => Promise.resolve(),
    });
    sandboxes.setFunctions(["short"]);
    const sandbox = await sandboxes.create("short", "s0");
    zygote = Zygote.start(loadSyscalls().syscalls, undefined, "--alps-test-resume");
    const parked = await zygote.park(sandbox.procsFiles);

    const running = parked.run(5, 0, 10_000, "daemon");
    // The zygote has read H and written the demand by the time a second
    // park is answered (it handles its commands in order); the process is
    // still stopped.
    await zygote.park([]);
    expect(readTaskStat(parked.pid)?.state).toBe("T");

    const started = await line.start("short", parked.pid, true);
    expect(started.pid).toBe(parked.pid);
    const done = await running;
    // Continued by the daemon after its level was applied: its first
    // instruction saw itself boosted.
    expect(done.nice).toBeLessThan(0);
    expect(done.policy).toBe(SCHED_OTHER);
    expect(done.cpuMs).toBeGreaterThanOrEqual(4.5);
    const ended = await line.end(started.id, done.cpuMs);
    expect(ended.id).toBe(started.id);
  }, 60_000);
});
