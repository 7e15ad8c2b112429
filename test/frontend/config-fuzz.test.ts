/**
 * Fuzzing the daemon's configuration (issue 8 must-show 3): a config file,
 * environment variables and flags with arbitrary content give a valid
 * configuration or a clear error (InputError naming the file for files,
 * UsageError naming the variable or flag otherwise), never a crash.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { InputError, UsageError } from "../../src/errors.js";
import {
  CONFIG_KEYS,
  ConfigSchema,
  configFromEnv,
  configFromFlags,
  envName,
  flagName,
  loadConfig,
  readConfigFile,
} from "../../src/frontend/config.js";

const dir = mkdtempSync(join(tmpdir(), "alps-config-fuzz-"));
const file = join(dir, "config.yaml");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const key = fc.constantFrom(...CONFIG_KEYS);
const value = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom("auto", "alps", "sfs", "cfs", "127.0.0.1", "0.0.0.0", "ewma", "1", "true", ""),
);

describe("config fuzzing", () => {
  it("config file: a partial config or an InputError naming the file", () => {
    let errors = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc
            .dictionary(fc.oneof(key, fc.string({ maxLength: 10 })), value)
            .map((o) => JSON.stringify(o)),
          fc.dictionary(key, value).map((o) => JSON.stringify(o, null, 2)),
        ),
        (text) => {
          writeFileSync(file, text);
          try {
            const partial = readConfigFile(file);
            expect(ConfigSchema.partial().safeParse(partial).success).toBe(true);
          } catch (error) {
            if (!(error instanceof InputError)) throw error;
            expect(error.file).toBe(file);
            errors++;
          }
        },
      ),
      { numRuns: 1500 },
    );
    expect(errors).toBeGreaterThan(100);
  });

  it("environment and flags: a valid config or a UsageError naming the source", () => {
    fc.assert(
      fc.property(
        fc.dictionary(key, fc.string({ maxLength: 20 })),
        fc.dictionary(key, value),
        (env, flags) => {
          const environment = Object.fromEntries(
            Object.entries(env).map(([k, v]) => [envName(k as never), v]),
          );
          try {
            const config = loadConfig({ env: environment, flags });
            expect(ConfigSchema.safeParse(config).success).toBe(true);
            // An address (loopback unless one was named) or localhost, never a host name or other text.
            expect(
              isIP(config.metricsHost) !== 0 || config.metricsHost === "localhost",
              config.metricsHost,
            ).toBe(true);
          } catch (error) {
            if (!(error instanceof UsageError)) throw error;
            expect(error.message).toMatch(/^(environment ALPS_|flag --|config: )/);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("names the variable and the flag that is wrong", () => {
    expect(() => configFromEnv({ ALPS_MODE: "turbo" })).toThrow(/environment ALPS_MODE/);
    expect(() => configFromFlags({ metricsHost: "metrics.example" })).toThrow(
      `flag --${flagName("metricsHost")}`,
    );
    expect(() => configFromFlags({ apiMaxBodyBytes: "99999999" })).toThrow(/api-max-body-bytes/);
  });
});
