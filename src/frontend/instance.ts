/**
 * One daemon per host. Two daemons would fight over the same tasks, each
 * undoing the other's levels, and two sets of BPF programs would each post
 * every event. Two checks:
 *
 * - a lock in the state directory (`<stateDir>/lock`, flock(2), held for the
 *   daemon's life and released by the kernel however it ends): a second
 *   daemon on the same state directory is refused, naming the first;
 * - alps BPF programs already attached (programs named alps_*, listed by
 *   `bpftool prog show`): a daemon with another state directory is refused
 *   too, unless allowSecondInstance (tests that run two daemons on purpose).
 */
import { execFileSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { UsageError } from "../errors.js";
import { flockExclusive } from "../host/libc.js";

export interface StateLock {
  readonly path: string;
  release(): void;
}

/** Takes `<stateDir>/lock`; throws a UsageError naming the holder when another daemon has it. */
export function lockStateDir(stateDir: string): StateLock {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, "lock");
  const fd = openSync(path, "a+", 0o600);
  if (!flockExclusive(fd)) {
    let holder = "";
    try {
      holder = readFileSync(path, "utf8").trim();
    } catch {
      // unreadable: say nothing of the holder
    }
    closeSync(fd);
    throw new UsageError(
      `another alps daemon${holder === "" ? "" : ` (${holder})`} uses the state directory ${stateDir}; stop it first`,
    );
  }
  // Informational only: the flock is the lock.
  const owner = `pid ${process.pid}\n`;
  const rw = openSync(path, "w");
  writeSync(rw, owner);
  closeSync(rw);
  return {
    path,
    release() {
      closeSync(fd);
    },
  };
}

export interface AttachedPrograms {
  /** alps programs attached now (id, name, holders). */
  programs: { id: number; name: string; pids: number[] }[];
  /** Why the check could not run (no bpftool, no permission), or undefined. */
  unknown?: string;
}

/** alps BPF programs attached on this host, as `bpftool prog show --json` lists them. */
export function attachedAlpsPrograms(): AttachedPrograms {
  let text: string;
  try {
    text = execFileSync("bpftool", ["--json", "prog", "show"], {
      encoding: "utf8",
      timeout: 10_000,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    return {
      programs: [],
      unknown:
        e.code === "ENOENT"
          ? "bpftool is not installed"
          : `bpftool failed: ${(e.stderr ?? e.message).toString().trim().split("\n")[0]}`,
    };
  }
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    return { programs: [], unknown: "bpftool printed something that is not JSON" };
  }
  if (!Array.isArray(list)) return { programs: [], unknown: "bpftool printed no list" };
  const programs: AttachedPrograms["programs"] = [];
  for (const p of list as { id?: unknown; name?: unknown; pids?: { pid?: unknown }[] }[]) {
    if (typeof p.name !== "string" || !p.name.startsWith("alps_") || typeof p.id !== "number")
      continue;
    const pids = (p.pids ?? []).map((x) => x.pid).filter((x): x is number => typeof x === "number");
    programs.push({ id: p.id, name: p.name, pids });
  }
  return { programs };
}

/**
 * Processes holding a descriptor of one of the programs `ids` (what bpftool
 * reports as pids where it can): a walk of /proc/<pid>/fd, done only when
 * alps programs were found, to say which daemon it is.
 */
export function programHolders(ids: ReadonlySet<number>): number[] {
  const holders = new Set<number>();
  let pids: string[] = [];
  try {
    pids = readdirSync("/proc").filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== "anon_inode:bpf-prog") continue;
        const id = /\nprog_id:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"));
        if (id !== null && ids.has(Number(id[1]))) holders.add(Number(pid));
      } catch {
        // closed meanwhile
      }
    }
  }
  return [...holders];
}

/**
 * Refuses (UsageError) when alps BPF programs are attached already, unless
 * `allow`; says why it could not tell through `log`.
 */
export function checkNoOtherBpfInstance(allow: boolean, log: (message: string) => void): void {
  const found = attachedAlpsPrograms();
  if (found.unknown !== undefined) {
    log(`cannot check for another alps daemon's BPF programs: ${found.unknown}`);
    return;
  }
  if (found.programs.length === 0) return;
  let holders = [...new Set(found.programs.flatMap((p) => p.pids))];
  if (holders.length === 0) holders = programHolders(new Set(found.programs.map((p) => p.id)));
  const what = `${found.programs.length} alps BPF program(s) are attached already (${found.programs
    .slice(0, 3)
    .map((p) => `${p.name} id ${p.id}`)
    .join(", ")}${holders.length > 0 ? `; held by pid ${holders.join(", ")}` : ""})`;
  if (allow) {
    log(`${what}; starting anyway (allowSecondInstance)`);
    return;
  }
  throw new UsageError(
    `${what}: another alps daemon runs on this host. Stop it, or set allowSecondInstance to run two on purpose`,
  );
}
