/**
 * A daemon that cannot start says why and exits non-zero. Each failure here
 * is real: a copy of the built package whose BPF object is corrupt (the
 * addon's native BpfHandle constructor throws, libbpf says why on stderr),
 * a control socket another process listens on, a metrics port in use. The
 * start-up's clean-up stops the guardian, whose process handle is unref'd;
 * before the fix nothing held the event loop while it waited for the
 * guardian to go, Node ended with status 0 and the error was never printed.
 * With `--mode auto` the same corrupt object is the designed fallback to
 * sfs: logged, in /v1/status and in /metrics. Needs `npm run build` first.
 */
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { type Server, createServer } from "node:net";
import { get } from "node:http";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { apiRequest } from "../../src/frontend/api/client.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { freePort } from "../helpers/ports.js";
import { bpfHost } from "./bpf-kit.js";
import { CLI, daemonDir, removeDir, type StartedDaemon, startDaemon } from "./daemon-kit.js";

const ROOT = join(import.meta.dirname, "../..");
const runs =
  requireHost("root (the daemon would change priorities)", isRoot()) &&
  requireHost("the built CLI (npm run build)", existsSync(CLI)) &&
  bpfHost().ready;

/** Pids of guardians watching a record under `stateDir` (none once a daemon is gone). */
function guardiansOf(stateDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmd.includes("guardian-main.js") && cmd.includes(stateDir)) pids.push(Number(entry));
    } catch {
      // The process ended while /proc was read.
    }
  }
  return pids;
}

function listen(server: Server, where: string | number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    if (typeof where === "number") server.listen(where, "127.0.0.1", resolve);
    else server.listen(where, resolve);
  });
}

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString("utf8")));
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

describe.skipIf(!runs)("alps daemon that cannot start says why and exits non-zero", () => {
  /** A copy of the built package (dist, the addon) whose BPF object is cut short. */
  let pkg = "";
  let corruptObject = "";
  let d: StartedDaemon | undefined;
  let busy: Server | undefined;

  beforeAll(() => {
    pkg = daemonDir();
    cpSync(join(ROOT, "dist"), join(pkg, "dist"), { recursive: true });
    copyFileSync(join(ROOT, "package.json"), join(pkg, "package.json"));
    symlinkSync(join(ROOT, "node_modules"), join(pkg, "node_modules"));
    mkdirSync(join(pkg, "native", "build", "Release"), { recursive: true });
    copyFileSync(
      join(ROOT, "native", "build", "Release", "alps_native.node"),
      join(pkg, "native", "build", "Release", "alps_native.node"),
    );
    // The object's first 4 KiB: its ELF header survives, its section headers
    // (at the end) do not, so libbpf cannot open it.
    corruptObject = join(pkg, "native", "build", "alps.bpf.o");
    const whole = readFileSync(join(ROOT, "native", "build", "alps.bpf.o"));
    expect(whole.length).toBeGreaterThan(4096);
    writeFileSync(corruptObject, whole.subarray(0, 4096));
  });
  afterAll(() => removeDir(pkg));

  afterEach(async () => {
    await d?.stop();
    if (d) removeDir(d.dir);
    d = undefined;
    await new Promise<void>((resolve) => (busy ? busy.close(() => resolve()) : resolve()));
    busy = undefined;
  });

  /** The daemon's last line: the CLI's one-line error. */
  const lastLine = (log: string): string => log.trimEnd().split("\n").pop() ?? "";

  it("the BPF object does not load (--mode alps): the cause named, exit 1, guardian gone", async () => {
    d = await startDaemon(
      daemonDir(),
      ["--mode", "alps", "--line-socket", "none"],
      "exit",
      join(pkg, "dist", "cli.js"),
    );
    const log = d.log();
    expect(await d.exited, log).toBe(1);
    // The native constructor ran and failed (libbpf's own words), and the last line says so.
    expect(log).toMatch(/libbpf: /);
    expect(lastLine(log)).toMatch(
      new RegExp(
        `^alps daemon: no backend for mode alps: .*BPF load/attach failed: .*${corruptObject.replace(/[.]/g, "\\.")}`,
      ),
    );
    expect(guardiansOf(d.stateDir)).toEqual([]);
  });

  it("the BPF object does not load (--mode auto): the fallback to sfs is logged, in /v1/status and /metrics", async () => {
    const port = await freePort();
    d = await startDaemon(
      daemonDir(),
      ["--mode", "auto", "--line-socket", "none", "--metrics-port", String(port)],
      "up",
      join(pkg, "dist", "cli.js"),
    );
    const fallback =
      /mode auto: alps \(BPF sensor\) unavailable: BPF load\/attach failed: .*; falling back to sfs/;
    expect(d.log()).toMatch(fallback);
    const status = await apiRequest(d.socket, "GET", "/v1/status");
    const body = status.body as { mode: string; reasons: string[] };
    expect(body.mode).toBe("sfs");
    expect(
      body.reasons.some((r) => fallback.test(r)),
      JSON.stringify(body.reasons),
    ).toBe(true);
    const metrics = await httpGet(`http://127.0.0.1:${port}/metrics`);
    // Both what runs and what was asked for: the fallback reads off /metrics alone.
    expect(metrics).toMatch(/^alps_mode_info\{mode="sfs",[^}]*requested_mode="auto"[^}]*\} 1$/m);
    // No --sensor given: the sensor that runs is the fallback's own.
    expect(metrics).toMatch(/^alps_mode_info\{[^}]*requested_sensor="unset"[^}]*\} 1$/m);
  });

  it("the control socket is another process's: the cause named, exit 1", async () => {
    const dir = daemonDir();
    busy = createServer();
    await listen(busy, join(dir, "taken.sock"));
    d = await startDaemon(
      dir,
      ["--mode", "sfs", "--line-socket", "none", "--socket", join(dir, "taken.sock")],
      "exit",
    );
    const log = d.log();
    expect(await d.exited, log).toBe(1);
    expect(lastLine(log)).toMatch(/^alps daemon: another daemon is listening on .*taken\.sock/);
    expect(log).toMatch(/startup failed \(another daemon is listening on /);
    expect(guardiansOf(d.stateDir)).toEqual([]);
  });

  it("the metrics port is in use: the cause named, exit 1", async () => {
    busy = createServer();
    await listen(busy, 0);
    const port = (busy.address() as { port: number }).port;
    d = await startDaemon(
      daemonDir(),
      ["--mode", "sfs", "--line-socket", "none", "--metrics-port", String(port)],
      "exit",
    );
    const log = d.log();
    expect(await d.exited, log).toBe(1);
    expect(lastLine(log)).toMatch(new RegExp(`^alps daemon: .*EADDRINUSE.*:${port}`));
    expect(guardiansOf(d.stateDir)).toEqual([]);
  });
});
