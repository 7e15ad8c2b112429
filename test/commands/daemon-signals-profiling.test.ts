/**
 * Which fatal signals `alps daemon` catches: all of FATAL_SIGNALS, except
 * SIGPROF when node runs V8's CPU profiler, whose sampler sends it every
 * interval (catching it would stop a profiled daemon at its first sample).
 */
import { describe, expect, it } from "vitest";
import { caughtFatalSignals, FATAL_SIGNALS } from "../../src/commands/daemon-signals.js";

describe("fatal signals the daemon catches", () => {
  it("catches every fatal signal, SIGPROF included, when not profiled", () => {
    expect(caughtFatalSignals([])).toEqual(FATAL_SIGNALS);
    expect(caughtFatalSignals(["--max-old-space-size=512"])).toContain("SIGPROF");
  });

  it("leaves SIGPROF to V8 under --cpu-prof, and catches the rest", () => {
    for (const argv of [
      ["--cpu-prof"],
      ["--cpu-prof-dir", "/tmp/x", "--cpu-prof"],
      ["--cpu-prof=true"],
    ]) {
      const caught = caughtFatalSignals(argv);
      expect(caught).not.toContain("SIGPROF");
      expect(caught).toEqual(FATAL_SIGNALS.filter((s) => s !== "SIGPROF"));
    }
    // Only the profiler's own flag: its directory option alone does not start it.
    expect(caughtFatalSignals(["--cpu-prof-dir", "/tmp/x"])).toContain("SIGPROF");
  });
});
