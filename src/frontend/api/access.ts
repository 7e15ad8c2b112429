/**
 * The pid rule (docs/api.md; safety invariant 1, docs/safety.md):
 *
 * - pid 1 and the daemon itself are never accepted: giving them a level
 *   could take the host down.
 * - A task inside a declared sandbox may be registered only by the platform
 *   (root, or the daemon's own user) or by the sandbox's declarer; a
 *   declarer that is not the platform only under the sandbox's function. The
 *   platform may name another function: a stem cell's first invocation sets
 *   its sandbox's key (docs/platforms.md). Anyone else is refused, even for
 *   its own process: the sandbox's tasks are the platform's to describe.
 * - A task in no sandbox: a client may name only itself or one of its
 *   descendants, as proven by the socket's peer credentials; a client that
 *   is not root only a descendant whose real, effective, saved and
 *   filesystem uids are all its own (a setuid child or another user's task
 *   is refused).
 *
 * Cost: one read of /proc/<pid>/cgroup, the ppid walk of the descendant rule,
 * and for callers that are not root one read of /proc/<pid>/status.
 */
import { cgroupDirOf } from "../../host/cgroups.js";
import { isSelfOrDescendant, readUids } from "../../host/proc-task.js";

export type PidDecision =
  | { ok: true; why: "sandbox" | "descendant" }
  | { ok: false; why: string; sandbox?: boolean };

export interface PidRequest {
  pid: number;
  /** The function name as the client gave it. */
  fn: string;
  /** The client, from SO_PEERCRED. */
  peer: { pid: number; uid: number };
  /** The client is the platform (root or the daemon's own user). */
  platform: boolean;
}

export interface SandboxView {
  /** Declared sandboxes: cgroup dir → function. */
  sandboxes(): ReadonlyMap<string, string>;
  sandboxDeclarer(dir: string): number | undefined;
}

/** The deepest declared sandbox holding cgroup `dir`. */
function sandboxOf(dir: string, view: SandboxView): string | undefined {
  let found: string | undefined;
  for (const sandbox of view.sandboxes().keys()) {
    if (
      (dir === sandbox || dir.startsWith(`${sandbox}/`)) &&
      sandbox.length > (found?.length ?? -1)
    )
      found = sandbox;
  }
  return found;
}

export function checkPid(req: PidRequest, view: SandboxView, cgroupMount?: string): PidDecision {
  const { pid, fn, peer, platform } = req;
  if (pid === 1) return { ok: false, why: "pid 1 (init) is never a function task" };
  if (pid === process.pid) return { ok: false, why: "the daemon itself is never a function task" };
  const dir = cgroupDirOf(pid, cgroupMount);
  if (dir === undefined)
    return { ok: false, why: `pid ${pid} does not exist (or has no cgroup v2 path)` };
  const sandbox = sandboxOf(dir, view);
  if (sandbox !== undefined) {
    const declarer = view.sandboxDeclarer(sandbox);
    const sandboxFn = view.sandboxes().get(sandbox);
    if (platform) return { ok: true, why: "sandbox" };
    if (declarer === peer.uid) {
      if (sandboxFn === fn) return { ok: true, why: "sandbox" };
      return {
        ok: false,
        sandbox: true,
        why: `pid ${pid} is in sandbox ${sandbox} of function '${sandboxFn}'; register it under that function, not '${fn}'`,
      };
    }
    return {
      ok: false,
      sandbox: true,
      why: `pid ${pid} is in sandbox ${sandbox}, declared by uid ${declarer}; only its declarer (or root) may register it (its tasks are scheduled from the sandbox's bursts)`,
    };
  }
  if (peer.pid > 1 && isSelfOrDescendant(pid, peer.pid)) {
    if (platform) return { ok: true, why: "descendant" };
    const uids = readUids(pid);
    if (uids === undefined) return { ok: false, why: `pid ${pid} is gone` };
    if (uids.every((u) => u === peer.uid)) return { ok: true, why: "descendant" };
    return {
      ok: false,
      why: `pid ${pid} runs as uids ${uids.join("/")} (real/effective/saved/fs), not as the caller's uid ${peer.uid} (a setuid program or another user's task)`,
    };
  }
  return {
    ok: false,
    why: `pid ${pid} is in no declared sandbox and is not a descendant of the caller (pid ${peer.pid})`,
  };
}
