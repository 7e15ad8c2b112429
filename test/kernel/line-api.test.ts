/**
 * The line protocol against the real daemon (`dist/cli.js daemon --mode
 * alps`, BPF sensor, a policy that boosts every function): a separate
 * process, as a platform's invoker would be, connects to the line socket
 * the daemon names in GET /v1/status and
 *   - registers a child of its own with `S <fn> <pid>`: the child carries a
 *     boosted nice as soon as `201` is read, and is back at nice 0 once
 *     `E <id>` is answered `200`;
 *   - names a pid that is not its descendant: `403 forbidden_pid`, and that
 *     task's nice is untouched;
 * and the daemon counts those requests under protocol "line".
 * Needs `npm run build` first. Every process started is killed in `finally`.
 */
import { execFile, type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiRequest } from "../../src/frontend/api/client.js";
import { hasBtf, isRoot, requireHost } from "../helpers/host.js";
import { killPids, readSched } from "../helpers/processes.js";
import { boostingPolicy, CLI, type RunningDaemon, startDaemon } from "./tenant-kit.js";

const runs =
  requireHost("root with BPF (tp_btf)", isRoot() && hasBtf()) &&
  requireHost("the built CLI (npm run build)", existsSync(CLI));

// The platform's side: its own child (asleep until killed), registered and
// ended over the line socket; its nice read from /proc at each step; then a
// foreign pid. One JSON line out.
const CLIENT = `
const net = require("node:net");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const nice = (pid) => Number(fs.readFileSync("/proc/" + pid + "/stat", "utf8").split(") ")[1].split(" ")[16]);
const slice = (pid) => Number(/se\\.slice\\s*:\\s*(\\d+)/.exec(fs.readFileSync("/proc/" + pid + "/sched", "utf8"))[1]);
const [lineSocket, foreign] = process.argv.slice(1);
const child = spawn("sleep", ["30"], { stdio: "ignore" });
const sock = net.connect(lineSocket);
sock.setEncoding("utf8");
let buf = "";
const waiters = [];
sock.on("data", (d) => {
  buf += d;
  let at;
  while ((at = buf.indexOf("\\n")) >= 0) { const line = buf.slice(0, at); buf = buf.slice(at + 1); waiters.shift()(line); }
});
const ask = (line) => new Promise((resolve) => { waiters.push(resolve); sock.write(line + "\\n"); });
(async () => {
  const out = { child: child.pid, niceBefore: nice(child.pid), sliceBefore: slice(child.pid) };
  out.started = await ask("S linefn " + child.pid);
  out.niceStarted = nice(child.pid);
  out.sliceStarted = slice(child.pid);
  out.ended = await ask("E " + out.started.split(" ")[1]);
  out.niceEnded = nice(child.pid);
  out.sliceEnded = slice(child.pid);
  out.foreign = await ask("S linefn " + foreign);
  out.foreignNice = nice(Number(foreign));
  child.kill("SIGKILL");
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
})().catch((e) => { child.kill("SIGKILL"); process.stderr.write(String(e && e.stack)); process.exit(3); });
setTimeout(() => { child.kill("SIGKILL"); process.stderr.write("timed out"); process.exit(4); }, 20000).unref();
`;

describe.skipIf(!runs)("line protocol against the real daemon", () => {
  const dir = mkdtempSync(join(tmpdir(), "alps-line-k-"));
  let daemon: RunningDaemon | undefined;
  let stranger: ChildProcess | undefined;

  beforeAll(async () => {
    daemon = await startDaemon(["--mode", "alps", "--policy-file", boostingPolicy(dir)]);
  }, 60_000);

  afterAll(async () => {
    if (stranger?.pid !== undefined) killPids([stranger.pid]);
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a separate process registers its child (boosted), ends it (restored), and is refused a foreign pid", async () => {
    const d = daemon as RunningDaemon;
    const status = (await apiRequest(d.socket, "GET", "/v1/status")).body as {
      mode: string;
      line_socket: string | null;
    };
    expect(status.mode).toBe("alps");
    expect(status.line_socket).toBe(join(d.dir, "alps-line.sock"));
    // A task of this test process's: not a descendant of the client.
    stranger = spawn("sleep", ["30"], { stdio: "ignore" });
    const strangerPid = stranger.pid as number;
    const out = await new Promise<Record<string, unknown>>((resolve, reject) =>
      execFile(
        process.execPath,
        ["-e", CLIENT, status.line_socket as string, String(strangerPid)],
        { encoding: "utf8", timeout: 30_000 },
        (error, stdout, stderr) => {
          if (error !== null) return reject(new Error(`${error.message}\n${stderr}\n${d.log()}`));
          resolve(JSON.parse(stdout) as Record<string, unknown>);
        },
      ),
    );
    expect(out.niceBefore).toBe(0);
    expect(out.started).toMatch(new RegExp(`^201 \\d+ ${String(out.child)}$`));
    expect(out.niceStarted as number).toBeLessThan(0); // the level is on before the answer
    // The daemon's default --eevdf-slice shortest: the boost asks for 0.1 ms, the end takes it back.
    expect(out.sliceStarted).toBe(100_000);
    expect(out.sliceBefore).not.toBe(100_000);
    expect(out.ended).toMatch(/^200 \d+ [0-9.]+ (schedstat|exit|none)$/);
    expect(out.niceEnded).toBe(0);
    expect(out.sliceEnded).toBe(out.sliceBefore);
    expect(out.foreign).toMatch(
      new RegExp(
        `^403 forbidden_pid pid ${strangerPid} is in no declared sandbox and is not a descendant`,
      ),
    );
    expect(out.foreignNice).toBe(0);
    expect(readSched(strangerPid)?.nice).toBe(0);
    const after = (await apiRequest(d.socket, "GET", "/v1/status")).body as {
      api_refusals: Record<string, number>;
      counters: Record<string, number>;
    };
    expect(after.api_refusals.forbidden_pid).toBe(1);
    expect(after.counters.invocations_started).toBe(1);
    expect(after.counters.invocations_ended).toBe(1);
  }, 60_000);
});
