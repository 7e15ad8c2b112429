/**
 * Running the real `alps` command (node dist/cli.js) from a test: dist/ is
 * rebuilt first when a source under src/ is newer than it. Test files run in
 * parallel, so the build holds a lock and the others wait for it.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CLI = "dist/cli.js";

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const t = entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs;
    if (t > newest) newest = t;
  }
  return newest;
}

const STALE_CHECK = `
const { existsSync, readdirSync, statSync } = require("node:fs");
const newest = (d) => readdirSync(d, { withFileTypes: true }).reduce((m, e) => {
  const p = d + "/" + e.name;
  return Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
}, 0);
if (!existsSync("${CLI}") || statSync("${CLI}").mtimeMs < newest("src")) {
  require("node:child_process").spawnSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "ignore" });
  // tsc is incremental: it rewrites only the outputs that changed, so ${CLI} can stay older
  // than the source just built; its time is what says "built", for the next file's check.
  const now = new Date();
  if (existsSync("${CLI}")) require("node:fs").utimesSync("${CLI}", now, now);
}
`;

/** Rebuild dist/ (tsc) when it is missing or older than src/. */
export function ensureBuilt(): void {
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= newestSource("src")) return;
  const lock = join(
    tmpdir(),
    `alps-tsc-${createHash("sha1").update(process.cwd()).digest("hex").slice(0, 12)}.lock`,
  );
  // Under the lock the check runs again: another file's build may have just finished.
  // tsc emits even when some file has a type error: typecheck is a separate step.
  spawnSync("flock", [lock, process.execPath, "-e", STALE_CHECK], {
    stdio: "ignore",
    timeout: 180_000,
  });
  if (!existsSync(CLI)) throw new Error("dist/cli.js missing: run npm run build");
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `alps ARGS…` to completion, with `env` added to this process's environment. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without blocking the test's event loop (for a test that also serves a socket). */
export function runCliAsync(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
