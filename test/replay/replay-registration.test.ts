/**
 * The replay's registration: its default by workers, and `--registration
 * concurrent` for warm workers only (a fork worker's fresh process is held
 * until it is registered, so asking for both is refused before anything
 * starts: no daemon, no worker, no cgroup).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { runMode } from "../../src/replay/run-mode.js";
import { defaultRegistration } from "../../src/replay/types.js";
import { ensureBuilt, runCli } from "../helpers/cli.js";

beforeAll(() => ensureBuilt(), 200_000);

describe("replay --registration", () => {
  it("defaults by workers: a warm worker starts at once, a fresh process waits for its answer", () => {
    expect(defaultRegistration("warm")).toBe("concurrent");
    // Concurrent is refused for fork workers (below), so their default must not be it.
    expect(defaultRegistration("fork")).toBe("await");
  });

  it("concurrent with fork workers is refused, naming both flags", async () => {
    const run = runMode([{ arrivalMs: 0, fn: "f", durationMs: 1 }], {
      mode: "alps",
      workers: "fork",
      registration: "concurrent",
    });
    await expect(run).rejects.toBeInstanceOf(UsageError);
    await expect(run).rejects.toThrow(/--registration concurrent applies to warm workers/);
  });

  it("an unknown value is a usage error naming the flag and the choices", () => {
    const r = runCli(["replay", "--registration", "later"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--registration/);
    expect(r.stderr).toMatch(/await/);
    expect(r.stderr).toMatch(/concurrent/);
  });
});
