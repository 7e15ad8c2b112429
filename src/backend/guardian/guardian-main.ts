/**
 * The guardian process (see guardian.ts): `node guardian-main.js --file F`.
 * Started by the daemon with the read end of a pipe on stdin. It does
 * nothing but wait:
 * - "bye" on the pipe: the daemon shut down cleanly and restored its tasks
 *   itself; exit 0 without touching anything.
 * - the pipe closes without "bye" (the daemon was SIGKILLed, crashed, was
 *   OOM-killed), or the daemon's pid is no longer our parent: restore every
 *   task in the record F to SCHED_OTHER nice 0, log the outcome, exit.
 * - the record F is gone: nothing left to guard; exit 0.
 * It never outlives its purpose, and ignores SIGINT/SIGTERM/SIGHUP so a
 * signal meant for the daemon's session cannot remove the safety net.
 */
import { existsSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { restoreTasks } from "./restore.js";
import { threadsOf } from "../../host/proc-stat.js";
import { createFfiSyscalls } from "../../host/syscalls-ffi.js";
import { baseAttr, type Syscalls } from "../../host/syscalls-types.js";

/**
 * The guardian's own nice level: fair class (never real-time, so it can
 * starve nothing, and it only sleeps), but boosted so that when it wakes it
 * is not queued behind the boosted function tasks it is about to restore.
 */
export const GUARDIAN_NICE = -10;
/** How often the guardian checks its parent and the record, ms. */
const CHECK_MS = 250;

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
  if (file === undefined) {
    log("usage: guardian-main.js --file <touched-task record>");
    process.exit(2);
  }
  const syscalls = createFfiSyscalls();
  leaveRealTime(syscalls);
  if (!existsSync(file)) {
    log(`record ${file} does not exist; nothing to guard`);
    process.exit(1);
  }
  const parent = process.ppid;
  let bye = false;
  let done = false;

  const restoreAndExit = (reason: string): void => {
    if (done) return;
    done = true;
    const t0 = performance.now();
    try {
      const r = restoreTasks(file, syscalls, { force: true });
      const ms = (performance.now() - t0).toFixed(1);
      const failed = r.failed.map((f) => `${f.tid}:${f.error}`).join(" ");
      log(
        `${reason}: restored ${r.restored}, gone ${r.gone}, recycled ${r.recycled}, failed ${r.failed.length}${failed === "" ? "" : ` (${failed})`} in ${ms} ms`,
      );
      process.exit(r.failed.length === 0 ? 0 : 1);
    } catch (error) {
      log(`${reason}: restore failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    }
  };

  let received = "";
  process.stdin.on("data", (chunk: Buffer) => {
    received += chunk.toString("utf8");
    if (received.includes("bye\n")) {
      bye = true;
      process.exit(0);
    }
  });
  process.stdin.on("end", () => {
    if (!bye) restoreAndExit(`daemon ${parent} gone without bye`);
  });
  process.stdin.on("error", () => {
    if (!bye) restoreAndExit(`pipe from daemon ${parent} broke`);
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => log(`ignoring ${signal}: the guardian ends with the daemon`));
  }
  // Belt and braces for the pipe: a daemon whose pipe end leaked into a
  // child would never close it; its death still re-parents us.
  setInterval(() => {
    if (!existsSync(file)) {
      log(`record ${file} is gone; nothing left to guard`);
      process.exit(0);
    }
    if (process.ppid !== parent) restoreAndExit(`daemon ${parent} is no longer our parent`);
  }, CHECK_MS);

  process.stdout.write("ready\n");
}

main();
