/**
 * Helpers for the trust-boundary tests (issue 19): a throwaway non-root
 * user in a throwaway group (the socket group), a real `alps daemon` on
 * private paths, and client scripts run as that user through `setpriv`.
 * Everything is removed in every exit path by the callers' `finally`.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apiRequest } from "../../src/frontend/api/client.js";
import { killPids, waitFor } from "../helpers/processes.js";

export const CLI = join(import.meta.dirname, "../../dist/cli.js");

export interface Tenant {
  user: string;
  group: string;
  uid: number;
  gid: number;
  remove(): void;
}

/** A user with no home and no login, whose primary group is a fresh group (the socket group). */
export function createTenant(): Tenant {
  const tag = randomBytes(3).toString("hex");
  const group = `alpsg${tag}`;
  const user = `alpsu${tag}`;
  execFileSync("groupadd", [group]);
  try {
    execFileSync("useradd", ["-M", "-N", "-g", group, "-s", "/usr/sbin/nologin", user]);
  } catch (error) {
    execFileSync("groupdel", [group]);
    throw error;
  }
  const uid = Number(execFileSync("id", ["-u", user]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", user]).toString().trim());
  return {
    user,
    group,
    uid,
    gid,
    remove() {
      try {
        execFileSync("userdel", [user]);
      } finally {
        execFileSync("groupdel", [group]);
      }
    },
  };
}

export interface RunningDaemon {
  proc: ChildProcess;
  dir: string;
  socket: string;
  stateDir: string;
  log(): string;
  /** Its children (the guardian). */
  children(): number[];
  /** SIGTERM and wait; SIGKILL after 10 s. */
  stop(): Promise<void>;
}

/** Every child of every thread of `pid`. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(" ");
  } catch {
    return out;
  }
  for (const t of tasks) if (t !== "") out.push(Number(t));
  return out;
}

/**
 * `alps daemon` on a private socket (in a directory the tenant can reach)
 * and state directory, metrics off, with `args` added.
 */
export async function startDaemon(
  args: string[],
  opts: { stateDir?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunningDaemon> {
  const dir = mkdtempSync(join(tmpdir(), "alps-trust-"));
  chmodSync(dir, 0o711);
  const socket = join(dir, "alps.sock");
  const stateDir = opts.stateDir ?? join(dir, "state");
  let log = "";
  const proc = spawn(
    process.execPath,
    [CLI, "daemon", "--socket", socket, "--state-dir", stateDir, "--metrics-port", "0", ...args],
    { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...opts.env } },
  );
  proc.stderr?.on("data", (c: Buffer) => {
    log += c.toString("utf8");
  });
  const running: RunningDaemon = {
    proc,
    dir,
    socket,
    stateDir,
    log: () => log,
    children: () => (proc.pid === undefined ? [] : childrenOf(proc.pid)),
    async stop() {
      const guardians = running.children();
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        await waitFor(
          () => proc.exitCode !== null || proc.signalCode !== null,
          10_000,
          "exit",
        ).catch(() => proc.kill("SIGKILL"));
      }
      killPids(guardians.filter((pid) => existsSync(`/proc/${pid}`)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(
      () => existsSync(socket) || proc.exitCode !== null,
      30_000,
      "the daemon's socket",
    );
    if (proc.exitCode !== null) throw new Error(`the daemon exited: ${log}`);
    // The socket answers (the guardian is up before the API listens).
    const res = await apiRequest(socket, "GET", "/v1/status");
    if (res.status !== 200) throw new Error(`status ${res.status}: ${log}`);
  } catch (error) {
    await running.stop();
    throw error;
  }
  return running;
}

/**
 * The client side, as plain JavaScript the tenant runs with node: a
 * request helper over the unix socket, and `spawnGated` (a child that waits
 * for a line on stdin before it runs, so it can be registered first).
 */
const CLIENT_LIB = `
import { request } from "node:http";
import { spawn } from "node:child_process";
export function api(socketPath, method, path, body) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath, method, path, headers: payload === undefined ? {} :
      { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        let parsed = Buffer.concat(chunks).toString("utf8");
        try { parsed = JSON.parse(parsed); } catch {}
        resolve({ status: res.statusCode, body: parsed });
      });
    });
    req.on("error", reject);
    req.end(payload);
  });
}
export function out(value) { process.stdout.write(JSON.stringify(value) + "\\n"); }
// Nice levels and policies a task had while sampled every 5 ms for \`ms\` (or until it is gone).
export async function sampleSched(pid, ms) {
  const { readFileSync } = await import("node:fs");
  const end = Date.now() + ms;
  let minNice = 99, samples = 0; const policies = new Set();
  while (Date.now() < end) {
    let text;
    try { text = readFileSync("/proc/" + pid + "/stat", "utf8"); } catch { break; }
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    if (f[0] === "Z") break;
    minNice = Math.min(minNice, Number(f[16])); policies.add(Number(f[38])); samples++;
    await new Promise((r) => setTimeout(r, 5));
  }
  return { minNice, policies: [...policies], samples };
}
// Busy bursts of \`busyMs\` with \`sleepMs\` asleep in between, for at most \`maxMs\` (a script for spawnGated).
export function burner(busyMs, sleepMs, maxMs) {
  return "const end = Date.now() + " + maxMs + "; const tick = () => { const s = performance.now();" +
    " while (performance.now() - s < " + busyMs + ") {} if (Date.now() > end) process.exit(0);" +
    " setTimeout(tick, " + sleepMs + "); }; tick();";
}
// A child that runs \`script\` (node -e) once a line arrives on its stdin.
export function spawnGated(script) {
  const wrapped = "process.stdin.once('data', () => {" + script + "});";
  return spawn(process.execPath, ["-e", wrapped], { stdio: ["pipe", "ignore", "ignore"] });
}
`;

/**
 * Runs `body` (an async ES module body with `api`, `out`, `spawnGated`,
 * `SOCKET` and `ARGS` in scope) as the tenant; resolves with the JSON values
 * it printed, one per `out` call. Time-bounded by `timeoutMs`.
 */
export async function runAsTenant(
  tenant: Tenant,
  socket: string,
  body: string,
  args: unknown = {},
  timeoutMs = 30_000,
): Promise<unknown[]> {
  const dir = mkdtempSync(join(tmpdir(), "alps-tenant-"));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, "lib.mjs"), CLIENT_LIB);
  const main = join(dir, "main.mjs");
  writeFileSync(
    main,
    `import { api, burner, out, sampleSched, spawnGated } from "./lib.mjs";\nconst SOCKET = ${JSON.stringify(socket)};\nconst ARGS = ${JSON.stringify(args)};\n${body}\n`,
  );
  chmodSync(main, 0o644);
  chmodSync(join(dir, "lib.mjs"), 0o644);
  const child = spawn(
    "setpriv",
    [`--reuid=${tenant.uid}`, `--regid=${tenant.gid}`, "--clear-groups", process.execPath, main],
    { stdio: ["ignore", "pipe", "pipe"], cwd: dir },
  );
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (c: Buffer) => {
    stdout += c.toString("utf8");
  });
  child.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString("utf8");
  });
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`tenant script timed out after ${timeoutMs} ms: ${stderr}`));
      }, timeoutMs);
      // "close", not "exit": exit may come before the last of stdout has been read.
      child.once("close", (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    if (code !== 0) throw new Error(`tenant script exited ${code}: ${stderr}`);
    return stdout
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as unknown);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A policy file whose every function (the default entry) gets a strong boost for a long slice. */
export function boostingPolicy(dir: string, functions: Record<string, unknown> = {}): string {
  const file = join(dir, "policy.json");
  const entry = { priority: 1, predicted_ms: 2, slice_ms: 5000 };
  writeFileSync(file, JSON.stringify({ functions, default: entry }));
  return file;
}
