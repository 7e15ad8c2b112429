/**
 * The OpenWhisk adapter against a local Docker Engine API on a unix socket,
 * whose containers' init pids are real processes in real cgroup v2 scopes
 * laid out as Docker's systemd driver does (system.slice/docker-<id>.scope).
 */

import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { OpenWhiskAdapter } from "../../src/frontend/platforms/openwhisk.js";
import type { SandboxEvent } from "../../src/frontend/platforms/types.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { CgroupFixture, waitFor } from "../frontend/platforms/cgroup-fixture.js";
import { type FakeContainer, FakeDockerEngine } from "../frontend/platforms/fake-docker.js";

describe.skipIf(!requireHost("root (cgroup v2 writes)", isRoot()))(
  "openwhisk adapter against the Engine API",
  () => {
    let fx: CgroupFixture | undefined;
    let engine: FakeDockerEngine | undefined;
    let adapter: OpenWhiskAdapter | undefined;
    let tmp: string | undefined;

    afterEach(async () => {
      await adapter?.stop();
      await engine?.close();
      await fx?.cleanup();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it("declares action containers with their real cgroups, follows start and die, resyncs after a lost stream", async () => {
      const f = new CgroupFixture("openwhisk");
      fx = f;
      tmp = mkdtempSync(join(tmpdir(), "alps-wsk-"));
      const e = new FakeDockerEngine(join(tmp, "docker.sock"));
      engine = e;
      await e.listen();

      /** A "container": a scope cgroup with a real process as its init. */
      const run = (name: string): { c: FakeContainer; scope: string } => {
        const id = randomBytes(32).toString("hex");
        const scope = f.mkdir(join(f.root, "system.slice", `docker-${id}.scope`));
        const child = f.spawnIn(scope);
        const c: FakeContainer = {
          id,
          name,
          pid: child.pid ?? -1,
          running: true,
          image: "openwhisk/action-python-v3.11:nightly",
          labels: {},
          cgroupParent: "",
        };
        e.containers.set(id, c);
        return { c, scope };
      };
      const hello = run("wsk0_1_guest_hello");
      run("wsk0_2_prewarm_python311"); // a stem cell: no function yet
      run("redis"); // not OpenWhisk's

      const events: SandboxEvent[] = [];
      const errors: Error[] = [];
      adapter = new OpenWhiskAdapter({
        dockerSocket: e.socketPath,
        reconnectMs: 100,
        onError: (err) => errors.push(err),
      });
      await adapter.start((ev) => events.push(ev));
      expect(events).toEqual([
        { type: "add", fn: "guest/hello", cgroupPath: hello.scope, id: hello.c.id },
      ]);
      const eventsReq = e.requests.find((r) => r.startsWith("GET /events?"));
      expect(eventsReq).toBeDefined();
      expect(
        JSON.parse(
          new URL(`http://x${eventsReq}`.replace("GET ", "")).searchParams.get("filters") ?? "",
        ),
      ).toEqual({
        type: ["container"],
        event: ["start", "die"],
      });

      // The invoker starts a container for a new action.
      const resize = run("wsk0_3_whisk_system_resize");
      e.emit("start", resize.c);
      const addMs = await waitFor(() => events.length === 2, 1000, "resize add");
      expect(addMs).toBeLessThan(1000);
      // Without a namespace list the first '_' splits; with one, "whisk_system" is kept whole.
      expect(events[1]).toEqual({
        type: "add",
        fn: "whisk/system_resize",
        cgroupPath: resize.scope,
        id: resize.c.id,
      });

      // ...and removes it: the process dies, Docker posts "die".
      resize.c.running = false;
      e.emit("die", resize.c);
      const rmMs = await waitFor(() => events.length === 3, 1000, "resize remove");
      expect(rmMs).toBeLessThan(1000);
      expect(events[2]?.type).toBe("remove");
      expect(adapter.snapshot().map((s) => s.fn)).toEqual(["guest/hello"]);

      // Docker restarts: the stream drops; a container starts meanwhile (no event seen).
      e.dropStreams();
      const late = run("wsk0_4_guest_thumb");
      await waitFor(
        () => events.some((ev) => ev.fn === "guest/thumb"),
        2000,
        "resync after reconnect",
      );
      expect(events.at(-1)).toEqual({
        type: "add",
        fn: "guest/thumb",
        cgroupPath: late.scope,
        id: late.c.id,
      });
      expect(e.openStreams).toBe(1);
      expect(errors.length).toBeGreaterThan(0); // the lost stream was reported, not hidden
    });

    it("uses the configured namespaces to split names", async () => {
      const { parseActionContainerName } = await import(
        "../../src/frontend/platforms/openwhisk.js"
      );
      expect(
        parseActionContainerName("/wsk0_7_whisk_system_resize", ["whisk_system"]),
      ).toMatchObject({
        namespace: "whisk_system",
        action: "resize",
      });
    });

    it("fails start with the socket path when Docker is not there", async () => {
      adapter = new OpenWhiskAdapter({ dockerSocket: "/tmp/alps-no-such-docker.sock" });
      await expect(adapter.start(() => {})).rejects.toThrow(/alps-no-such-docker\.sock/);
    });
  },
);
