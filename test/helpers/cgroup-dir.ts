/**
 * Removing a cgroup directory a test made: the kernel refuses (EBUSY) while
 * a task is still in it, and a task the test killed leaves only once it has
 * exited, which a loaded host may take a while to get to. So: retry until
 * it goes; the deadline only catches a task that never exits.
 */
import { rmdirSync } from "node:fs";

export async function rmdirWhenEmpty(path: string, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      rmdirSync(path);
      return;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || Date.now() > deadline) throw error;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
