/**
 * The generic adapter on a real kubepods-like tree: pods → function → container
 * cgroups with real processes; discovery, names, and following within a second.
 */

import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CgroupPatternAdapter } from "../../src/frontend/platforms/cgroup-pattern.js";
import type { SandboxEvent } from "../../src/frontend/platforms/types.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { CgroupFixture, waitFor } from "../frontend/platforms/cgroup-fixture.js";

describe.skipIf(!requireHost("root (cgroup v2 writes)", isRoot()))(
  "cgroup-pattern adapter on real cgroups",
  () => {
    let fx: CgroupFixture | undefined;
    let adapter: CgroupPatternAdapter | undefined;
    afterEach(async () => {
      await adapter?.stop();
      await fx?.cleanup();
    });

    it("discovers existing sandboxes, names functions, follows creation and removal within a second", async () => {
      fx = new CgroupFixture("pattern");
      const pods = join(fx.root, "kubepods.slice");
      // Existing: two pods, functions "fib" and "resize", one container cgroup each with a process.
      const fibCtr = fx.mkdir(join(pods, "pod-a", "fib", "ctr-1"));
      const resizeCtr = fx.mkdir(join(pods, "pod-b", "resize", "ctr-1"));
      fx.spawnIn(fibCtr);
      fx.spawnIn(resizeCtr);
      // Decoys: too shallow, and a sibling tree outside the pattern.
      fx.mkdir(join(pods, "pod-c", "half"));
      fx.mkdir(join(fx.root, "system.slice", "x", "y", "z"));

      const events: SandboxEvent[] = [];
      adapter = new CgroupPatternAdapter({ pattern: `${pods}/*/{function}/*`, pollMs: 100 });
      await adapter.start((e) => events.push(e));
      expect(events.map((e) => [e.type, e.fn, e.cgroupPath]).sort()).toEqual(
        [
          ["add", "fib", fibCtr],
          ["add", "resize", resizeCtr],
        ].sort(),
      );
      expect(adapter.snapshot()).toHaveLength(2);

      // Creation: a new pod for function "thumb".
      const thumbCtr = fx.mkdir(join(pods, "pod-d", "thumb", "ctr-9"));
      const child = fx.spawnIn(thumbCtr);
      const addMs = await waitFor(
        () => events.some((e) => e.type === "add" && e.fn === "thumb"),
        1000,
        "thumb add",
      );
      expect(addMs).toBeLessThan(1000);
      expect(events.at(-1)).toEqual({
        type: "add",
        fn: "thumb",
        cgroupPath: thumbCtr,
        id: thumbCtr,
      });

      // Removal: the platform kills the pod and removes its cgroups.
      await fx.kill(child);
      await fx.rmdir(thumbCtr);
      const rmMs = await waitFor(
        () => events.some((e) => e.type === "remove" && e.fn === "thumb"),
        1000,
        "thumb remove",
      );
      expect(rmMs).toBeLessThan(1000);
      expect(
        adapter
          .snapshot()
          .map((s) => s.fn)
          .sort(),
      ).toEqual(["fib", "resize"]);
    });

    it("refuses a pattern outside the cgroup v2 mount", async () => {
      adapter = new CgroupPatternAdapter({
        pattern: "/tmp/not-cgroup/*/{function}",
        cgroupMount: "/sys/fs/cgroup/unified",
      });
      await expect(adapter.start(() => {})).rejects.toThrow(/not inside the cgroup v2 mount/);
    });
  },
);
