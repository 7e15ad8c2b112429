/**
 * The pid rule (docs/api.md; safety invariant 1, docs/safety.md): a client may name only a task
 * inside a declared sandbox, or itself / a descendant of itself, as proven by
 * the socket's peer credentials. pid 1 and the daemon itself are never
 * accepted: giving them a level could take the host down.
 */
import { cgroupDirOf } from "../../host/cgroups.js";
import { isSelfOrDescendant } from "../../host/proc-task.js";

export type PidDecision = { ok: true; why: "sandbox" | "descendant" } | { ok: false; why: string };

export function checkPid(
  pid: number,
  peerPid: number,
  sandboxDirs: Iterable<string>,
  cgroupMount?: string,
): PidDecision {
  if (pid === 1) return { ok: false, why: "pid 1 (init) is never a function task" };
  if (pid === process.pid) return { ok: false, why: "the daemon itself is never a function task" };
  const dir = cgroupDirOf(pid, cgroupMount);
  if (dir === undefined)
    return { ok: false, why: `pid ${pid} does not exist (or has no cgroup v2 path)` };
  for (const sandbox of sandboxDirs) {
    if (dir === sandbox || dir.startsWith(`${sandbox}/`)) return { ok: true, why: "sandbox" };
  }
  if (peerPid > 1 && isSelfOrDescendant(pid, peerPid)) return { ok: true, why: "descendant" };
  return {
    ok: false,
    why: `pid ${pid} is in no declared sandbox and is not a descendant of the caller (pid ${peerPid})`,
  };
}
