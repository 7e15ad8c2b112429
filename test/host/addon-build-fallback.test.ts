/**
 * Must-show 8 of issue 4: without clang or libbpf the build still succeeds
 * and records why alps mode is unavailable; npm install never compiles.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");

/** Everything the script may call except `hidden`. */
const TOOLS = [
  "bash",
  "sh",
  "node",
  "npm",
  "pkg-config",
  "bpftool",
  "clang",
  "date",
  "mkdir",
  "grep",
  "cut",
  "find",
  "flock",
  "mv",
  "rm",
  "cp",
  "ln",
  "mktemp",
  "dirname",
  "cat",
];

function pathWithout(
  hidden: string[],
  fakes: Record<string, string>,
): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), "alps-nobuild-"));
  for (const [tool, script] of Object.entries(fakes))
    writeFileSync(join(dir, tool), script, { mode: 0o755 });
  for (const tool of TOOLS) {
    if (hidden.includes(tool) || tool in fakes) continue;
    const found = spawnSync("bash", ["-c", `command -v ${tool}`], {
      encoding: "utf8",
    }).stdout.trim();
    if (found) symlinkSync(found, join(dir, tool));
  }
  return { dir, path: dir };
}

function runBuild(
  hidden: string[],
  fakes: Record<string, string> = {},
): { status: number | null; json: { ok: boolean; reason: string }; stderr: string } {
  const { dir, path } = pathWithout(hidden, fakes);
  const out = join(dir, "out");
  try {
    const r = spawnSync(join(dir, "bash"), [join(ROOT, "scripts/build-native.sh")], {
      env: { PATH: path, HOME: process.env.HOME ?? "/root", ALPS_NATIVE_OUT: out },
      encoding: "utf8",
      timeout: 30_000,
    });
    const json = JSON.parse(readFileSync(join(out, "status.json"), "utf8")) as {
      ok: boolean;
      reason: string;
    };
    return { status: r.status, json, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("native build fallback", () => {
  it("without clang: exits 0 and status.json says clang is missing", () => {
    const r = runBuild(["clang"]);
    expect(r.status).toBe(0);
    expect(r.json.ok).toBe(false);
    expect(r.json.reason).toMatch(/clang not found/);
    expect(r.stderr).toMatch(/alps mode unavailable/);
  });

  it("without libbpf (pkg-config cannot find it): exits 0 and names libbpf-dev", () => {
    // A pkg-config that knows no packages: what a host without libbpf-dev answers.
    const r = runBuild([], { "pkg-config": "#!/bin/sh\nexit 1\n" });
    expect(r.status).toBe(0);
    expect(r.json.ok).toBe(false);
    expect(r.json.reason).toMatch(/libbpf not found.*libbpf-dev/);
  });

  it("npm install never compiles: no install scripts, no binding.gyp at the root", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      scripts?: Record<string, string>;
      gypfile?: boolean;
    };
    for (const hook of ["preinstall", "install", "postinstall"])
      expect(pkg.scripts?.[hook]).toBeUndefined();
    expect(pkg.gypfile).not.toBe(true);
    expect(existsSync(join(ROOT, "binding.gyp"))).toBe(false);
    expect(existsSync(join(ROOT, "native/binding.gyp"))).toBe(true);
    // and the script itself is valid bash
    execFileSync("bash", ["-n", join(ROOT, "scripts/build-native.sh")]);
  });
});
