/**
 * A safety drill: a stand-in daemon that changes real tasks the way alps
 * does, through the same touched-task record and guardian, so the guardian
 * and `alps restore` can be shown to work by killing it (the kernel tests do
 * exactly that; an operator can too).
 *
 *   node dist/backend/guardian/guardian-drill.js --state-dir D --mode nice|fifo [--no-guardian] PID...
 *
 * mode nice: PID i gets nice -5 - 3i with SCHED_RESET_ON_FORK and the
 * shortest EEVDF slice request (a boost as alps mode applies it by
 * default), except the last of several, which yields at nice 5 with the
 * default unboosted slice request (a yield as alps mode applies it).
 * mode fifo: PID i gets SCHED_FIFO priority 10 + i with SCHED_RESET_ON_FORK
 * (as in sfs mode). Prints one JSON line `{ready, guardian, record}` once
 * every task is changed, then waits. SIGTERM/SIGINT is the clean shutdown:
 * put every task back as it was itself, say "bye" to the guardian, exit 0.
 */
import { sliceRequestNs } from "../actuator/actuator.js";
import { DEFAULT_UNBOOSTED_SLICE_MS, sliceNs } from "../../contracts/levels.js";
import { startGuardian } from "./guardian.js";
import { putTaskBack } from "./restore.js";
import { createFfiSyscalls } from "../../host/syscalls-ffi.js";
import { baseAttr, SCHED_FIFO, SCHED_FLAG_RESET_ON_FORK } from "../../host/syscalls-types.js";
import { createTouchedTasks } from "./touched.js";

function argValue(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : process.argv[at + 1];
}

async function main(): Promise<void> {
  const stateDir = argValue("--state-dir");
  const mode = argValue("--mode");
  const pids = process.argv
    .slice(2)
    .filter(
      (arg, i, all) => /^\d+$/.test(arg) && !["--state-dir", "--mode"].includes(all[i - 1] ?? ""),
    )
    .map(Number);
  if (stateDir === undefined || (mode !== "nice" && mode !== "fifo") || pids.length === 0) {
    process.stderr.write(
      "usage: guardian-drill.js --state-dir D --mode nice|fifo [--no-guardian] PID...\n",
    );
    process.exit(2);
  }
  const syscalls = createFfiSyscalls();
  const touched = createTouchedTasks({ stateDir });
  const guardian = process.argv.includes("--no-guardian")
    ? undefined
    : await startGuardian({ file: touched.path });

  pids.forEach((pid, i) => {
    // Recorded before the change, as the real actuator does.
    touched.mark(pid);
    if (mode === "nice") {
      const yields = pids.length > 1 && i === pids.length - 1;
      syscalls.setAttr(pid, {
        ...baseAttr(),
        nice: yields ? 5 : -5 - 3 * i,
        flags: SCHED_FLAG_RESET_ON_FORK,
        runtimeNs: yields ? sliceNs(DEFAULT_UNBOOSTED_SLICE_MS) : sliceRequestNs("shortest", 0n),
      });
    } else {
      syscalls.setAttr(pid, {
        ...baseAttr(),
        policy: SCHED_FIFO,
        priority: 10 + i,
        flags: SCHED_FLAG_RESET_ON_FORK,
      });
    }
  });

  const shutdown = async (): Promise<void> => {
    for (const tid of touched.list()) {
      try {
        putTaskBack(tid, touched.taskOriginal(tid), syscalls);
      } catch (error) {
        if ((error as { code?: unknown }).code !== "ESRCH") throw error;
      }
      touched.release(tid);
    }
    await guardian?.stop();
    touched.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => void shutdown());
  // Keeps the process alive until a signal arrives.
  setInterval(() => {}, 60_000);
  process.stdout.write(
    `${JSON.stringify({ ready: true, guardian: guardian?.pid ?? null, record: touched.path })}\n`,
  );
}

void main();
