/**
 * Daemon.reload (what SIGHUP does in `alps daemon`): the learner's keys and
 * the policy file take effect at once, learning restarts on the new period,
 * keys that need a restart are reported and kept, and a reload that cannot
 * be read changes nothing.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import type { ManualClock } from "../../src/frontend/clock.js";
import { type DaemonConfig, defaultConfig } from "../../src/frontend/config.js";
import type { Daemon } from "../../src/frontend/daemon.js";
import { daemonOnSimulatedTime } from "./fixtures/simulated-daemon.js";

const dir = mkdtempSync(join(tmpdir(), "alps-reload-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function policyText(predicted: number): string {
  return JSON.stringify({
    functions: { f: { priority: 1, predicted_ms: predicted, slice_ms: predicted } },
    default: { priority: 2, predicted_ms: 50, slice_ms: 20 },
  });
}

function started(config: Partial<DaemonConfig> = {}) {
  // The whole configuration, so a test can hand reload() a changed copy of it.
  const base = { ...defaultConfig(), learnPeriodMs: 500, newFunctionLearnMs: 0, ...config };
  const { backend, clock, daemon } = daemonOnSimulatedTime(base);
  daemon.start();
  return { backend, clock, daemon, base };
}

/** One finished invocation of `fn`, so the learner has something to run on. */
function invoke(daemon: Daemon, clock: ManualClock, fn: string, cpuMs: number): void {
  const id = daemon.startInvocation(fn, process.pid);
  clock.advance(cpuMs + 1);
  daemon.endInvocation(id, { cpuMs });
}

describe("Daemon.reload", () => {
  it("a new learnPeriodMs shows in status and sets the learner's pace", () => {
    const { clock, daemon, base } = started();
    invoke(daemon, clock, "f", 5);
    const result = daemon.reload({ ...base, learnPeriodMs: 2000 });
    expect(result).toEqual({ applied: ["learnPeriodMs"], needRestart: [], policyFile: undefined });
    expect(daemon.status().learn_period_ms).toBe(2000);
    expect(daemon.config.learnPeriodMs).toBe(2000);
    const runs = () => daemon.status().counters.learner_runs;
    const before = runs();
    clock.advance(1999);
    expect(runs()).toBe(before); // the old 500 ms timer is gone
    clock.advance(1);
    expect(runs()).toBe(before + 1);
  });

  it("keys that need a restart are reported and keep their running value", () => {
    const { daemon, base } = started();
    const result = daemon.reload({ ...base, socket: "/tmp/elsewhere.sock", alpha: 2 });
    expect(result.applied).toEqual(["alpha"]);
    expect(result.needRestart).toEqual(["socket"]);
    expect(daemon.config.socket).toBe(base.socket);
    expect(daemon.config.alpha).toBe(2);
  });

  it("reads the policy file again and applies it", () => {
    const file = join(dir, "policy.json");
    writeFileSync(file, policyText(10));
    const { backend, daemon, base } = started({ policyFile: file });
    expect(backend.policies.at(-1)?.functions.f?.predicted_ms).toBe(10);
    writeFileSync(file, policyText(30));
    expect(daemon.reload(base)).toEqual({ applied: [], needRestart: [], policyFile: file });
    expect(backend.policies.at(-1)?.functions.f?.predicted_ms).toBe(30);
    expect(daemon.status().policy_source).toBe("file");
  });

  it("a policy file that cannot be read changes nothing", () => {
    const file = join(dir, "policy-bad.json");
    writeFileSync(file, policyText(10));
    const { backend, daemon, base } = started({ policyFile: file });
    const applied = backend.policies.length;
    writeFileSync(file, '{"functions": {"f": {"priority": "first"}}}');
    expect(() => daemon.reload({ ...base, learnPeriodMs: 4000 })).toThrow(InputError);
    expect(daemon.config.learnPeriodMs).toBe(500);
    expect(backend.policies.length).toBe(applied);
  });

  it("from learning to a policy file and back", () => {
    const file = join(dir, "policy-switch.json");
    writeFileSync(file, policyText(12));
    const { backend, clock, daemon, base } = started();
    expect(daemon.status().policy_source).toBe("learned");
    daemon.reload({ ...base, policyFile: file });
    expect(daemon.status().policy_source).toBe("file");
    expect(backend.policies.at(-1)?.functions.f?.predicted_ms).toBe(12);
    daemon.reload(base);
    expect(daemon.status().policy_source).toBe("learned");
    invoke(daemon, clock, "g", 7);
    clock.advance(500);
    expect(backend.policies.at(-1)?.functions.g?.predicted_ms).toBeCloseTo(7, 6);
  });
});
