/**
 * What a platform adapter sees now, for `alps doctor --platform …`: one
 * scan() (the adapter's own discovery), each sandbox's task count read from
 * its cgroup, the functions with how many sandboxes each has, the sandboxes
 * under a temporary key and their share, and the containers refused with
 * why the host's layout does not let alps tell them apart and how to fix it.
 * Reads only; changes no task and no cgroup.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type {
  PlatformAdapter,
  PlatformKind,
  PlatformSource,
  RefusedSandbox,
  SandboxInfo,
} from "./types.js";

export interface PlatformSandboxReport {
  /** The platform's id of the sandbox (the cgroup path, or the container id). */
  id: string;
  function: string;
  cgroup: string;
  /** Threads in the sandbox's cgroup itself (cgroup.threads): the tasks alps would act on. */
  tasks: number;
  /** Processes in it (cgroup.procs). */
  processes: number;
  /** The function key is temporary (an OpenWhisk stem cell). */
  provisional: boolean;
}

export interface PlatformFunctionReport {
  function: string;
  sandboxes: number;
  tasks: number;
}

export interface PlatformRefusalReport {
  id: string;
  name: string;
  problem: RefusedSandbox["problem"];
  /** The v2 cgroup its init is in, if any. */
  cgroup: string | null;
  /** v1 hierarchies whose path names it ("cpu:/docker/<id>"). */
  named_in_v1: string[];
  detail: string;
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
  /** Sandboxes declared under a temporary key, and their share of the declared ones. */
  provisional: { sandboxes: number; of: number; share_percent: number; why: string | null };
  /** Found but not declared. */
  refused: PlatformRefusalReport[];
  /** Whether this host's cgroup layout lets alps tell sandboxes apart; if not, why and the fix. */
  layout: { supported: boolean; problem: string | null; fix: string | null };
  /** Settings that are accepted but do nothing (deprecated). */
  warnings: string[];
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

export const LAYOUT_FIX =
  'run Docker with the systemd cgroup driver ("exec-opts": ["native.cgroupdriver=systemd"] in ' +
  "/etc/docker/daemon.json, then restart Docker and the invoker), or boot the host with pure " +
  "cgroup v2 (systemd.unified_cgroup_hierarchy=1 on the kernel command line)";

const PROVISIONAL_WHY =
  "OpenWhisk stem cells (prewarm_<kind>) are declared under that temporary key: the invoker hands " +
  "one to a cold start of any action of its kind and never renames it, so the action is known only " +
  "when a hook registers an invocation from inside it (or the container is renamed); without a hook " +
  "the key stays temporary for the container's life";

/** Why the refused containers show the layout is unsupported (text), or null when nothing was refused. */
function layoutProblem(refused: RefusedSandbox[]): string | null {
  if (refused.length === 0) return null;
  const n = refused.length;
  const hybrid = refused.filter((r) => r.problem === "unnamed-cgroup" && r.namedInV1.length > 0);
  if (hybrid.length > 0) {
    const byCgroup = new Map<string, number>();
    for (const r of hybrid) {
      if (r.cgroupPath !== undefined)
        byCgroup.set(r.cgroupPath, (byCgroup.get(r.cgroupPath) ?? 0) + 1);
    }
    const [top, count] = [...byCgroup.entries()].sort((a, b) => b[1] - a[1])[0] ?? ["?", 0];
    return (
      `Docker's cgroupfs driver on a hybrid cgroup host: ${hybrid.length} of ${n} refused containers are in v1 ` +
      `cgroups named after them (e.g. ${hybrid[0]?.namedInV1[0] ?? "?"}) but not in the cgroup v2 tree alps follows; ` +
      `their v2 cgroup is not theirs (${top}, shared by ${count} of them), so alps cannot tell them apart`
    );
  }
  const shared = refused.filter((r) => r.problem === "shared-cgroup").length;
  if (shared > 0) {
    return `${shared} containers share a cgroup v2 directory with another container, so alps cannot tell them apart`;
  }
  return `${n} containers are in cgroup v2 directories that do not name them (${refused[0]?.detail ?? ""}), so alps cannot tell them apart`;
}

export async function platformReport(
  adapter: PlatformAdapter,
  warnings: string[] = [],
): Promise<PlatformReport> {
  const base = { platform: adapter.kind, source: adapter.source, warnings };
  let found: SandboxInfo[];
  let refusedFound: RefusedSandbox[];
  try {
    const scan = await adapter.scan();
    found = scan.sandboxes;
    refusedFound = scan.refused;
  } catch (err) {
    return {
      ...base,
      ok: false,
      error: err instanceof Error ? err.message : String(err),
      sandboxes: [],
      functions: [],
      provisional: { sandboxes: 0, of: 0, share_percent: 0, why: null },
      refused: [],
      layout: { supported: true, problem: null, fix: null },
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
      provisional: s.provisional === true,
    });
  }
  const byFn = new Map<string, PlatformFunctionReport>();
  for (const s of sandboxes) {
    const f = byFn.get(s.function) ?? { function: s.function, sandboxes: 0, tasks: 0 };
    f.sandboxes += 1;
    f.tasks += s.tasks;
    byFn.set(s.function, f);
  }
  const provisional = sandboxes.filter((s) => s.provisional).length;
  const problem = layoutProblem(refusedFound);
  return {
    ...base,
    ok: true,
    sandboxes,
    functions: [...byFn.values()],
    provisional: {
      sandboxes: provisional,
      of: sandboxes.length,
      share_percent:
        sandboxes.length === 0 ? 0 : Math.round((1000 * provisional) / sandboxes.length) / 10,
      why: provisional > 0 ? PROVISIONAL_WHY : null,
    },
    refused: refusedFound.map((r) => ({
      id: r.id,
      name: r.name,
      problem: r.problem,
      cgroup: r.cgroupPath ?? null,
      named_in_v1: r.namedInV1,
      detail: r.detail,
    })),
    layout: {
      supported: problem === null,
      problem,
      fix: problem === null ? null : LAYOUT_FIX,
    },
  };
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The text section of `alps doctor` for a platform report. */
export function formatPlatformReport(r: PlatformReport): string {
  const lines = [
    `platform       ${r.platform}, ${r.source.kind.replace("-", " ")} ${r.source.path}`,
  ];
  for (const w of r.warnings) lines.push(`  warning      ${w}`);
  if (!r.ok) {
    lines.push(`  error        ${r.error ?? "unknown"}`);
    return `${lines.join("\n")}\n`;
  }
  lines.push(`  sandboxes    ${r.sandboxes.length === 0 ? "none found" : r.sandboxes.length}`);
  const width = Math.max(0, ...r.sandboxes.map((s) => s.function.length));
  for (const s of r.sandboxes) {
    const tasks = count(s.tasks, "task", "tasks").padStart(9);
    const id = s.id === s.cgroup ? "" : `  (id ${s.id.slice(0, 12)})`;
    const temp = s.provisional ? "  temporary key" : "";
    lines.push(`    ${s.function.padEnd(width)}  ${tasks}  ${s.cgroup}${id}${temp}`);
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
  if (r.provisional.sandboxes > 0) {
    lines.push(
      `  temporary    ${r.provisional.sandboxes} of ${r.provisional.of} sandboxes (${r.provisional.share_percent}%) run an action alps cannot know without the platform's help`,
      `               ${r.provisional.why ?? ""}`,
    );
  }
  if (r.refused.length > 0) {
    lines.push(`  refused      ${count(r.refused.length, "container", "containers")}`);
    for (const x of r.refused) {
      const v1 = x.named_in_v1.length > 0 ? `; v1 names it: ${x.named_in_v1.join(" ")}` : "";
      lines.push(`    ${x.name} (${x.id.slice(0, 12)})  ${x.detail}${v1}`);
    }
  }
  if (!r.layout.supported) {
    lines.push(`  layout       unsupported: ${r.layout.problem ?? ""}`);
    lines.push(`  fix          ${r.layout.fix ?? ""}`);
  }
  return `${lines.join("\n")}\n`;
}
