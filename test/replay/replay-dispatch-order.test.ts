/**
 * The order in which the dispatcher lets a worker go and sends its
 * registration, per `--registration`: await registers first; concurrent lets
 * the worker go first (the real-time daemon must not wake ahead of it);
 * resume hands the demand over first, for the daemon to continue. The
 * workers and the daemon's side here record calls only: the order is the
 * dispatcher's own decision, made before either is reached.
 */
import { describe, expect, it } from "vitest";
import type { AlpsSide } from "../../src/replay/alps-side.js";
import { dispatchAll } from "../../src/replay/run-mode.js";
import type { MeasuredInvocation, Registration } from "../../src/replay/types.js";
import type { Slot, Workers } from "../../src/replay/workers.js";

function recordingRun(registration: Registration): Promise<string[]> {
  const calls: string[] = [];
  const slot: Slot = {
    pid: 4242,
    cold: false,
    run: (opts) => {
      calls.push(opts?.continuedBy === "daemon" ? "handed over" : "run");
      const now = process.hrtime.bigint();
      return Promise.resolve({ startNs: now, endNs: now, cpuMs: 1 });
    },
    release: () => calls.push("release"),
  };
  const workers = {
    kind: registration === "concurrent" ? "warm" : "fork",
    takeNow: () => slot,
    acquire: () => Promise.resolve(slot),
  } as unknown as Workers;
  const side = {
    registers: true,
    resumes: true,
    register: (_fn: string, _pid: number, resume?: boolean) => {
      calls.push(resume === true ? "register with resume" : "register");
      return Promise.resolve("1");
    },
    end: () => {
      calls.push("end");
    },
  } as unknown as AlpsSide;
  const measured: MeasuredInvocation[] = [];
  return dispatchAll([{ arrivalMs: 0, fn: "f", durationMs: 1 }], workers, side, measured, {
    mode: "alps",
    registration,
    leadMs: 0,
  }).then(() => {
    expect(measured).toHaveLength(1);
    return calls;
  });
}

describe("the dispatcher's order of worker and registration", () => {
  it("await: registered, then the worker runs", async () => {
    expect(await recordingRun("await")).toEqual(["register", "run", "end", "release"]);
  });

  it("concurrent: the worker is let go before its registration is sent", async () => {
    expect(await recordingRun("concurrent")).toEqual(["run", "register", "end", "release"]);
  });

  it("resume: the demand is handed over before the daemon is asked to continue it", async () => {
    expect(await recordingRun("resume")).toEqual([
      "handed over",
      "register with resume",
      "end",
      "release",
    ]);
  });
});
