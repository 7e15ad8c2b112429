/**
 * Helpers for the alps kernel tests: the `burn` function body
 * (native/test/burn.c, compiled once per run), spawned gated so it can be
 * registered before its first instruction, and /proc readers.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type AddonResult, loadAddon } from "../../src/host/addon.js";
import { probeBpf } from "../../src/backend/bpf/bpf-probe.js";
import { baseAttr, type Syscalls } from "../../src/host/syscalls-types.js";
import { hasBtf, isRoot, requireHost } from "../helpers/host.js";

/**
 * The addon, and whether this host runs the BPF tests (root, BTF, the addon
 * and the alps BPF object). With CI set, a missing one fails the run
 * (requireHost) instead of skipping the tests.
 */
export function bpfHost(): { loaded: AddonResult; ready: boolean } {
  const loaded = loadAddon();
  const probe = probeBpf();
  const ready = requireHost(
    `root, BTF and the alps BPF object (${probe.ok ? "ok" : probe.reason})`,
    isRoot() && hasBtf() && loaded.ok && probe.ok,
  );
  return { loaded, ready };
}

const SOURCE = fileURLToPath(new URL("../../native/test/burn.c", import.meta.url));

/** Compiles burn.c (if newer than the binary) and returns the binary's path. */
export function burnerPath(): string {
  const dir = join(tmpdir(), "alps-kernel-tests");
  mkdirSync(dir, { recursive: true });
  const bin = join(dir, "burn");
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(SOURCE).mtimeMs) {
    execFileSync("cc", ["-O1", "-Wall", "-pthread", "-o", `${bin}.tmp`, SOURCE]);
    execFileSync("mv", ["-f", `${bin}.tmp`, bin]);
  }
  return bin;
}

export interface Sample {
  who: "main" | "child" | "thread";
  step: number;
  cpuUs: number;
  nice: number;
  policy: number;
  /** CLOCK_MONOTONIC when sampled, µs. */
  monoUs: number;
}

export interface BurnResult {
  samples: Sample[];
  exitCode: number | null;
  wallMs: number;
  out: string;
}

export interface GatedBurner {
  child: ChildProcess;
  pid: number;
  /** Lets it exec the burner; resolves when it exits. */
  release(): Promise<BurnResult>;
}

/** Syscall the task is blocked in (/proc/<pid>/syscall first field), or undefined. */
function blockedSyscall(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/syscall`, "utf8").split(" ")[0];
    return first === undefined || first === "running" ? undefined : Number(first);
  } catch {
    return undefined;
  }
}

/**
 * `sh` blocked reading its stdin, which then execs `burn plan capMs`: the
 * pid exists (and can be registered) before the burner's first instruction.
 */
export async function spawnGatedBurner(
  plan: string,
  capMs = 3000,
  /** How long the shell may take to reach its gate (the kernel matrix's emulated guests need more). */
  gateTimeoutMs = 2000,
): Promise<GatedBurner> {
  const child = spawn(
    "sh",
    ["-c", 'read _gate; exec "$0" "$@"', burnerPath(), plan, String(capMs)],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error("spawn sh failed");
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  // Wait until sh sits in read(2) (x86_64 syscall 0) on the gate.
  const deadline = Date.now() + gateTimeoutMs;
  while (blockedSyscall(pid) !== 0) {
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`sh ${pid} never blocked on its gate`);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  return {
    child,
    pid,
    async release() {
      const start = performance.now();
      child.stdin?.end("go\n");
      const exitCode = await exited;
      return { samples: parseSamples(out), exitCode, wallMs: performance.now() - start, out };
    },
  };
}

export function parseSamples(out: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of out.split("\n")) {
    const m = /^(main|child|thread) (\d+) (\d+) (-?\d+) (-?\d+) (\d+)$/.exec(line);
    if (m) {
      samples.push({
        who: m[1] as Sample["who"],
        step: Number(m[2]),
        cpuUs: Number(m[3]),
        nice: Number(m[4]),
        policy: Number(m[5]),
        monoUs: Number(m[6]),
      });
    }
  }
  return samples;
}

/** nice (field 19) and policy (field 41) of a task, from /proc/<pid>/task/<tid>/stat. */
export function procSched(pid: number, tid = pid): { nice: number; policy: number } {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state).
  return { nice: Number(fields[16]), policy: Number(fields[38]) };
}

/** CPU the task has run, ns (/proc/<pid>/task/<tid>/schedstat field 1). */
export function procCpuNs(pid: number, tid = pid): number {
  return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
}

/** Kills a child the test started (by pid) and puts it back on SCHED_OTHER nice 0 if it survives. */
export function cleanupChild(child: ChildProcess | undefined, syscalls: Syscalls): void {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  try {
    syscalls.setAttr(child.pid, baseAttr());
  } catch {
    // already gone
  }
  child.kill("SIGKILL");
}
