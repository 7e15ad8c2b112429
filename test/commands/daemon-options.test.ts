/**
 * The daemon's options come from one place (src/frontend/config.ts): its
 * `--help` names every flag with its variable, default and accepted values,
 * docs/config.md is what the generator prints, and a bad value is refused the
 * same way (one line, exit 2) whether it came from a flag, a variable or the
 * config file.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configDoc } from "../../src/frontend/config-doc.js";
import {
  allowedValues,
  CONFIG_KEYS,
  choicesOf,
  defaultText,
  envName,
  flagHelp,
  flagName,
  isSwitch,
} from "../../src/frontend/config.js";
import { ensureBuilt, runCli } from "../helpers/cli.js";

const dir = mkdtempSync(join(tmpdir(), "alps-daemon-options-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(() => ensureBuilt(), 200_000);

/** Help as one line: commander wraps descriptions at any space. */
const flat = (text: string): string => text.replace(/\s+/g, " ");

describe("alps daemon --help", () => {
  it("shows every option's flag, variable in full, default and accepted values", () => {
    const r = runCli(["daemon", "--help"]);
    expect(r.code).toBe(0);
    const help = flat(r.stdout);
    expect(help).not.toContain("ALPS_…");
    for (const key of CONFIG_KEYS) {
      expect(help, key).toContain(`--${flagName(key)}`);
      expect(help, key).toContain(envName(key));
      // The whole generated text, so the default and the choices are there too.
      expect(help, key).toContain(flat(flagHelp(key)));
      const d = defaultText(key);
      if (d !== undefined && !isSwitch(key)) expect(help, key).toContain(`default: ${d}`);
      for (const choice of choicesOf(key) ?? []) expect(flagHelp(key), key).toContain(choice);
    }
    expect(help).toContain("--log-level <choice> least severe log line written");
    expect(help).toContain("one of debug, info, warn, error, default: info, env: ALPS_LOG_LEVEL");
    expect(help).toContain("integer 0..65535, default: 9464, env: ALPS_METRICS_PORT");
  });
});

describe("docs/config.md", () => {
  it("is what the generator prints (npm run docs:config)", () => {
    expect(readFileSync("docs/config.md", "utf8")).toBe(configDoc());
  });

  it("has one row per option with its key, flag, variable, default and accepted values", () => {
    const rows = configDoc()
      .split("\n")
      .filter((l) => l.startsWith("| `"));
    expect(rows).toHaveLength(CONFIG_KEYS.length);
    CONFIG_KEYS.forEach((key, i) => {
      const row = rows[i] as string;
      expect(row).toContain(`| \`${key}\` |`);
      expect(row).toContain(`\`--${flagName(key)}`);
      expect(row).toContain(`\`${envName(key)}\``);
      expect(row).toContain(allowedValues(key));
      expect(row).toContain(defaultText(key) ?? "unset");
    });
  });
});

describe("a bad value: one line, exit 2, the same shape from every source", () => {
  const expected = "expected integer 0..65535, got";

  it("from a flag", () => {
    const r = runCli(["daemon", "--metrics-port", "70000"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`alps daemon: flag --metrics-port: ${expected} '70000'\n`);
    expect(r.stdout).toBe("");
  });

  it("from a variable", () => {
    const r = runCli(["daemon"], { ALPS_METRICS_PORT: "70000" });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`alps daemon: environment ALPS_METRICS_PORT: ${expected} '70000'\n`);
  });

  it("from the config file, with its line", () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "mode: auto\nmetricsPort: 70000\n");
    const r = runCli(["daemon", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`alps daemon: ${file}:2: field 'metricsPort': ${expected} 70000\n`);
  });

  it("from ALPS_CONFIG naming the file", () => {
    const file = join(dir, "bad-choice.yaml");
    writeFileSync(file, "estimator: median\n");
    const r = runCli(["daemon"], { ALPS_CONFIG: file });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `alps daemon: ${file}:1: field 'estimator': expected one of mean, ewma, linreg, got 'median'\n`,
    );
  });

  it("an unknown flag is a usage error too (exit 2)", () => {
    const r = runCli(["daemon", "--learn-period", "5"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--learn-period'");
  });
});
