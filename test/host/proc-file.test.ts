import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
