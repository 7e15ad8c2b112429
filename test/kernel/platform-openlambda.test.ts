/**
 * The OpenLambda adapter on a real SOCK-like worker: the worker's cgroup pool
 * (cg-<N>, some empty as the reserve), scratch and code dirs named by
 * DirMaker ("<seq>-<lambda>"), each sandbox's root with the scratch dir
 * bind-mounted at /host and code at /handler, and a real process chrooted
 * into that root and moved into its cg-<N> — as sock.go does.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { OpenLambdaAdapter } from "../../src/frontend/platforms/openlambda.js";
import type { SandboxEvent } from "../../src/frontend/platforms/types.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { CgroupFixture, waitFor } from "../frontend/platforms/cgroup-fixture.js";

describe.skipIf(!requireHost("root (cgroups, bind mounts, chroot)", isRoot()))(
  "openlambda adapter on a SOCK-like worker",
  () => {
    let fx: CgroupFixture | undefined;
    let adapter: OpenLambdaAdapter | undefined;
    const mounts: string[] = [];
    let tmp: string | undefined;

    afterEach(async () => {
      await adapter?.stop();
      await fx?.cleanup();
      for (const m of mounts.reverse()) execFileSync("umount", ["-l", m]);
      mounts.length = 0;
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    function bind(src: string, dst: string, ro = false): void {
      execFileSync("mount", ["--bind", ...(ro ? ["-o", "ro"] : []), src, dst]);
      mounts.push(dst);
    }

    /** Makes one SOCK sandbox root for `lambda` (scratch "<seq>-<scratchName>") and returns the root dir. */
    function sockRoot(worker: string, seq: number, scratchName: string, lambda: string): string {
      const scratch = join(worker, "scratch", `${seq}-${scratchName}`);
      const code = join(worker, "code", `${seq + 100}-${lambda}`);
      const root = join(worker, "root-sandboxes", `${seq + 200}-SB-${seq}`);
      mkdirSync(scratch, { recursive: true });
      mkdirSync(code, { recursive: true });
      writeFileSync(join(scratch, "bootstrap.py"), "web_server()\n");
      writeFileSync(join(code, "f.py"), "def f(event):\n    return event\n");
      for (const d of ["usr", "host", "handler", "tmp"])
        mkdirSync(join(root, d), { recursive: true });
      for (const l of ["bin", "lib", "lib64"]) symlinkSync(`usr/${l}`, join(root, l));
      bind("/usr", join(root, "usr"), true);
      bind(scratch, join(root, "host"));
      bind(code, join(root, "handler"));
      return root;
    }

    it("names each sandbox's lambda, skips reserve cgroups and Zygotes, follows start and destroy within a second", async () => {
      fx = new CgroupFixture("openlambda");
      tmp = mkdtempSync(join(tmpdir(), "alps-ol-"));
      const worker = join(tmp, "ol", "worker");
      const pool = fx.mkdir(join(fx.root, "ol-sandboxes"));
      const cg = (n: number): string => fx!.mkdir(join(pool, `cg-${n}`));
      for (const n of [1, 2, 3, 4, 5]) cg(n); // the pool's reserve, all empty for now

      const start = (root: string, cgDir: string) => {
        const child = spawn("chroot", [root, "/bin/sleep", "30"], { stdio: "ignore" });
        fx!.track(child);
        if (child.pid === undefined) throw new Error("chroot did not start");
        writeFileSync(join(cgDir, "cgroup.procs"), `${child.pid}\n`);
        return child;
      };
      start(sockRoot(worker, 1, "hello", "hello"), cg(1));
      start(sockRoot(worker, 2, "import-cache", "zygote"), cg(2)); // a Zygote: not a function sandbox

      const events: SandboxEvent[] = [];
      adapter = new OpenLambdaAdapter({ cgroupRoot: pool, pollMs: 100 });
      await adapter.start((e) => events.push(e));
      // chroot may not have entered the root yet at the first scan: allow one more.
      await waitFor(() => events.length >= 1, 1000, "hello add");
      expect(events).toEqual([{ type: "add", fn: "hello", cgroupPath: cg(1), id: cg(1) }]);

      // A new sandbox for lambda "resize" starts in cg-3.
      const resize = start(sockRoot(worker, 3, "resize", "resize"), cg(3));
      const addMs = await waitFor(() => events.some((e) => e.fn === "resize"), 1000, "resize add");
      expect(addMs).toBeLessThan(1000);
      expect(events.at(-1)).toEqual({ type: "add", fn: "resize", cgroupPath: cg(3), id: cg(3) });

      // Destroy: KillAllProcs, then the cgroup is recycled (kept, empty).
      await fx.kill(resize);
      const rmMs = await waitFor(
        () => events.some((e) => e.type === "remove" && e.fn === "resize"),
        1000,
        "resize remove",
      );
      expect(rmMs).toBeLessThan(1000);
      expect(adapter.snapshot()).toEqual([{ fn: "hello", cgroupPath: cg(1), id: cg(1) }]);
      // The recycled cg-3 now serves another lambda: a new process, a new name.
      start(sockRoot(worker, 5, "world", "world"), cg(3));
      await waitFor(() => events.some((e) => e.fn === "world"), 1000, "world add in recycled cg-3");
      expect(events.at(-1)).toEqual({ type: "add", fn: "world", cgroupPath: cg(3), id: cg(3) });
      // The newer sandboxset layout names the scratch dir "sb": the code dir names the lambda.
      start(sockRoot(worker, 4, "sb", "thumb"), cg(4));
      await waitFor(() => events.some((e) => e.fn === "thumb"), 1000, "thumb add");
      expect(
        adapter
          .snapshot()
          .map((s) => s.fn)
          .sort(),
      ).toEqual(["hello", "thumb", "world"]);
    });

    it("says where it looked when the worker's cgroup root is missing", async () => {
      adapter = new OpenLambdaAdapter({
        cgroupRoot: "/sys/fs/cgroup/unified/alps-no-such-ol-sandboxes",
      });
      await expect(adapter.start(() => {})).rejects.toThrow(
        /alps-no-such-ol-sandboxes does not exist/,
      );
    });
  },
);
