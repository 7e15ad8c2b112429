/**
 * Install from a fresh tree, the way the Dockerfile does (issue 17 must-show):
 * `scripts/image.sh all` copies the repository's files (no node_modules,
 * dist or native build), runs `npm ci` and `npm pack` there (its prepack
 * builds everything), then `npm install -g` of the tarball into a temporary
 * prefix, and checks `alps --version`, that the addon loads and `alps doctor`.
 * This test then checks what the tarball carries and that the installed
 * `alps doctor --json` finds what the build tree's own finds. Kernel project:
 * doctor loads the BPF object and probes sched_setattr on a child.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireHost } from "../helpers/host.js";

const ROOT = join(import.meta.dirname, "../..");
const CLI = join(ROOT, "dist/cli.js");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  name: string;
  version: string;
  private?: boolean;
};

function nativeBuilt(): boolean {
  try {
    return readFileSync(join(ROOT, "native/build/status.json"), "utf8").includes('"ok":true');
  } catch {
    return false;
  }
}
const runs = requireHost(
  "a native build here (clang, libbpf-dev, bpftool): npm pack refuses to pack without one",
  nativeBuilt(),
);

const work = mkdtempSync(join(tmpdir(), "alps-install-"));
const prefix = join(work, "prefix");
let stages = { status: 0 as number | null, out: "" };

interface Doctor {
  bpf: { ok: boolean };
  addon: { ok: boolean };
  mode: string;
}

describe.skipIf(!runs)(
  "npm pack, then npm install -g of the tarball (scripts/image.sh all)",
  () => {
    beforeAll(() => {
      const r = spawnSync("bash", [join(ROOT, "scripts/image.sh"), "all", work], {
        encoding: "utf8",
        timeout: 840_000,
      });
      stages = { status: r.status, out: `${r.stdout}${r.stderr}` };
    }, 900_000);

    afterAll(() => rmSync(work, { recursive: true, force: true }));

    it("every stage runs to its end: build, pack, install, --version, addon, doctor", () => {
      expect(stages.status, stages.out.slice(-4000)).toBe(0);
      expect(stages.out).toMatch(/mode \(auto\)\s+\w+/);
    });

    it("packs from a fresh tree: the copy leaves out what git ignores (dependencies, builds)", () => {
      const r = spawnSync("git", ["check-ignore", "node_modules", "dist", "native/build"], {
        cwd: ROOT,
        encoding: "utf8",
      });
      expect(r.stdout.trim().split("\n")).toEqual(["node_modules", "dist", "native/build"]);
    });

    it("the tarball is ours, public, and carries the built addon and BPF object but no tests or maps", () => {
      const tarballs = readdirSync(join(work, "out")).filter((f) => f.endsWith(".tgz"));
      expect(tarballs).toEqual([`alps-sched-alps-${pkg.version}.tgz`]);
      const files = execFileSync("tar", ["-tzf", join(work, "out", tarballs[0] as string)], {
        encoding: "utf8",
      })
        .trim()
        .split("\n");
      for (const f of [
        "package/package.json",
        "package/dist/cli.js",
        "package/native/build/Release/alps_native.node",
        "package/native/build/alps.bpf.o",
        "package/native/build/status.json",
        "package/bpf/alps.bpf.c",
        "package/scripts/build-native.sh",
        "package/workloads/azure-like.csv",
      ])
        expect(files).toContain(f);
      expect(
        files.filter((f) => /\.map$|\/test\/|\/bench\/|node_modules|vmlinux\.h/.test(f)),
      ).toEqual([]);
      expect(pkg.name).toBe("@alps-sched/alps");
      expect(pkg.private).toBeUndefined();
    });

    it("the installed alps prints the package version", () => {
      const out = execFileSync(join(prefix, "bin/alps"), ["--version"], { encoding: "utf8" });
      expect(out.trim()).toBe(pkg.version);
    });

    it("the installed alps doctor finds what the build tree's finds (addon, BPF, mode)", () => {
      const installed = JSON.parse(
        execFileSync(join(prefix, "bin/alps"), ["doctor", "--json"], { encoding: "utf8" }),
      ) as Doctor;
      const here = JSON.parse(
        execFileSync(process.execPath, [CLI, "doctor", "--json"], { encoding: "utf8" }),
      ) as Doctor;
      expect(installed.addon.ok).toBe(true);
      expect({ bpf: installed.bpf.ok, mode: installed.mode }).toEqual({
        bpf: here.bpf.ok,
        mode: here.mode,
      });
    });
  },
);
