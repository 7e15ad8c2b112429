/**
 * One daemon per host (issue 19): a second `alps daemon` on the same state
 * directory is refused by the lock there; one with another state directory
 * is refused because alps BPF programs are attached already, unless
 * allowSecondInstance (what a test that needs two daemons sets). A deleted
 * control socket is noticed, recreated and logged.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { apiRequest } from "../../src/frontend/api/client.js";
import { hasBtf, isRoot, requireHost } from "../helpers/host.js";
import { waitFor } from "../helpers/processes.js";
import { CLI, type RunningDaemon, startDaemon } from "./tenant-kit.js";

const runs =
  requireHost("root with BPF (tp_btf)", isRoot() && hasBtf()) &&
  requireHost("the built CLI (npm run build)", existsSync(CLI));

/** Runs a second daemon that is expected to refuse: its exit code and stderr (10 s bound). */
async function refusedDaemon(args: string[]): Promise<{ code: number | null; err: string }> {
  const dir = mkdtempSync(join(tmpdir(), "alps-second-"));
  try {
    const child = spawn(
      process.execPath,
      [CLI, "daemon", "--socket", join(dir, "s.sock"), "--metrics-port", "0", ...args],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let err = "";
    child.stderr?.on("data", (c: Buffer) => {
      err += c.toString("utf8");
    });
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill("SIGTERM");
        resolve(null);
      }, 10_000);
      child.once("close", (c) => {
        // "close": its stderr, read below, has drained.
        clearTimeout(timer);
        resolve(c);
      });
    });
    return { code, err };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!runs)("a single alps daemon per host", () => {
  it("refuses a second daemon on the same state directory, and one with BPF programs attached", async () => {
    let first: RunningDaemon | undefined;
    let second: RunningDaemon | undefined;
    const other = mkdtempSync(join(tmpdir(), "alps-other-state-"));
    try {
      first = await startDaemon(["--mode", "alps"]);
      const same = await refusedDaemon(["--mode", "cfs", "--state-dir", first.stateDir]);
      expect(same.code).not.toBe(0);
      expect(same.err).toMatch(/uses the state directory/);
      const bpf = await refusedDaemon(["--mode", "alps", "--state-dir", join(other, "s")]);
      expect(bpf.code).not.toBe(0);
      expect(bpf.err).toMatch(/alps BPF program\(s\) are attached already/);
      expect(bpf.err).toContain(`pid ${first.proc.pid}`);
      // On purpose: allowed, and said.
      second = await startDaemon(["--mode", "alps", "--allow-second-instance", "true"]);
      expect(second.log()).toMatch(/starting anyway \(allowSecondInstance\)/);
    } finally {
      await second?.stop();
      await first?.stop();
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("recreates a deleted control socket and says so", async () => {
    let d: RunningDaemon | undefined;
    try {
      d = await startDaemon(["--mode", "cfs"]);
      unlinkSync(d.socket);
      const daemon = d;
      // The socket check runs every second (and at real-time priority): three of them.
      await waitFor(() => existsSync(daemon.socket), 3000, "the socket recreated");
      const res = await apiRequest(d.socket, "GET", "/v1/status");
      expect(res.status).toBe(200);
      // Logged once the new socket listens, so it may reach this process after the reply.
      await waitFor(
        () => /was deleted; recreated it/.test(daemon.log()),
        20_000,
        "the recreation logged",
      );
    } finally {
      await d?.stop();
    }
  });
});
