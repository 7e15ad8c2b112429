/**
 * The daemon's own threads on SCHED_FIFO above its functions (safety
 * invariant 2), without passing real-time priority to anything it spawns,
 * and back on SCHED_OTHER nice 0 after restoreSelf().
 */
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { addonSyscalls, loadAddon } from "../../src/host/addon.js";
import { raiseToRealtime, restoreSelf } from "../../src/backend/actuator/self-priority.js";
import { SCHED_FIFO, SCHED_FLAG_RESET_ON_FORK } from "../../src/host/syscalls-types.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { procSched } from "./bpf-kit.js";

const loaded = loadAddon();

describe.skipIf(!requireHost("root and the native addon", isRoot() && loaded.ok))(
  "daemon self priority",
  () => {
    it("raises every thread to SCHED_FIFO with RESET_ON_FORK; children start on SCHED_OTHER; restore undoes it", async () => {
      if (!loaded.ok) return;
      const syscalls = addonSyscalls(loaded.addon);
      expect(() => raiseToRealtime(0, syscalls)).toThrow(RangeError);
      const child = { pid: undefined as number | undefined, kill: () => {} };
      try {
        const changed = raiseToRealtime(45, syscalls);
        const threads = readdirSync("/proc/self/task").map(Number);
        expect(changed.length).toBeGreaterThanOrEqual(1);
        for (const tid of changed) {
          const attr = syscalls.getAttr(tid);
          expect(attr.policy).toBe(SCHED_FIFO);
          expect(attr.priority).toBe(45);
          expect(attr.flags & SCHED_FLAG_RESET_ON_FORK).toBe(SCHED_FLAG_RESET_ON_FORK);
        }
        expect(threads).toContain(process.pid);
        const sleeper = spawn("sleep", ["2"], { stdio: "ignore" });
        child.pid = sleeper.pid;
        child.kill = () => sleeper.kill("SIGKILL");
        expect(procSched(sleeper.pid as number)).toEqual({ nice: 0, policy: 0 });
      } finally {
        restoreSelf(syscalls);
        child.kill();
      }
      expect(procSched(process.pid)).toEqual({ nice: 0, policy: 0 });
      expect(syscalls.getAttr(process.pid).flags).toBe(0n);
    });
  },
);
