/**
 * `alps doctor --platform …` (issue 9): one scan with the daemon's own
 * adapter and flags, no daemon. Each platform's layout is built for real as
 * in the platform-*.test.ts files — cgroup v2 directories with processes in
 * them, an OpenLambda pool with chrooted sandboxes and bind mounts, a Docker
 * Engine API on a unix socket — and the built CLI must report the sandboxes,
 * their functions and task counts, and name the socket when Docker is not
 * there. Needs `npm run build` first.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { HostReport } from "../../src/backend/detect.js";
import { cgroup2Mount } from "../../src/host/cgroups.js";
import type { PlatformReport } from "../../src/frontend/platforms/report.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { CgroupFixture, waitFor } from "../frontend/platforms/cgroup-fixture.js";
import { FakeDockerEngine } from "../frontend/platforms/fake-docker.js";

const CLI = join(import.meta.dirname, "../../dist/cli.js");

/** The report fields that are empty when every sandbox is declared under its final key. */
const PLAIN = {
  provisional: { sandboxes: 0, of: 0, share_percent: 0, why: null },
  refused: [],
  layout: { supported: true, problem: null, fix: null },
  warnings: [],
};
const canRun = requireHost(
  "root (cgroups, bind mounts, chroot) and a built CLI (npm run build)",
  isRoot() && existsSync(CLI),
);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI without blocking this process (the fake Docker engine
 * answers from here). The platform variables come only from `env`.
 */
function alps(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const base = { ...process.env };
  for (const v of ["PLATFORM", "PATTERN", "OL_PATH", "CGROUP_ROOT", "DOCKER_SOCKET", "NAMESPACES"])
    delete base[`ALPS_${v}`];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...base, ...env }, encoding: "utf8", timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function doctorJson(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ run: Run; report: HostReport & { platform?: PlatformReport } }> {
  const run = await alps(["doctor", "--json", ...args], env);
  return { run, report: JSON.parse(run.stdout) as HostReport & { platform?: PlatformReport } };
}

/** Nice value and scheduling policy of `pid` (/proc/<pid>/stat fields 19 and 41). */
function schedOf(pid: number): { nice: number; policy: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { nice: Number(f[16]), policy: Number(f[38]) };
}

describe.skipIf(!canRun)("alps doctor --platform", () => {
  let fx: CgroupFixture | undefined;
  let engine: FakeDockerEngine | undefined;
  let tmp: string | undefined;
  const mounts: string[] = [];

  afterEach(async () => {
    // Every step runs even if an earlier one fails: processes, mounts, cgroups, files.
    const steps: (() => unknown)[] = [
      () => engine?.close(),
      () => fx?.cleanup(),
      () => {
        for (const m of mounts.reverse()) execFileSync("umount", ["-l", m]);
        mounts.length = 0;
      },
      () => tmp !== undefined && rmSync(tmp, { recursive: true, force: true }),
    ];
    const failures: unknown[] = [];
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        failures.push(err);
      }
    }
    engine = undefined;
    fx = undefined;
    tmp = undefined;
    if (failures.length > 0) throw failures[0];
  });

  it("cgroup-pattern: lists each sandbox with its function and tasks, and the functions with their sandbox counts", async () => {
    const f = new CgroupFixture("doctor-pattern");
    fx = f;
    const pods = join(f.root, "kubepods.slice");
    const fib = f.mkdir(join(pods, "pod-a", "fib", "ctr-1"));
    const resize1 = f.mkdir(join(pods, "pod-b", "resize", "ctr-1"));
    const resize2 = f.mkdir(join(pods, "pod-c", "resize", "ctr-2"));
    const fibChild = f.spawnIn(fib);
    f.spawnIn(resize1);
    f.spawnIn(resize2);
    // A process with three threads (bounded: it ends by itself): tasks count threads, not processes.
    f.spawnIn(resize2, "python3", [
      "-c",
      "import threading, time\n" +
        "for _ in range(2): threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n" +
        "time.sleep(30)",
    ]);
    const lines = (file: string): number =>
      readFileSync(join(resize2, file), "utf8").split("\n").filter(Boolean).length;
    // Python's start-up, slower on a loaded host; the deadline only catches a hang.
    await waitFor(() => lines("cgroup.threads") === 4, 20_000, "python's threads");
    // Decoys: too shallow, and a tree outside the pattern.
    f.mkdir(join(pods, "pod-d", "half"));
    f.mkdir(join(f.root, "system.slice", "x", "y", "z"));
    const pattern = `${pods}/*/{function}/*`;

    const { run, report } = await doctorJson([
      "--platform",
      "cgroup-pattern",
      "--pattern",
      pattern,
    ]);
    expect(run.code).toBe(0);
    expect(report.mode).toBeDefined(); // the host report is still there
    expect(report.platform).toEqual({
      platform: "cgroup-pattern",
      source: { kind: "pattern", path: pattern },
      ok: true,
      sandboxes: [
        { id: fib, function: "fib", cgroup: fib, tasks: 1, processes: 1, provisional: false },
        {
          id: resize1,
          function: "resize",
          cgroup: resize1,
          tasks: 1,
          processes: 1,
          provisional: false,
        },
        {
          id: resize2,
          function: "resize",
          cgroup: resize2,
          tasks: 4,
          processes: 2,
          provisional: false,
        },
      ],
      functions: [
        { function: "fib", sandboxes: 1, tasks: 1 },
        { function: "resize", sandboxes: 2, tasks: 5 },
      ],
      ...PLAIN,
      provisional: { ...PLAIN.provisional, of: 3 },
    });
    // A look, not an action: the sandbox's process keeps SCHED_OTHER at nice 0.
    expect(schedOf(fibChild.pid ?? -1)).toEqual({ nice: 0, policy: 0 });

    // The daemon's environment variables name the platform just as well; text output has a section.
    const text = await alps(["doctor"], { ALPS_PLATFORM: "cgroup-pattern", ALPS_PATTERN: pattern });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`platform       cgroup-pattern, pattern ${pattern}\n`);
    expect(text.stdout).toContain("  sandboxes    3\n");
    expect(text.stdout).toMatch(new RegExp(`resize +4 tasks +${resize2}\\n`));
    expect(text.stdout).toContain("  functions    fib (1 sandbox), resize (2 sandboxes)\n");

    // ...and so does the daemon's config file.
    tmp = mkdtempSync(join(tmpdir(), "alps-doctor-pattern-"));
    const configFile = join(tmp, "alps.yaml");
    writeFileSync(configFile, `platform: cgroup-pattern\npattern: "${pattern}"\nmode: auto\n`);
    const fromFile = await doctorJson(["--config", configFile]);
    expect(fromFile.run.code).toBe(0);
    expect(fromFile.report.platform?.sandboxes.map((s) => s.function)).toEqual([
      "fib",
      "resize",
      "resize",
    ]);
  });

  it("openlambda: finds the worker's pool from --ol-path, names the lambda, skips reserve cgroups and Zygotes", async () => {
    const f = new CgroupFixture("doctor-ol");
    fx = f;
    const dir = mkdtempSync(join(tmpdir(), "alps-doctor-ol-"));
    tmp = dir;
    // `ol worker init -p DIR` → pool <v2 mount>/<basename DIR>-sandboxes.
    const olName = `alps-test-doctor-ol-${process.pid}`;
    const olPath = join(dir, olName);
    const worker = join(olPath, "worker");
    const pool = f.mkdir(join(cgroup2Mount(), `${olName}-sandboxes`));
    const cg = (n: number): string => f.mkdir(join(pool, `cg-${n}`));
    for (const n of [1, 2, 3]) cg(n); // cg-3 stays empty: the reserve

    const bind = (src: string, dst: string, ro = false): void => {
      execFileSync("mount", ["--bind", ...(ro ? ["-o", "ro"] : []), src, dst]);
      mounts.push(dst);
    };
    /** A SOCK sandbox root: scratch "<seq>-<scratchName>" at /host, code at /handler. */
    const sockRoot = (seq: number, scratchName: string, lambda: string): string => {
      const scratch = join(worker, "scratch", `${seq}-${scratchName}`);
      const code = join(worker, "code", `${seq + 100}-${lambda}`);
      const root = join(worker, "root-sandboxes", `${seq + 200}-SB-${seq}`);
      mkdirSync(scratch, { recursive: true });
      mkdirSync(code, { recursive: true });
      for (const d of ["usr", "host", "handler", "tmp"])
        mkdirSync(join(root, d), { recursive: true });
      for (const l of ["bin", "lib", "lib64"]) symlinkSync(`usr/${l}`, join(root, l));
      bind("/usr", join(root, "usr"), true);
      bind(scratch, join(root, "host"));
      bind(code, join(root, "handler"));
      return root;
    };
    const start = (root: string, cgDir: string): ChildProcess => {
      const child = spawn("chroot", [root, "/bin/sleep", "30"], { stdio: "ignore" });
      f.track(child);
      if (child.pid === undefined) throw new Error("chroot did not start");
      writeFileSync(join(cgDir, "cgroup.procs"), `${child.pid}\n`);
      return child;
    };
    const hello = start(sockRoot(1, "hello", "hello"), cg(1));
    const zygote = start(sockRoot(2, "import-cache", "zygote"), cg(2));
    // Both must have entered their roots before the one scan.
    for (const c of [hello, zygote]) {
      await waitFor(() => readlinkSync(`/proc/${c.pid}/root`) !== "/", 20_000, "chroot");
    }

    const { run, report } = await doctorJson(["--platform", "openlambda", "--ol-path", olPath]);
    expect(run.code).toBe(0);
    expect(report.platform).toEqual({
      platform: "openlambda",
      source: { kind: "cgroup-root", path: pool },
      ok: true,
      sandboxes: [
        { id: cg(1), function: "hello", cgroup: cg(1), tasks: 1, processes: 1, provisional: false },
      ],
      functions: [{ function: "hello", sandboxes: 1, tasks: 1 }],
      ...PLAIN,
      provisional: { ...PLAIN.provisional, of: 1 },
    });

    // A worker that is not initialised: the report says where it looked, and doctor fails.
    const missing = await doctorJson([
      "--platform",
      "openlambda",
      "--cgroup-root",
      join(cgroup2Mount(), "alps-no-such-ol-sandboxes"),
    ]);
    expect(missing.run.code).toBe(1);
    expect(missing.report.platform?.ok).toBe(false);
    expect(missing.report.platform?.error).toMatch(/alps-no-such-ol-sandboxes does not exist/);
  });

  it("openwhisk: lists action containers from the Docker Engine API with their real cgroups", async () => {
    const f = new CgroupFixture("doctor-wsk");
    fx = f;
    tmp = mkdtempSync(join(tmpdir(), "alps-doctor-wsk-"));
    const e = new FakeDockerEngine(join(tmp, "docker.sock"));
    engine = e;
    await e.listen();
    const run = (name: string): { id: string; scope: string } => {
      const id = randomBytes(32).toString("hex");
      const scope = f.mkdir(join(f.root, "system.slice", `docker-${id}.scope`));
      const child = f.spawnIn(scope);
      e.containers.set(id, {
        id,
        name,
        pid: child.pid ?? -1,
        running: true,
        image: "openwhisk/action-nodejs-v20:nightly",
        labels: {},
        cgroupParent: "",
      });
      return { id, scope };
    };
    const hello = run("wsk0_1_guest_hello");
    const stem = run("wsk0_2_prewarm_nodejs20"); // a stem cell: its action is not known yet
    run("redis"); // not OpenWhisk's

    const { run: r, report } = await doctorJson([
      "--platform",
      "openwhisk",
      "--docker-socket",
      e.socketPath,
    ]);
    expect(r.code).toBe(0);
    expect(report.platform).toEqual({
      platform: "openwhisk",
      source: { kind: "docker-socket", path: e.socketPath },
      ok: true,
      sandboxes: [
        {
          id: hello.id,
          function: "guest_hello",
          cgroup: hello.scope,
          tasks: 1,
          processes: 1,
          provisional: false,
        },
        {
          id: stem.id,
          function: "prewarm_nodejs20",
          cgroup: stem.scope,
          tasks: 1,
          processes: 1,
          provisional: true,
        },
      ],
      functions: [
        { function: "guest_hello", sandboxes: 1, tasks: 1 },
        { function: "prewarm_nodejs20", sandboxes: 1, tasks: 1 },
      ],
      ...PLAIN,
      // The share of containers whose action cannot be known without the platform's help.
      provisional: {
        sandboxes: 1,
        of: 2,
        share_percent: 50,
        why: expect.stringContaining("never renames it"),
      },
    });
    // One look: no event stream was opened.
    expect(e.requests.some((q) => q.startsWith("GET /events"))).toBe(false);

    // Text: the temporary key is marked and explained; the deprecated --namespaces is named, not used.
    const text = await alps([
      "doctor",
      "--platform",
      "openwhisk",
      "--docker-socket",
      e.socketPath,
      "--namespaces",
      "BobsOrg_dev",
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/prewarm_nodejs20 +1 task .* temporary key\n/);
    expect(text.stdout).toContain(
      "  temporary    1 of 2 sandboxes (50%) run an action alps cannot know without the platform's help\n",
    );
    expect(text.stdout).toContain(
      "  warning      --namespaces (config key namespaces, ALPS_NAMESPACES) is deprecated and ignored",
    );
    expect(text.stdout).toContain(
      "  functions    guest_hello (1 sandbox), prewarm_nodejs20 (1 sandbox)\n",
    );
  });

  it("openwhisk without Docker: a clear error naming the socket, exit 1 (JSON and text)", async () => {
    tmp = mkdtempSync(join(tmpdir(), "alps-doctor-nodocker-"));
    const socket = join(tmp, "no-docker.sock");
    const { run, report } = await doctorJson([
      "--platform",
      "openwhisk",
      "--docker-socket",
      socket,
    ]);
    expect(run.code).toBe(1);
    expect(report.platform).toEqual({
      platform: "openwhisk",
      source: { kind: "docker-socket", path: socket },
      ok: false,
      error: expect.stringContaining(`docker socket ${socket} does not exist`),
      sandboxes: [],
      functions: [],
      ...PLAIN,
    });
    expect(run.stderr).toContain(`platform openwhisk is unusable: docker socket ${socket}`);

    const text = await alps(["doctor", "--platform", "openwhisk", "--docker-socket", socket]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`platform       openwhisk, docker socket ${socket}\n`);
    expect(text.stdout).toContain(`\n  error        docker socket ${socket} does not exist`);
  });

  it("without --platform reports no platform and exits 0; a platform flag alone is a usage error", async () => {
    const { run, report } = await doctorJson([]);
    expect(run.code).toBe(0);
    expect(report).not.toHaveProperty("platform");
    const stray = await alps(["doctor", "--pattern", "/sys/fs/cgroup/{function}"]);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain("--pattern needs --platform");
    const missing = await alps(["doctor", "--platform", "cgroup-pattern"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--platform cgroup-pattern needs --pattern");
  });
});
