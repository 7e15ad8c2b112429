/**
 * Issue 8 must-show 5, with the guardian: `alps daemon --mode auto` started
 * (via setpriv) with only the capabilities `neededCapabilities("alps")`
 * lists runs alps mode, boosts invocations, and its guardian (which inherits
 * the same reduced set) still restores them after SIGKILL. With CAP_BPF
 * dropped as well, the daemon falls back to sfs mode and says why.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { effectiveCapabilities, neededCapabilities } from "../../src/backend/capabilities.js";
import { SCHED_OTHER } from "../../src/host/syscalls-types.js";
import { apiRequest } from "../../src/frontend/api/client.js";
import { hasBtf, isRoot, requireHost } from "../helpers/host.js";
import { killPids, readSched, startWorker, waitFor } from "../helpers/processes.js";

const CLI = join(import.meta.dirname, "../../dist/cli.js");
const runs =
  requireHost(
    "root with BPF (tp_btf) and setpriv",
    isRoot() && hasBtf() && existsSync("/usr/bin/setpriv"),
  ) && requireHost("the built CLI (npm run build)", existsSync(CLI));

/** "CAP_SYS_NICE" → "sys_nice", as setpriv spells it. */
const setprivName = (cap: string): string => cap.replace(/^CAP_/, "").toLowerCase();

interface Started {
  daemon: ChildProcess;
  socket: string;
  dir: string;
  log: () => string;
}

async function startDaemon(
  caps: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), "alps-leastpriv-"));
  const socket = join(dir, "alps.sock");
  const policyFile = join(dir, "policy.json");
  const entry = { priority: 1, predicted_ms: 80, slice_ms: 5000 };
  writeFileSync(policyFile, JSON.stringify({ functions: {}, default: entry }));
  const bounding = ["-all", ...caps.map((c) => `+${setprivName(c)}`)].join(",");
  const daemon = spawn(
    "setpriv",
    [
      `--bounding-set=${bounding}`,
      "--inh-caps=-all",
      process.execPath,
      CLI,
      "daemon",
      "--mode",
      "auto",
      "--socket",
      socket,
      "--state-dir",
      join(dir, "state"),
      "--metrics-port",
      "0",
      "--policy-file",
      policyFile,
    ],
    { stdio: ["ignore", "ignore", "pipe"], env },
  );
  let log = "";
  daemon.stderr?.on("data", (c: Buffer) => {
    log += c.toString("utf8");
  });
  await waitFor(
    () => existsSync(socket) || daemon.exitCode !== null,
    30_000,
    "the daemon's socket",
  );
  return { daemon, socket, dir, log: () => log };
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(" ")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

describe.skipIf(!runs)("least privilege", () => {
  const alpsCaps = neededCapabilities("alps").map((n) => n.cap);

  it("with only the listed capabilities: alps mode, and the guardian restores after SIGKILL", async () => {
    const s = await startDaemon(alpsCaps);
    const workers: number[] = [];
    let guardians: number[] = [];
    try {
      expect(s.daemon.exitCode, s.log()).toBeNull();
      // setpriv execs node in place: the daemon's pid is the child's.
      const pid = s.daemon.pid as number;
      const have = effectiveCapabilities(readFileSync(`/proc/${pid}/status`, "utf8"));
      expect([...have].sort()).toEqual([...alpsCaps].sort());
      const status = (await apiRequest(s.socket, "GET", "/v1/status")).body as { mode: string };
      expect(status.mode, s.log()).toBe("alps");
      guardians = childrenOf(pid);
      expect(guardians.length).toBe(1);

      for (let i = 0; i < 2; i++) workers.push(startWorker(5, 5, 3000, 20_000).pid as number);
      for (const w of workers) {
        const res = await apiRequest(s.socket, "POST", "/v1/invocations", {
          function: "f",
          pid: w,
        });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      }
      await waitFor(
        () => workers.every((w) => (readSched(w)?.nice ?? 0) < 0),
        20_000, // applied within milliseconds; the deadline only catches a daemon that never does
        "workers boosted",
      );
      s.daemon.kill("SIGKILL");
      const ms = await waitFor(
        () =>
          workers.every((w) => readSched(w)?.policy === SCHED_OTHER && readSched(w)?.nice === 0),
        1000,
        "workers restored by the guardian",
      );
      expect(ms).toBeLessThan(1000);
    } finally {
      killPids([s.daemon.pid, ...guardians, ...workers]);
      rmSync(s.dir, { recursive: true, force: true });
    }
  });

  /** Starts the daemon in mode auto, expects sfs with `why` among its reasons (each said once), stops it. */
  async function expectSfsFallback(
    caps: readonly string[],
    why: RegExp,
    env?: NodeJS.ProcessEnv,
  ): Promise<void> {
    const s = await startDaemon(caps, env);
    let guardians: number[] = [];
    try {
      expect(s.daemon.exitCode, s.log()).toBeNull();
      guardians = childrenOf(s.daemon.pid as number);
      const status = (await apiRequest(s.socket, "GET", "/v1/status")).body as {
        mode: string;
        reasons: string[];
      };
      expect(status.mode, s.log()).toBe("sfs");
      expect(status.reasons.join("\n"), s.log()).toMatch(why);
      expect(new Set(status.reasons).size, status.reasons.join("\n")).toBe(status.reasons.length);
      const exited = new Promise((r) => s.daemon.once("exit", r));
      s.daemon.kill("SIGTERM");
      await exited;
    } finally {
      killPids([s.daemon.pid, ...guardians]);
      rmSync(s.dir, { recursive: true, force: true });
    }
  }

  it("without CAP_BPF: falls back to sfs mode and says why", async () => {
    await expectSfsFallback(
      alpsCaps.filter((c) => c !== "CAP_BPF"),
      /BPF/,
    );
  });

  it("with ALPS_NO_BPF=1 (issue 5): mode auto runs sfs and /v1/status says why, once", async () => {
    await expectSfsFallback(alpsCaps, /mode auto: .*ALPS_NO_BPF=1.*falling back to sfs/, {
      ...process.env,
      ALPS_NO_BPF: "1",
    });
  });
});
