/**
 * Which cgroup v2 directory is a Docker container's, refusing to guess.
 *
 * A container's init pid is in some v2 cgroup; that cgroup is the
 * container's only when its path names the container:
 *   - `…/docker-<id>.scope`: the systemd cgroup driver (any slice);
 *   - `…/<id>`: the cgroupfs driver (`/docker/<id>`, or below a CgroupParent).
 * A process may sit below that directory (a container that makes its own
 * sub-cgroups); the directory naming the container is still the sandbox.
 * Anything else is refused. The case that matters: Docker's cgroupfs driver
 * on a hybrid host with a runc that does not join the v2 hierarchy leaves
 * every container in the v2 cgroup of containerd's shim, shared by all of
 * them — declaring it would give one function's level to every container.
 */
import { join } from "node:path";
import { parseV2Line } from "../../host/cgroups.js";

/** The cgroup lines of /proc/<pid>/cgroup: the v2 path and the v1 ones by controller list. */
export interface ProcCgroups {
  v2?: string;
  v1: { controllers: string; path: string }[];
}

export function parseProcCgroups(text: string): ProcCgroups {
  const out: ProcCgroups = { v1: [] };
  const v2 = parseV2Line(text);
  if (v2 !== undefined) out.v2 = v2;
  for (const line of text.split("\n")) {
    if (line.startsWith("0::")) continue;
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    out.v1.push({
      controllers: line.slice(first + 1, second),
      path: line.slice(second + 1).trim(),
    });
  }
  return out;
}

export type ContainerCgroup =
  | { ok: true; cgroupPath: string }
  | {
      ok: false;
      problem: "unnamed-cgroup" | "no-v2-cgroup";
      /** The v2 cgroup the init is in, when it has one (absolute). */
      cgroupPath?: string;
      /** v1 hierarchies whose path does name the container (a hybrid host's cgroupfs driver). */
      namedInV1: string[];
      detail: string;
    };

function namesContainer(component: string, id: string): boolean {
  return component === id || component === `docker-${id}.scope`;
}

/** The container's cgroup from its init's /proc/<pid>/cgroup text, or why it has none. */
export function resolveContainerCgroup(
  id: string,
  procCgroup: string,
  mount: string,
): ContainerCgroup {
  const cg = parseProcCgroups(procCgroup);
  const namedInV1 = cg.v1
    .filter((l) => l.path.split("/").some((c) => namesContainer(c, id)))
    .map((l) => `${l.controllers}:${l.path}`);
  if (cg.v2 === undefined) {
    return {
      ok: false,
      problem: "no-v2-cgroup",
      namedInV1,
      detail: "its init has no cgroup v2 line in /proc/<pid>/cgroup",
    };
  }
  const parts = cg.v2.split("/").filter((c) => c !== "");
  let deepest = -1;
  parts.forEach((c, i) => {
    if (namesContainer(c, id)) deepest = i;
  });
  if (deepest < 0) {
    return {
      ok: false,
      problem: "unnamed-cgroup",
      cgroupPath: join(mount, cg.v2),
      namedInV1,
      detail: `its init's cgroup v2 path ${cg.v2} does not name it (expected …/docker-<id>.scope or …/<id>)`,
    };
  }
  return { ok: true, cgroupPath: join(mount, "/", ...parts.slice(0, deepest + 1)) };
}
