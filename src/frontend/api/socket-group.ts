/**
 * `--socket-group`: the control socket becomes 0660 with that group, so the
 * group's members (a FaaS platform's user) may call the API. That only works
 * if they can reach the socket: every directory on its path must be
 * searchable by the group. A 0700 state directory (what a systemd unit gets
 * from RuntimeDirectoryMode=0700) makes the option useless, silently: the
 * platform's calls fail with EACCES and nothing in alps says why. So the
 * daemon checks the path before it starts and refuses with the directory and
 * the fix.
 */
import { readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { UsageError } from "../../errors.js";

/** A group name or number, as --socket-group takes it, to its gid (/etc/group). */
export function resolveGid(group: string, groupFile = "/etc/group"): number {
  if (/^\d+$/.test(group)) return Number(group);
  const line = readFileSync(groupFile, "utf8")
    .split("\n")
    .find((l) => l.split(":")[0] === group);
  const gid = Number(line?.split(":")[2]);
  if (line === undefined || !Number.isInteger(gid))
    throw new UsageError(`--socket-group ${group}: no such group in ${groupFile}`);
  return gid;
}

/** The umask of this process (/proc/self/status), which the mode of a directory it creates goes through. */
function ownUmask(): number {
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m?.[1] === undefined ? 0o022 : Number.parseInt(m[1], 8);
  } catch {
    return 0o022;
  }
}

/** Whether members of `gid` (not the owner, not root) may search a directory with this mode and group. */
function searchableBy(gid: number, dir: { mode: number; gid: number }): boolean {
  return (dir.mode & 0o001) !== 0 || (dir.gid === gid && (dir.mode & 0o010) !== 0);
}

/**
 * Throws a UsageError naming the first directory on the way to `socketPath`
 * that members of `group` cannot search. A directory that does not exist yet
 * is judged by the mode the daemon will create it with (`createMode`, through
 * the umask; owned by root's group).
 */
export function checkSocketGroupReach(socketPath: string, group: string, createMode = 0o755): void {
  const gid = resolveGid(group);
  const dirs: string[] = [];
  for (let d = dirname(socketPath); ; d = dirname(d)) {
    dirs.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const dir of dirs) {
    let mode: number;
    let dirGid: number;
    try {
      const st = statSync(dir);
      mode = st.mode & 0o7777;
      dirGid = st.gid;
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOENT") throw error;
      mode = createMode & ~ownUmask();
      dirGid = process.getgid?.() ?? 0;
    }
    if (!searchableBy(gid, { mode, gid: dirGid })) {
      throw new UsageError(
        `--socket-group ${group}: members of group ${group} (gid ${gid}) cannot reach ${socketPath}: ` +
          `${dir} is mode ${mode.toString(8).padStart(4, "0")} (group ${dirGid}), not searchable by them. ` +
          `Make it searchable (chmod o+x ${dir}; under systemd RuntimeDirectoryMode=0711, as deploy/alps.service ships) ` +
          "or put the socket in a directory they can reach",
      );
    }
  }
}
