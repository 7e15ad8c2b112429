import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputError, UsageError } from "../../src/errors.js";
import {
  CONFIG_FIELDS,
  CONFIG_KEYS,
  defaultConfig,
  envName,
  flagName,
  loadConfig,
  readConfigFile,
  sliceSettings,
} from "../../src/frontend/config.js";
import { DEFAULT_UNBOOSTED_SLICE_MS } from "../../src/contracts/levels.js";

const dir = mkdtempSync(join(tmpdir(), "alps-config-"));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe("daemon configuration", () => {
  it("gives every parameter a default, a flag and an environment variable", () => {
    const d = defaultConfig();
    expect(d.learnPeriodMs).toBe(2000);
    expect(d.alpha).toBe(1);
    expect(d.beta).toBe(1);
    expect(d.capMs).toBe(200);
    expect(d.theta).toBe(50);
    expect(d.quantumMs).toBe(8);
    expect(d.metricsPort).toBe(9464);
    expect(d.socket).toBe("/run/alps/alps.sock");
    expect(flagName("learnPeriodMs")).toBe("learn-period-ms");
    expect(envName("learnPeriodMs")).toBe("ALPS_LEARN_PERIOD_MS");
    for (const key of CONFIG_KEYS) expect(CONFIG_FIELDS[key].help.length).toBeGreaterThan(0);
  });

  it("reads YAML and JSON files; flags beat environment beats file", () => {
    const yaml = file("a.yaml", "learnPeriodMs: 700\nestimator: ewma\nalpha: 2\n");
    const json = file("a.json", '{"learnPeriodMs": 900, "beta": 0.5}');
    expect(readConfigFile(yaml)).toEqual({ learnPeriodMs: 700, estimator: "ewma", alpha: 2 });
    expect(readConfigFile(json)).toEqual({ learnPeriodMs: 900, beta: 0.5 });
    const c = loadConfig({
      configFile: yaml,
      env: { ALPS_LEARN_PERIOD_MS: "800", ALPS_ALPHA: "3" },
      flags: { alpha: "4" },
    });
    expect(c.learnPeriodMs).toBe(800);
    expect(c.estimator).toBe("ewma");
    expect(c.alpha).toBe(4);
    expect(loadConfig({ env: { ALPS_NO_BPF: "1" } }).noBpf).toBe(true);
  });

  it("reads a list (OpenWhisk namespaces) from a file, or comma-separated from a variable or flag", () => {
    const yaml = file("ns.yaml", "namespaces:\n  - BobsOrg_dev\n  - guest\n");
    expect(readConfigFile(yaml)).toEqual({ namespaces: ["BobsOrg_dev", "guest"] });
    expect(loadConfig({ env: { ALPS_NAMESPACES: "a_b, c" } }).namespaces).toEqual(["a_b", "c"]);
    expect(loadConfig({ flags: { namespaces: "x_y" } }).namespaces).toEqual(["x_y"]);
    expect(defaultConfig().namespaces).toBeUndefined();
    const bad = file("ns-bad.yaml", "namespaces: guest\n");
    expect(() => readConfigFile(bad)).toThrow(`${bad}:1: field 'namespaces'`);
  });

  it("names the file, line and key path of a bad value", () => {
    const bad = file("bad.yaml", "alpha: 1\ntheta: 150\n");
    expect(() => readConfigFile(bad)).toThrow(InputError);
    expect(() => readConfigFile(bad)).toThrow(`${bad}:2: field 'theta'`);
    const unknown = file("unknown.yaml", "alpha: 1\n\nlearnPeriodMS: 5\n");
    expect(() => readConfigFile(unknown)).toThrow(`${unknown}:3: field 'learnPeriodMS'`);
    const broken = file("broken.json", '{"alpha": 1,\n "beta": }');
    expect(() => readConfigFile(broken)).toThrow(new RegExp(`${broken}:2`));
    const typed = file("typed.json", '{"estimator": "median"}');
    expect(() => readConfigFile(typed)).toThrow(`field 'estimator'`);
  });

  it("names the variable or flag of a bad value", () => {
    expect(() => loadConfig({ env: { ALPS_ALPHA: "lots" } })).toThrow(UsageError);
    expect(() => loadConfig({ env: { ALPS_ALPHA: "lots" } })).toThrow(/ALPS_ALPHA/);
    expect(() => loadConfig({ flags: { metricsHost: "metrics.example" } })).toThrow(
      /--metrics-host/,
    );
    expect(() => loadConfig({ flags: { learnPeriodMs: "" } })).toThrow(/--learn-period-ms/);
  });

  it("takes an unboosted slice of 0 (none) or within the kernel's 0.1..100 ms, and names the flag otherwise", () => {
    expect(defaultConfig().eevdfUnboostedSliceMs).toBe(DEFAULT_UNBOOSTED_SLICE_MS);
    expect(loadConfig({ flags: { eevdfUnboostedSliceMs: "0" } }).eevdfUnboostedSliceMs).toBe(0);
    expect(
      loadConfig({ env: { ALPS_EEVDF_UNBOOSTED_SLICE_MS: "100" } }).eevdfUnboostedSliceMs,
    ).toBe(100);
    for (const bad of ["0.05", "101", "-1"])
      expect(() => loadConfig({ flags: { eevdfUnboostedSliceMs: bad } })).toThrow(
        /--eevdf-unboosted-slice-ms: expected 0 or number 0\.1\.\.100/,
      );
  });

  it("turns the slice settings into what a backend takes, the same for every caller", () => {
    expect(sliceSettings(defaultConfig())).toEqual({
      sliceRequest: "shortest",
      unboostedSliceNs: BigInt(DEFAULT_UNBOOSTED_SLICE_MS) * 1_000_000n,
    });
    expect(sliceSettings({ eevdfSlice: "off", eevdfUnboostedSliceMs: 0.25 })).toEqual({
      sliceRequest: "off",
      unboostedSliceNs: 250_000n,
    });
    expect(
      sliceSettings({ eevdfSlice: "function", eevdfUnboostedSliceMs: 0 }).unboostedSliceNs,
    ).toBe(0n);
  });

  it("never crashes on arbitrary config files: a value or an InputError", () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string()), (text) => {
        const p = file("fuzz.json", text);
        try {
          readConfigFile(p);
        } catch (error) {
          expect(error).toBeInstanceOf(InputError);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("policy file", () => {
  it("reads a valid policy and names file, line and field of a bad one; never crashes", async () => {
    const { readPolicyFile } = await import("../../src/frontend/policy-file.js");
    const good = file(
      "p.json",
      '{"functions":{"fib":{"priority":1,"predicted_ms":12,"slice_ms":18.5}},"default":{"priority":2,"predicted_ms":50,"slice_ms":5}}',
    );
    expect(readPolicyFile(good).functions.fib?.slice_ms).toBe(18.5);
    const bad = file(
      "bad-p.json",
      '{"functions": {\n  "fib": {"priority": 0, "predicted_ms": 12, "slice_ms": 1}},\n "default": {"priority": 2, "predicted_ms": 50, "slice_ms": 5}}',
    );
    expect(() => readPolicyFile(bad)).toThrow(`${bad}:2: field 'functions.fib.priority'`);
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string()), (text) => {
        const p = file("fuzz-p.json", text);
        try {
          readPolicyFile(p);
        } catch (error) {
          expect(error).toBeInstanceOf(InputError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
