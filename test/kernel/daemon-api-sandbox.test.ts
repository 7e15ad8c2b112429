/**
 * The pid rule's sandbox half (docs/api.md; safety invariant 1) on a real cgroup v2
 * directory: a task that is not the caller's descendant is refused until the
 * cgroup it lives in is declared as a sandbox, then accepted.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiRequest } from "../../src/frontend/api/client.js";
import { ApiServer } from "../../src/frontend/api/server.js";
import { ManualClock } from "../../src/frontend/clock.js";
import { Daemon } from "../../src/frontend/daemon.js";
import { cgroup2MountIfAny } from "../../src/host/cgroups.js";
import { isSelfOrDescendant } from "../../src/host/proc-task.js";
import { ObserveBackend } from "../frontend/observe-backend.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { rmdirWhenEmpty } from "../helpers/cgroup-dir.js";

const mount = cgroup2MountIfAny();
const runs = requireHost("root and a cgroup v2 hierarchy", isRoot() && mount !== undefined);

describe.skipIf(!runs)("control API sandbox rule on a real cgroup", () => {
  const dir = mkdtempSync(join(tmpdir(), "alps-sandbox-"));
  const socket = join(dir, "alps.sock");
  const cgroup = join(mount ?? "/", `alps-test-sandbox-${process.pid}`);
  const backend = new ObserveBackend();
  const daemon = new Daemon({ backend, clock: new ManualClock(), cores: 2, utilization: null });
  const api = new ApiServer({ daemon, socketPath: socket, maxBodyBytes: 4096, ratePerSecond: 100 });
  let orphan = 0;

  beforeAll(async () => {
    mkdirSync(cgroup);
    // Double fork: the sleep is re-parented away from us, so it is not our descendant.
    orphan = Number(
      execFileSync("sh", ["-c", "sleep 30 >/dev/null 2>&1 & echo $!"]).toString().trim(),
    );
    writeFileSync(join(cgroup, "cgroup.procs"), String(orphan));
    await api.listen();
  });

  afterAll(async () => {
    try {
      process.kill(orphan, "SIGKILL");
    } catch {
      // already gone
    }
    await api.close();
    // The cgroup can be removed once the killed task has left it.
    await rmdirWhenEmpty(cgroup);
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses the task before its sandbox is declared and accepts it after", async () => {
    expect(orphan).toBeGreaterThan(1);
    expect(isSelfOrDescendant(orphan, process.pid)).toBe(false);
    const before = await apiRequest(socket, "POST", "/v1/invocations", {
      function: "g",
      pid: orphan,
    });
    expect(before.status).toBe(403);
    const decl = await apiRequest(socket, "POST", "/v1/sandboxes", { function: "g", cgroup });
    expect(decl.status).toBe(201);
    expect(backend.sandboxes.get(cgroup)).toBe("g");
    const after = await apiRequest(socket, "POST", "/v1/invocations", {
      function: "g",
      pid: orphan,
    });
    expect(after.status).toBe(201);
    expect(backend.started).toEqual([{ fn: "g", pid: orphan }]);
    // pid 1 stays refused whatever is declared.
    expect(
      (await apiRequest(socket, "POST", "/v1/invocations", { function: "g", pid: 1 })).status,
    ).toBe(403);
  });
});
