/**
 * Real processes for the safety tests: a compiled copy of the guardian and
 * drill (they run as separate node processes, so they must be JavaScript),
 * CPU-bounded busy workers, and readers of a task's scheduling state.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
/** Inside the project so ESM resolution finds package.json ("type": "module") and ffi-rs. */
const OUT = join(ROOT, "node_modules/.cache/alps-safety-build");

let built: string | undefined;

/**
 * Compiles the guardian, the drill and `alps restore` (and what they import)
 * with tsc into a private directory, independent of the rest of the tree.
 * Returns that directory (its layout mirrors src/).
 */
export function buildSafetyJs(): string {
  if (built !== undefined) return built;
  mkdirSync(OUT, { recursive: true });
  const entries = [
    "backend/guardian/guardian-main.ts",
    "backend/guardian/guardian-drill.ts",
    "commands/restore.ts",
  ];
  execFileSync(
    process.execPath,
    [
      join(ROOT, "node_modules/typescript/bin/tsc"),
      "--module",
      "NodeNext",
      "--moduleResolution",
      "NodeNext",
      "--target",
      "ES2022",
      "--types",
      "node",
      "--skipLibCheck",
      "--strict",
      "--rootDir",
      join(ROOT, "src"),
      "--outDir",
      OUT,
      ...entries.map((e) => join(ROOT, "src", e)),
    ],
    { stdio: "inherit" },
  );
  built = OUT;
  return OUT;
}

/**
 * A worker: bursts of `busyMs` CPU then `sleepMs` asleep, until it used
 * `maxCpuMs` of CPU or lived `maxWallMs` (so it can never spin unbounded,
 * even at a real-time priority).
 */
export function startWorker(
  busyMs = 2,
  sleepMs = 8,
  maxCpuMs = 3000,
  maxWallMs = 20_000,
  /** In a session of its own (setsid): its own autogroup where autogroup is on. */
  ownSession = false,
): ChildProcess {
  const script = `
    const t0 = Date.now(); const c0 = process.cpuUsage();
    const tick = () => {
      const s = performance.now(); while (performance.now() - s < ${busyMs}) {}
      const u = process.cpuUsage(c0);
      if ((u.user + u.system) / 1000 > ${maxCpuMs} || Date.now() - t0 > ${maxWallMs}) process.exit(0);
      setTimeout(tick, ${sleepMs});
    };
    tick();`;
  return spawn(process.execPath, ["-e", script], { stdio: "ignore", detached: ownSession });
}

export interface Sched {
  /** stat field 3. */
  state: string;
  /** stat field 19. */
  nice: number;
  /** stat field 40. */
  rtPriority: number;
  /** stat field 41. */
  policy: number;
}

/** Scheduling state of a task from /proc/<pid>/stat, undefined when gone. */
export function readSched(pid: number): Sched | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return {
    state: f[0] ?? "?",
    nice: Number(f[16]),
    rtPriority: Number(f[37]),
    policy: Number(f[38]),
  };
}

/** Alive and not a zombie. */
export function isRunning(pid: number): boolean {
  const s = readSched(pid);
  return s !== undefined && s.state !== "Z" && s.state !== "X";
}

/** Polls `cond` every 5 ms; resolves with the elapsed ms when it holds, or rejects after `timeoutMs`. */
export async function waitFor(
  cond: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (cond()) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Reads the first line a child prints on stdout. */
export function firstLine(child: ChildProcess, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`no output after ${timeoutMs} ms`)), timeoutMs);
    child.stdout?.on("data", (chunk: Buffer) => {
      seen += chunk.toString("utf8");
      const nl = seen.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(seen.slice(0, nl));
      }
    });
    // "close", not "exit": a child that prints its line and exits at once may be seen exiting
    // before its line has been read.
    child.once("close", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (code ${code}) before printing a line`));
    });
  });
}

/** SIGKILLs each pid we started, ignoring the ones already gone. */
export function killPids(pids: Iterable<number | undefined>): void {
  for (const pid of pids) {
    if (pid === undefined) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/**
 * SIGKILLs each child we started and resolves once each has exited and been
 * reaped ('exit' comes after Node's waitpid). Only then has it left its
 * cgroups: a task that was merely signalled may still be exiting, and a
 * cgroup it is in cannot be removed yet.
 */
export async function killAndReap(children: Iterable<ChildProcess | undefined>): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const child of children) {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) continue;
    waits.push(new Promise((r) => child.once("exit", r)));
    child.kill("SIGKILL");
  }
  await Promise.all(waits);
}
