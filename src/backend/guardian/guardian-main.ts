/**
 * The guardian process (see guardian.ts):
 * `node guardian-main.js --file F [--timeout-ms T]`. Started by the daemon
 * with the read end of a pipe on stdin and the write end of another on
 * stdout. It keeps the record F open and its live set in memory
 * (touched-follow.ts), and:
 * - "bye" on the pipe: the daemon shut down cleanly and restored its tasks
 *   itself; exit 0 without touching anything.
 * - the pipe closes without "bye" (the daemon was SIGKILLed, crashed, was
 *   OOM-killed), or the daemon's pid is no longer our parent: put every task
 *   and cgroup of the record back as it was, clear the record, log, exit.
 * - nothing on the pipe for T ms (default 1000): the daemon writes a
 *   heartbeat every 250 ms, so it is stopped (SIGSTOP) or hung. Put
 *   everything back now, without clearing the record, tell the daemon
 *   ("restored N" on stdout: it re-applies its levels when it runs again),
 *   and go on guarding.
 * - after an idle heartbeat ("i": the daemon's tick is idle) and while the
 *   record is empty (as read at that beat or at the check), the silence
 *   allowed is I ms (--idle-timeout-ms, default T): the daemon beats slowly
 *   then, and there is nothing to restore. A beat "h" or a record that holds
 *   something brings T back at once (before its first change the daemon
 *   writes the entry, then beats "h").
 * The checks run when something happens, not on a clock of their own: on
 * each heartbeat (record read, parent checked) and when the heartbeat has
 * been silent for T (or I) ms (a one-shot timer each beat pushes back).
 * Idle, the guardian thus wakes on the heartbeats alone: every 2 s while
 * the record is empty, 4 times a second while it holds something (its
 * old 100 ms poll was most of an idle host's alps CPU, docs/results.md).
 * Deleting F does not blind it. It ignores SIGINT/SIGTERM/SIGHUP so a signal
 * meant for the daemon's session cannot remove the safety net.
 */
import { performance } from "node:perf_hooks";
import { threadsOf } from "../../host/proc-stat.js";
import { clearRecord, restoreEntries } from "./restore.js";
import { createFfiSyscalls } from "../../host/syscalls-ffi.js";
import { baseAttr, type Syscalls } from "../../host/syscalls-types.js";
import { RecordFollower } from "./touched-follow.js";

/**
 * The guardian's own nice level: fair class (never real-time, so it can
 * starve nothing, and it only sleeps), but boosted so that when it wakes it
 * is not queued behind the boosted function tasks it is about to restore.
 */
export const GUARDIAN_NICE = -10;
/**
 * How often the guardian checks its parent and the record while the daemon
 * is silent (stopped, or a heartbeat timeout of 0), ms.
 */
const CHECK_MS = 100;

function log(message: string): void {
  process.stderr.write(`alps-guardian[${process.pid}]: ${message}\n`);
}

function argValue(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : process.argv[at + 1];
}

/**
 * The daemon may run at a real-time priority, which a spawned child
 * inherits on every thread: put each of our threads on the fair class.
 */
function leaveRealTime(syscalls: Syscalls): void {
  for (const tid of threadsOf(process.pid)) {
    try {
      syscalls.setAttr(tid, { ...baseAttr(), nice: GUARDIAN_NICE });
    } catch (error) {
      // Without CAP_SYS_NICE the boost is refused: nice 0 fair class still
      // meets the invariant (the guardian is not real-time).
      log(`could not set nice ${GUARDIAN_NICE} on thread ${tid} (${String(error)}); using nice 0`);
      syscalls.setAttr(tid, baseAttr());
    }
  }
}

function main(): void {
  const file = argValue("--file");
  const timeoutMs = Number(argValue("--timeout-ms") ?? "1000");
  const idleTimeoutMs = Number(argValue("--idle-timeout-ms") ?? String(timeoutMs));
  if (
    file === undefined ||
    !Number.isFinite(timeoutMs) ||
    timeoutMs < 0 ||
    !Number.isFinite(idleTimeoutMs) ||
    idleTimeoutMs < timeoutMs
  ) {
    log(
      "usage: guardian-main.js --file <touched-task record> [--timeout-ms T] [--idle-timeout-ms I >= T]",
    );
    process.exit(2);
  }
  const syscalls = createFfiSyscalls();
  leaveRealTime(syscalls);
  let follower: RecordFollower;
  try {
    follower = new RecordFollower(file);
  } catch (error) {
    log(`cannot open record ${file}: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
  const parent = process.ppid;
  let done = false;
  let lastBeat = performance.now();
  /** The daemon stopped answering and its tasks were put back; cleared by its next heartbeat. */
  let stalledSince: number | undefined;

  /** Restores everything in the record (as read now); returns the summary line and whether all went. */
  const restoreAll = (clear: boolean): { line: string; ok: boolean; changed: number } => {
    const t0 = performance.now();
    follower.refresh();
    const record = follower.record();
    const { result, keptTasks, keptCgroups } = restoreEntries(
      record.entries,
      record.cgroups,
      syscalls,
    );
    if (clear) clearRecord(file, record.owner, keptTasks, keptCgroups);
    const ms = (performance.now() - t0).toFixed(1);
    const failed = [
      ...result.failed.map((f) => `${f.tid}:${f.error}`),
      ...result.cgroups.failed.map((f) => `${f.dir}:${f.error}`),
    ].join(" ");
    const c = result.cgroups;
    const cgroups =
      record.cgroups.length === 0
        ? ""
        : `; cgroups restored ${c.restored}, gone ${c.gone}, recycled ${c.recycled}, failed ${c.failed.length}`;
    return {
      line: `restored ${result.restored}, gone ${result.gone}, recycled ${result.recycled}, failed ${result.failed.length}${cgroups}${failed === "" ? "" : ` (${failed})`} in ${ms} ms`,
      ok: result.failed.length === 0 && c.failed.length === 0,
      changed: result.restored + c.restored,
    };
  };

  const restoreAndExit = (reason: string): void => {
    if (done) return;
    done = true;
    try {
      const { line, ok } = restoreAll(true);
      log(`${reason}: ${line}`);
      process.exit(ok ? 0 : 1);
    } catch (error) {
      log(`${reason}: restore failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    }
  };

  /** Parent gone, or the record read: what every beat and every silent check does. Returns false once restoring. */
  const check = (): boolean => {
    if (done) return false;
    // Belt and braces for the pipe: a daemon whose pipe end leaked into a
    // child would never close it; its death still re-parents us.
    if (process.ppid !== parent) {
      restoreAndExit(`daemon ${parent} is no longer our parent`);
      return false;
    }
    try {
      follower.refresh();
    } catch (error) {
      log(`reading record ${file}: ${error instanceof Error ? error.message : String(error)}`);
    }
    return true;
  };

  /** The last heartbeat was "i" (the daemon's tick is idle). */
  let idleBeat = false;
  /** The silence allowed now: T while the record (as last read) holds anything, I while it is empty. */
  const allowedMs = (): number => (idleBeat && follower.empty ? idleTimeoutMs : timeoutMs);

  /** While the daemon is silent past the timeout: the parent and the record, every CHECK_MS. */
  let silentPoll: NodeJS.Timeout | undefined;
  const onSilence = (): void => {
    if (!check()) return;
    const now = performance.now();
    if (stalledSince === undefined && now - lastBeat < allowedMs()) {
      // Set for T at the last beat but the record emptied since (only the
      // daemon empties it, so it ran): wait out the rest of I.
      armSilence(allowedMs() - (now - lastBeat));
      return;
    }
    if (stalledSince === undefined) {
      stalledSince = lastBeat;
      try {
        const { line, changed } = restoreAll(false);
        log(
          `daemon ${parent} has not answered for ${(now - lastBeat).toFixed(0)} ms (stopped or hung): ${line}`,
        );
        process.stdout.write(`restored ${changed}\n`);
      } catch (error) {
        log(`restore failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    // Until the next beat: the parent, the record and the timeout again every CHECK_MS.
    silentPoll ??= setInterval(onSilence, CHECK_MS);
  };
  // Fires the allowed silence after the last beat: each beat pushes it back
  // (refresh, no new timer, unless the allowance changed with the record).
  let silence: NodeJS.Timeout | undefined;
  let silenceMs = 0;
  const armSilence = (ms: number): void => {
    if (silence !== undefined && ms === silenceMs) {
      silence.refresh();
      return;
    }
    if (silence !== undefined) clearTimeout(silence);
    silenceMs = ms;
    silence = setTimeout(onSilence, ms);
  };
  if (timeoutMs > 0) armSilence(allowedMs());
  // No heartbeat timeout: nothing marks silence, so poll as before.
  else silentPoll = setInterval(check, CHECK_MS);

  let received = "";
  process.stdin.on("data", (chunk: Buffer) => {
    lastBeat = performance.now();
    if (stalledSince !== undefined) {
      log(
        `daemon ${parent} answers again after ${(lastBeat - stalledSince).toFixed(0)} ms; it re-applies its levels`,
      );
      stalledSince = undefined;
    }
    // Only the tail can hold "bye": heartbeats are not kept.
    received = (received + chunk.toString("utf8")).slice(-16);
    if (received.includes("bye\n")) {
      done = true;
      process.exit(0);
    }
    // The last complete beat says whether the daemon is idle.
    idleBeat = received.endsWith("i\n");
    if (!check()) return;
    if (timeoutMs > 0) {
      // check() read the record: the allowance follows what it holds now.
      armSilence(allowedMs());
      if (silentPoll !== undefined) clearInterval(silentPoll);
      silentPoll = undefined;
    }
  });
  process.stdin.on("end", () => restoreAndExit(`daemon ${parent} gone without bye`));
  process.stdin.on("error", () => restoreAndExit(`pipe from daemon ${parent} broke`));
  // The daemon may be stopped and never read what we write: a write error is not ours to die of.
  process.stdout.on("error", () => {});
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => log(`ignoring ${signal}: the guardian ends with the daemon`));
  }

  process.stdout.write("ready\n");
}

main();
