/**
 * A daemon starting over the record of one that never restored its tasks.
 *
 * The guardian restores when the daemon alone dies. When both die together
 * (the container killed as a whole, `kill -9` of the process group, an OOM
 * kill of the cgroup, a node restart of the pod) nobody does, and the record
 * is left listing tasks still at the levels alps gave them. Under Kubernetes
 * or systemd the next thing to run is a new daemon, not an operator with
 * `alps restore`: refusing to start there only crash-loops with the tasks
 * still changed. So the new daemon restores them itself, with the same
 * function `alps restore` and the guardian use (tasks back to their
 * original policy and nice, cpu cgroups to their weight), logs what it did,
 * and starts. It still refuses while the record's owner is alive (a second
 * daemon on the same state directory; the state directory's lock normally
 * says so first), and when something could not be restored (it stays in the
 * record, for `alps restore` with the privilege that was missing).
 */
import { existsSync } from "node:fs";
import { UsageError } from "../../errors.js";
import { type RestoreResult, type RestoreSyscalls, restoreTasks } from "./restore.js";
import { touchedFilePath } from "./touched.js";

/**
 * Restores what the record in `stateDir` still lists, if there is one.
 * Returns undefined when there is no record (the last daemon stopped
 * cleanly, or none ran here).
 */
export function recoverLeftTasks(
  stateDir: string,
  syscalls: RestoreSyscalls,
  log: (message: string, level?: "info" | "warn") => void,
): RestoreResult | undefined {
  const file = touchedFilePath(stateDir);
  if (!existsSync(file)) return undefined;
  let result: RestoreResult;
  try {
    result = restoreTasks(file, syscalls);
  } catch (error) {
    // restoreTasks refuses while the owner runs: a second daemon on this state directory.
    if (error instanceof UsageError)
      throw new UsageError(
        `another alps daemon is running with --state-dir ${stateDir}: ${error.message.replace(/; stop it.*$/, "")}. Stop it first, or give this daemon its own --state-dir`,
      );
    throw error;
  }
  const total = result.restored + result.gone + result.recycled + result.failed.length;
  const c = result.cgroups;
  const groups = c.restored + c.gone + c.recycled + c.failed.length;
  log(
    `${file} was left by an alps daemon that ended without restoring its tasks (killed together with its guardian?): ` +
      `${total} task(s) listed; restored ${result.restored}, gone ${result.gone}, recycled tid (left alone) ${result.recycled}, failed ${result.failed.length}` +
      (groups > 0
        ? `; ${groups} cpu cgroup(s): restored ${c.restored}, gone ${c.gone}, recycled ${c.recycled}, failed ${c.failed.length}`
        : ""),
    "warn",
  );
  const failed = [
    ...result.failed.map((f) => `tid ${f.tid} (${f.error})`),
    ...c.failed.map((f) => `cgroup ${f.dir} (${f.error})`),
  ];
  if (failed.length > 0) {
    throw new UsageError(
      `could not restore ${failed.join(", ")}; they stay in ${file}: ` +
        "run `alps restore` with the privilege that was missing, then start the daemon again",
    );
  }
  return result;
}
