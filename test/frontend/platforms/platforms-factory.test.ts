import { describe, expect, it } from "vitest";
import { UsageError } from "../../../src/errors.js";
import {
  createPlatformAdapter,
  deprecatedPlatformSettings,
  isPlatformKind,
  PLATFORM_KINDS,
  platformOptionsOf,
} from "../../../src/frontend/platforms/index.js";

describe("createPlatformAdapter", () => {
  it("builds each kind from the daemon's flags", () => {
    expect(
      createPlatformAdapter("cgroup-pattern", { pattern: "/sys/fs/cgroup/faas.slice/{function}/*" })
        .kind,
    ).toBe("cgroup-pattern");
    expect(createPlatformAdapter("openlambda", { olPath: "/home/me/default-ol" }).kind).toBe(
      "openlambda",
    );
    expect(createPlatformAdapter("openwhisk", { dockerSocket: "/run/docker.sock" }).kind).toBe(
      "openwhisk",
    );
    expect(PLATFORM_KINDS.every(isPlatformKind)).toBe(true);
    expect(isPlatformKind("knative")).toBe(false);
  });

  it("says which flag is missing or wrong", () => {
    expect(() => createPlatformAdapter("cgroup-pattern", {})).toThrow(UsageError);
    expect(() => createPlatformAdapter("cgroup-pattern", {})).toThrow(/--pattern/);
    expect(() => createPlatformAdapter("openlambda", {})).toThrow(/--ol-path/);
    expect(() => createPlatformAdapter("knative", {})).toThrow(
      /--platform must be one of openlambda, openwhisk, cgroup-pattern/,
    );
    expect(() => createPlatformAdapter("cgroup-pattern", { pattern: "/x/*" })).toThrow(
      /no \{function\}/,
    );
  });

  it("takes the daemon config's platform keys; the deprecated namespaces only raise a warning", () => {
    const config = {
      pattern: undefined,
      olPath: undefined,
      cgroupRoot: undefined,
      dockerSocket: "/run/docker.sock",
      namespaces: ["BobsOrg_dev"],
    };
    expect(platformOptionsOf(config)).toEqual({ dockerSocket: "/run/docker.sock" });
    expect(deprecatedPlatformSettings(config)).toEqual([
      expect.stringMatching(/^--namespaces .* is deprecated and ignored/),
    ]);
    expect(deprecatedPlatformSettings({ ...config, namespaces: undefined })).toEqual([]);
  });

  it("snapshots nothing before start", () => {
    expect(createPlatformAdapter("openwhisk").snapshot()).toEqual([]);
  });
});
