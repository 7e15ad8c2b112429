import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readProcFile, withProcSnapshot } from "../../src/host/proc-file.js";

describe("reading a /proc file, alone or in one snapshot", () => {
  let dir = "";
  let file = "";
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "alps-proc-file-"));
    file = join(dir, "stat");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("reads a multi-chunk file whole", () => {
    writeFileSync(file, "x".repeat(10_000));
    expect(readProcFile(file)).toHaveLength(10_000);
  });

  it("inside a snapshot each path is read once; outside, every call reads", () => {
    writeFileSync(file, "first");
    const seen = withProcSnapshot(() => {
      const a = readProcFile(file);
      writeFileSync(file, "second");
      // A nested turn shares the outer snapshot.
      return [a, readProcFile(file), withProcSnapshot(() => readProcFile(file))];
    });
    expect(seen).toEqual(["first", "first", "first"]);
    expect(readProcFile(file)).toBe("second");
  });

  it("a missing file throws every time, and the snapshot ends when its turn throws", () => {
    const missing = join(dir, "gone");
    expect(() =>
      withProcSnapshot(() => {
        expect(() => readProcFile(missing)).toThrow(/ENOENT/);
        writeFileSync(missing, "now");
        expect(readProcFile(missing)).toBe("now");
        throw new Error("refused");
      }),
    ).toThrow("refused");
    writeFileSync(missing, "later");
    expect(readProcFile(missing)).toBe("later");
  });
});

describe("a task's one-record /proc files, read through a kept descriptor", () => {
  const openFds = (): number => readdirSync("/proc/self/fd").length;

  it("reads the file anew each time, not what it said when it was opened", () => {
    const path = `/proc/${process.pid}/schedstat`;
    const cpuNs = (): number => Number(readProcFile(path).split(" ")[0]);
    const before = cpuNs();
    const fds = openFds();
    // A CPU-time bound, not a wall-clock one: at least 5 ms of this thread's CPU.
    const until = process.cpuUsage().user + 5000;
    while (process.cpuUsage().user < until);
    const after = cpuNs();
    expect(after).toBeGreaterThan(before);
    // Kept open: the second read opened nothing new.
    expect(openFds()).toBe(fds);
  });

  it("says a task is gone once it is, never its last text", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const pid = child.pid as number;
    try {
      expect(readProcFile(`/proc/${pid}/stat`)).toMatch(new RegExp(`^${pid} \\(sleep\\) `));
    } finally {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    }
    let error: unknown;
    try {
      readProcFile(`/proc/${pid}/stat`);
    } catch (e) {
      error = e;
    }
    expect((error as { code?: string } | undefined)?.code).toMatch(/^(ENOENT|ESRCH)$/);
  });

  it("keeps at most 128 descriptors open, however many tasks it reads", () => {
    const fds = openFds();
    let read = 0;
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      let tids: string[] = [];
      try {
        tids = readdirSync(`/proc/${entry}/task`);
      } catch {
        continue; // gone meanwhile
      }
      for (const dir of [`/proc/${entry}`, ...tids.map((tid) => `/proc/${entry}/task/${tid}`)])
        for (const file of ["stat", "status", "cgroup", "schedstat"]) {
          try {
            readProcFile(`${dir}/${file}`);
            read++;
          } catch {
            // gone meanwhile
          }
        }
    }
    // Enough distinct files to pass the bound on any host (4 per task and per thread).
    expect(read).toBeGreaterThan(128);
    expect(openFds() - fds).toBeLessThanOrEqual(128);
  });
});
