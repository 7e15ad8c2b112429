/**
 * The learner's parameters are the config's options: same names, defaults in
 * one place (config.ts), and what a flag or variable sets reaches the
 * learner inside the daemon.
 */
import { describe, expect, it } from "vitest";
import { CONFIG_FIELDS, defaultConfig, loadConfig } from "../../src/frontend/config.js";
import { ManualClock } from "../../src/frontend/clock.js";
import { Daemon } from "../../src/frontend/daemon.js";
import { type LearnedPolicy, LEARNER_KEYS, learnerParams } from "../../src/frontend/learner.js";
import { ObserveBackend } from "./observe-backend.js";

describe("learner parameters from the config schema", () => {
  it("are config keys, with the config's defaults, plus the cores", () => {
    const params = learnerParams(defaultConfig(), 3);
    expect(Object.keys(params).sort()).toEqual([...LEARNER_KEYS, "cores"].sort());
    for (const key of LEARNER_KEYS) expect(params[key], key).toBe(CONFIG_FIELDS[key].default);
    expect(params.cores).toBe(3);
  });

  it("a flag or variable reaches them under its own name", () => {
    const config = loadConfig({
      env: { ALPS_SLICE_CLAMP: "true", ALPS_ALPHA: "2" },
      flags: { defaultSliceMs: "7" },
    });
    const params = learnerParams(config, 2);
    expect(params).toMatchObject({ sliceClamp: true, alpha: 2, defaultSliceMs: 7, cores: 2 });
  });

  it("the daemon learns with them (its arithmetic shows α and the default entry's slice)", () => {
    const daemon = new Daemon({
      backend: new ObserveBackend(),
      clock: new ManualClock(),
      cores: 1,
      utilization: null,
      config: loadConfig({ flags: { alpha: "2", defaultSliceMs: "7", sliceFloorMs: "0" } }),
    });
    daemon.recordFinished({ fn: "f", arrivalMs: 0, cpuMs: 10, waitMs: 0, turnaroundMs: 10 });
    const policy = daemon.learnNow() as LearnedPolicy;
    expect(policy.functions.f?.explain.arithmetic).toContain("min(2×10, 200)");
    expect(policy.default.slice_ms).toBe(7);
  });
});
