/**
 * Docker's cgroupfs driver, both layouts, built for real beside a local
 * Docker Engine API:
 *   - v2 (a pure v2 host, or a hybrid one whose runc joins v2): each
 *     container's init in `<v2>/docker/<id>` — accepted;
 *   - hybrid, runc not joining v2: each init in v1 `docker/<id>` (the host's
 *     cpu hierarchy when it has one) but all in one v2 cgroup, the shim's —
 *     refused, and the built `alps doctor --platform openwhisk` says why,
 *     gives the fix and exits 1.
 * Needs `npm run build` first (doctor runs from dist/).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { OpenWhiskAdapter } from "../../src/frontend/platforms/openwhisk.js";
import type { PlatformReport } from "../../src/frontend/platforms/report.js";
import type { SandboxEvent } from "../../src/frontend/platforms/types.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { CgroupFixture, waitFor } from "../frontend/platforms/cgroup-fixture.js";
import { type FakeContainer, FakeDockerEngine } from "../frontend/platforms/fake-docker.js";

const CLI = join(import.meta.dirname, "../../dist/cli.js");

function doctor(
  socket: string,
  json: boolean,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  for (const v of ["PLATFORM", "PATTERN", "OL_PATH", "CGROUP_ROOT", "DOCKER_SOCKET", "NAMESPACES"])
    delete env[`ALPS_${v}`];
  const args = [CLI, "doctor", ...(json ? ["--json"] : []), "--platform", "openwhisk"];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...args, "--docker-socket", socket],
      { env, encoding: "utf8", timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe.skipIf(!requireHost("root (cgroup writes)", isRoot()))(
  "openwhisk adapter on Docker's cgroupfs layouts",
  () => {
    let fx: CgroupFixture | undefined;
    let engine: FakeDockerEngine | undefined;
    let adapter: OpenWhiskAdapter | undefined;
    let tmp: string | undefined;

    afterEach(async () => {
      await adapter?.stop();
      adapter = undefined;
      await engine?.close();
      await fx?.cleanup();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    async function engineFor(name: string): Promise<{ f: CgroupFixture; e: FakeDockerEngine }> {
      const f = new CgroupFixture(name);
      fx = f;
      tmp = mkdtempSync(join(tmpdir(), "alps-wsk-cgfs-"));
      const e = new FakeDockerEngine(join(tmp, "docker.sock"));
      engine = e;
      await e.listen();
      return { f, e };
    }

    function container(e: FakeDockerEngine, name: string, pid: number, id: string): FakeContainer {
      const c: FakeContainer = {
        id,
        name,
        pid,
        running: true,
        image: "openwhisk/action-nodejs-v20:nightly",
        labels: {},
        cgroupParent: "",
      };
      e.containers.set(id, c);
      return c;
    }

    it("accepts cgroupfs containers in <v2>/docker/<id>", async () => {
      const { f, e } = await engineFor("cgfs-v2");
      const made: { c: FakeContainer; dir: string }[] = [];
      for (const name of ["wsk0_1_guest_hello", "wsk0_2_prewarm_nodejs20"]) {
        const id = randomBytes(32).toString("hex");
        const dir = f.mkdir(join(f.root, "docker", id));
        const child = f.spawnIn(dir);
        made.push({ c: container(e, name, child.pid ?? -1, id), dir });
      }
      const events: SandboxEvent[] = [];
      const errors: Error[] = [];
      adapter = new OpenWhiskAdapter({
        dockerSocket: e.socketPath,
        onError: (x) => errors.push(x),
      });
      await adapter.start((ev) => events.push(ev));
      expect(events.map((ev) => [ev.fn, ev.cgroupPath]).sort()).toEqual(
        [
          ["guest_hello", made[0]?.dir],
          ["prewarm_nodejs20", made[1]?.dir],
        ].sort(),
      );
      expect(errors).toEqual([]);
      const scan = await adapter.scan();
      expect(scan.refused).toEqual([]);
    });

    it.skipIf(!existsSync(CLI))(
      "refuses the hybrid layout (v1 docker/<id>, one shared v2 cgroup) and doctor explains why",
      async () => {
        const { f, e } = await engineFor("cgfs-hybrid");
        const v1 = f.v1();
        // containerd's shim: in v2 every container stays in its cgroup.
        const shim = f.mkdir(join(f.root, "system.slice", "containerd.service"));
        const ids: string[] = [];
        for (const name of ["wsk0_1_guest_hello", "wsk0_2_prewarm_nodejs20"]) {
          const id = randomBytes(32).toString("hex");
          ids.push(id);
          const child = f.spawnIn(shim);
          // runc's cgroupfs driver puts the init in docker/<id> of each v1 hierarchy only.
          const v1Dir = f.mkdirV1(join(`alps-test-cgfs-hybrid-${process.pid}`, "docker", id));
          writeFileSync(join(v1Dir, "cgroup.procs"), `${child.pid}\n`);
          container(e, name, child.pid ?? -1, id);
          // The layout is real: the kernel reports v1 docker/<id> and the shared v2 cgroup.
          const lines = readFileSync(`/proc/${child.pid}/cgroup`, "utf8");
          expect(lines).toContain(
            `:${v1.controllers}:/alps-test-cgfs-hybrid-${process.pid}/docker/${id}\n`,
          );
          expect(lines).toContain(`0::${shim.slice(shim.indexOf("/alps-test-"))}\n`);
        }

        const events: SandboxEvent[] = [];
        const errors: Error[] = [];
        adapter = new OpenWhiskAdapter({
          dockerSocket: e.socketPath,
          onError: (x) => errors.push(x),
        });
        await adapter.start((ev) => events.push(ev));
        // Nothing declared: one function's level would have gone to every container.
        expect(events).toEqual([]);
        expect(errors.map((x) => x.message)).toEqual(
          ids.map((id) =>
            expect.stringContaining(`(${id.slice(0, 12)}) not declared: its init's cgroup v2 path`),
          ),
        );
        const scan = await adapter.scan();
        expect(scan.sandboxes).toEqual([]);
        expect(scan.refused.map((r) => [r.name, r.problem, r.cgroupPath]).sort()).toEqual([
          ["wsk0_1_guest_hello", "unnamed-cgroup", shim],
          ["wsk0_2_prewarm_nodejs20", "unnamed-cgroup", shim],
        ]);
        await adapter.stop();
        adapter = undefined;

        // doctor: the report names the layout, why, and the fix; exit 1.
        const json = await doctor(e.socketPath, true);
        expect(json.code).toBe(1);
        const report = (JSON.parse(json.stdout) as { platform: PlatformReport }).platform;
        expect(report.ok).toBe(true);
        expect(report.sandboxes).toEqual([]);
        expect(report.refused).toHaveLength(2);
        expect(report.refused[0]?.named_in_v1[0]).toMatch(/docker\/[0-9a-f]{64}$/);
        expect(report.layout.supported).toBe(false);
        expect(report.layout.problem).toMatch(/cgroupfs driver on a hybrid cgroup host/);
        expect(report.layout.problem).toContain(`${shim}, shared by 2 of them`);
        expect(report.layout.fix).toMatch(/native\.cgroupdriver=systemd/);
        expect(report.layout.fix).toMatch(/systemd\.unified_cgroup_hierarchy=1/);
        expect(json.stderr).toMatch(/host layout unsupported/);

        const text = await doctor(e.socketPath, false);
        if (process.env.ALPS_TEST_VERBOSE) console.log(text.stdout);
        expect(text.code).toBe(1);
        expect(text.stdout).toMatch(/refused {6}2 containers/);
        expect(text.stdout).toMatch(/layout {7}unsupported: Docker's cgroupfs driver on a hybrid/);
        expect(text.stdout).toMatch(/fix {10}run Docker with the systemd cgroup driver/);
      },
    );

    it("refuses a container whose cgroup another container's init is in, at scan and on start", async () => {
      const { f, e } = await engineFor("cgfs-shared");
      const id = randomBytes(32).toString("hex");
      const dir = f.mkdir(join(f.root, "docker", id));
      const child = f.spawnIn(dir);
      container(e, "wsk0_1_guest_hello", child.pid ?? -1, id);
      adapter = new OpenWhiskAdapter({ dockerSocket: e.socketPath, onError: () => {} });
      expect((await adapter.scan()).sandboxes.map((s) => s.fn)).toEqual(["guest_hello"]);

      // A second container whose init is in the first one's cgroup (Docker never reports
      // that, but the adapter does not rely on it): it is not named there, and the first
      // one's cgroup is no longer its own.
      const twinId = randomBytes(32).toString("hex");
      const twin = container(e, "wsk0_2_guest_other", child.pid ?? -1, twinId);
      const scan = await adapter.scan();
      expect(scan.sandboxes).toEqual([]);
      expect(scan.refused.map((r) => [r.name, r.problem]).sort()).toEqual([
        ["wsk0_1_guest_hello", "shared-cgroup"],
        ["wsk0_2_guest_other", "unnamed-cgroup"],
      ]);

      // Followed live: the first is declared, then withdrawn when the twin starts.
      e.containers.delete(twinId);
      const events: SandboxEvent[] = [];
      const errors: string[] = [];
      const live = new OpenWhiskAdapter({
        dockerSocket: e.socketPath,
        onError: (x) => errors.push(x.message),
      });
      adapter = live;
      await live.start((ev) => events.push(ev));
      expect(events.map((ev) => [ev.type, ev.fn])).toEqual([["add", "guest_hello"]]);
      e.containers.set(twinId, twin);
      e.emit("start", twin);
      await waitFor(() => events.length === 2, 1000, "shared container withdrawn");
      expect(events[1]).toMatchObject({ type: "remove", fn: "guest_hello", cgroupPath: dir });
      expect(errors).toEqual([
        expect.stringMatching(
          /wsk0_1_guest_hello .* not declared: its cgroup .* holds another container's init too/,
        ),
        expect.stringMatching(/wsk0_2_guest_other .* not declared: its init's cgroup v2 path/),
      ]);
    });
  },
);
