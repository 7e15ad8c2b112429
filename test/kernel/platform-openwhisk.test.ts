/**
 * The OpenWhisk adapter against a local Docker Engine API on a unix socket,
 * whose containers' init pids are real processes in real cgroup v2 scopes
 * laid out as Docker's systemd driver does (system.slice/docker-<id>.scope).
 * Names are the invoker's (`wsk<n>_<seq>_<key>`), stem cells included.
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
      adapter = undefined;
      await engine?.close();
      await fx?.cleanup();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    /** A Docker engine whose "containers" are scope cgroups with a real process as their init. */
    async function setUp(name: string): Promise<{
      e: FakeDockerEngine;
      run: (name: string) => { c: FakeContainer; scope: string };
    }> {
      const f = new CgroupFixture(name);
      fx = f;
      tmp = mkdtempSync(join(tmpdir(), "alps-wsk-"));
      const e = new FakeDockerEngine(join(tmp, "docker.sock"));
      engine = e;
      await e.listen();
      const run = (cname: string): { c: FakeContainer; scope: string } => {
        const id = randomBytes(32).toString("hex");
        const scope = f.mkdir(join(f.root, "system.slice", `docker-${id}.scope`));
        const child = f.spawnIn(scope);
        const c: FakeContainer = {
          id,
          name: cname,
          pid: child.pid ?? -1,
          running: true,
          image: "openwhisk/action-nodejs-v20:nightly",
          labels: {},
          cgroupParent: "",
        };
        e.containers.set(id, c);
        return { c, scope };
      };
      return { e, run };
    }

    it("declares action containers by the whole key, follows start and die, resyncs after a lost stream", async () => {
      const { e, run } = await setUp("openwhisk");
      const hello = run("wsk0_1_guest_hello");
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
        { type: "add", fn: "guest_hello", cgroupPath: hello.scope, id: hello.c.id },
      ]);
      const eventsReq = e.requests.find((r) => r.startsWith("GET /events?"));
      expect(
        JSON.parse(
          new URL(`http://x${eventsReq}`.replace("GET ", "")).searchParams.get("filters") ?? "",
        ),
      ).toEqual({ type: ["container"], event: ["start", "die", "rename"] });

      // The invoker starts a container for an action whose namespace holds '_' (FPC, package
      // included): the key is the whole remainder, never split.
      const resize = run("wskinvoker_a0_3_whisk_system_utils_resize");
      e.emit("start", resize.c);
      const addMs = await waitFor(() => events.length === 2, 1000, "resize add");
      expect(addMs).toBeLessThan(1000);
      expect(events[1]).toEqual({
        type: "add",
        fn: "whisk_system_utils_resize",
        cgroupPath: resize.scope,
        id: resize.c.id,
      });

      // ...and removes it: the process dies, Docker posts "die".
      resize.c.running = false;
      e.emit("die", resize.c);
      const rmMs = await waitFor(() => events.length === 3, 1000, "resize remove");
      expect(rmMs).toBeLessThan(1000);
      expect(events[2]?.type).toBe("remove");
      expect(adapter.snapshot().map((s) => s.fn)).toEqual(["guest_hello"]);

      // Docker restarts: the stream drops; a container starts meanwhile (no event seen).
      e.dropStreams();
      const late = run("wsk0_4_guest_thumb");
      await waitFor(
        () => events.some((ev) => ev.fn === "guest_thumb"),
        2000,
        "resync after reconnect",
      );
      expect(events.at(-1)).toEqual({
        type: "add",
        fn: "guest_thumb",
        cgroupPath: late.scope,
        id: late.c.id,
      });
      expect(e.openStreams).toBe(1);
      expect(errors.length).toBeGreaterThan(0); // the lost stream was reported, not hidden
    });

    it("declares a prewarm_nodejs20 stem cell under its temporary key, then re-keys it when renamed on first use", async () => {
      const { e, run } = await setUp("openwhisk-prewarm");
      const stem = run("wsk0_2_prewarm_nodejs20");
      const events: SandboxEvent[] = [];
      const errors: Error[] = [];
      adapter = new OpenWhiskAdapter({
        dockerSocket: e.socketPath,
        reconnectMs: 100,
        onError: (err) => errors.push(err),
      });
      await adapter.start((ev) => events.push(ev));
      // Declared at once, so its tasks are scheduled from the start, under the temporary key.
      expect(events).toEqual([
        {
          type: "add",
          fn: "prewarm_nodejs20",
          cgroupPath: stem.scope,
          id: stem.c.id,
          provisional: true,
        },
      ]);
      expect(adapter.snapshot()).toEqual([
        { fn: "prewarm_nodejs20", cgroupPath: stem.scope, id: stem.c.id, provisional: true },
      ]);

      // First use: the container is renamed to the action's name (Docker "rename" event).
      e.rename(stem.c, "wsk0_2_guest_hello");
      await waitFor(() => events.length === 2, 1000, "re-key on rename");
      expect(events[1]).toEqual({
        type: "add",
        fn: "guest_hello",
        cgroupPath: stem.scope,
        id: stem.c.id,
        rekeyed: { from: "prewarm_nodejs20", by: "rename" },
      });
      expect(adapter.snapshot()).toEqual([
        { fn: "guest_hello", cgroupPath: stem.scope, id: stem.c.id },
      ]);

      // A rename missed while the stream was down is applied by the resync.
      const second = run("wsk0_5_prewarm_nodejs20");
      e.emit("start", second.c);
      await waitFor(() => events.length === 3, 1000, "second stem cell");
      e.dropStreams();
      second.c.name = "wsk0_5_guest_thumb"; // no event reaches the adapter
      await waitFor(
        () => events.some((ev) => ev.fn === "guest_thumb"),
        2000,
        "re-key applied by the resync",
      );
      expect(events.at(-1)).toMatchObject({
        fn: "guest_thumb",
        cgroupPath: second.scope,
        rekeyed: { from: "prewarm_nodejs20", by: "rename" },
      });

      // A container renamed away from an invoker name is no longer declared.
      e.rename(stem.c, "debug-copy");
      await waitFor(() => events.at(-1)?.type === "remove", 1000, "removed after rename away");
      expect(events.at(-1)).toMatchObject({ type: "remove", id: stem.c.id });
      // Only the dropped stream was reported: no container refused, no key disputed.
      expect(errors.filter((x) => /not declared|hook registered/.test(x.message))).toEqual([]);
    });

    it("re-keys a stem cell on the first invocation a hook registers from inside it", async () => {
      const { e, run } = await setUp("openwhisk-claim");
      const stem = run("wsk0_2_prewarm_nodejs20");
      const warm = run("wsk0_3_guest_resize");
      const events: SandboxEvent[] = [];
      const errors: Error[] = [];
      adapter = new OpenWhiskAdapter({
        dockerSocket: e.socketPath,
        onError: (err) => errors.push(err),
      });
      await adapter.start((ev) => events.push(ev));
      expect(events).toHaveLength(2);

      // An invocation outside every container changes nothing.
      adapter.noteInvocation("guest_hello", process.pid);
      // The stem cell's process registers guest_hello: the container takes that key.
      adapter.noteInvocation("guest_hello", stem.c.pid);
      await waitFor(() => events.length === 3, 1000, "re-key on first activation");
      expect(events[2]).toEqual({
        type: "add",
        fn: "guest_hello",
        cgroupPath: stem.scope,
        id: stem.c.id,
        rekeyed: { from: "prewarm_nodejs20", by: "activation" },
      });
      // Later invocations under another key do not move a settled key; the disagreement is reported once.
      adapter.noteInvocation("guest_other", stem.c.pid);
      adapter.noteInvocation("guest_other", stem.c.pid);
      adapter.noteInvocation("guest_resize", warm.c.pid); // agrees: nothing to say
      await adapter.stop();
      expect(events).toHaveLength(3);
      expect(errors.map((x) => x.message)).toEqual([
        expect.stringMatching(
          /a hook registered function "guest_other", the container name says "guest_hello"/,
        ),
      ]);
    });

    it("fails start with the socket path when Docker is not there", async () => {
      adapter = new OpenWhiskAdapter({ dockerSocket: "/tmp/alps-no-such-docker.sock" });
      await expect(adapter.start(() => {})).rejects.toThrow(/alps-no-such-docker\.sock/);
    });
  },
);
