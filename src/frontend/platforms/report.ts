/**
 * What a platform adapter sees now, for `alps doctor --platform …`: one
 * scan() (the adapter's own discovery), each sandbox's task count read from
 * its cgroup, and the functions with how many sandboxes each has. Reads
 * only; changes no task and no cgroup.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { PlatformAdapter, PlatformKind, PlatformSource, SandboxInfo } from "./types.js";

export interface PlatformSandboxReport {
  /** The platform's id of the sandbox (the cgroup path, or the container id). */
  id: string;
  function: string;
  cgroup: string;
  /** Threads in the sandbox's cgroup itself (cgroup.threads): the tasks alps would act on. */
  tasks: number;
  /** Processes in it (cgroup.procs). */
  processes: number;
}

export interface PlatformFunctionReport {
  function: string;
  sandboxes: number;
  tasks: number;
}

export interface PlatformReport {
  platform: PlatformKind;
  /** Where the adapter looked. */
  source: PlatformSource;
  /** False when the adapter could not read the platform; `error` says why. */
  ok: boolean;
  error?: string;
  sandboxes: PlatformSandboxReport[];
  functions: PlatformFunctionReport[];
}

/** Non-empty lines of a cgroup interface file; 0 when the cgroup vanished since the scan. */
async function countLines(cgroupDir: string, file: string): Promise<number> {
  try {
    const text = await readFile(join(cgroupDir, file), "utf8");
    return text.split("\n").filter((l) => l.trim() !== "").length;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
}

export async function platformReport(adapter: PlatformAdapter): Promise<PlatformReport> {
  const base = { platform: adapter.kind, source: adapter.source };
  let found: SandboxInfo[];
  try {
    found = await adapter.scan();
  } catch (err) {
    return {
      ...base,
      ok: false,
      error: err instanceof Error ? err.message : String(err),
      sandboxes: [],
      functions: [],
    };
  }
  const sandboxes: PlatformSandboxReport[] = [];
  for (const s of [...found].sort(
    (a, b) => a.fn.localeCompare(b.fn) || a.cgroupPath.localeCompare(b.cgroupPath),
  )) {
    sandboxes.push({
      id: s.id,
      function: s.fn,
      cgroup: s.cgroupPath,
      tasks: await countLines(s.cgroupPath, "cgroup.threads"),
      processes: await countLines(s.cgroupPath, "cgroup.procs"),
    });
  }
  const byFn = new Map<string, PlatformFunctionReport>();
  for (const s of sandboxes) {
    const f = byFn.get(s.function) ?? { function: s.function, sandboxes: 0, tasks: 0 };
    f.sandboxes += 1;
    f.tasks += s.tasks;
    byFn.set(s.function, f);
  }
  return { ...base, ok: true, sandboxes, functions: [...byFn.values()] };
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The text section of `alps doctor` for a platform report. */
export function formatPlatformReport(r: PlatformReport): string {
  const lines = [
    `platform       ${r.platform}, ${r.source.kind.replace("-", " ")} ${r.source.path}`,
  ];
  if (!r.ok) {
    lines.push(`  error        ${r.error ?? "unknown"}`);
    return `${lines.join("\n")}\n`;
  }
  lines.push(`  sandboxes    ${r.sandboxes.length === 0 ? "none found" : r.sandboxes.length}`);
  const width = Math.max(0, ...r.sandboxes.map((s) => s.function.length));
  for (const s of r.sandboxes) {
    const tasks = count(s.tasks, "task", "tasks").padStart(9);
    const id = s.id === s.cgroup ? "" : `  (id ${s.id})`;
    lines.push(`    ${s.function.padEnd(width)}  ${tasks}  ${s.cgroup}${id}`);
  }
  lines.push(
    `  functions    ${
      r.functions.length === 0
        ? "none"
        : r.functions
            .map((f) => `${f.function} (${count(f.sandboxes, "sandbox", "sandboxes")})`)
            .join(", ")
    }`,
  );
  return `${lines.join("\n")}\n`;
}
