/**
 * The `alps trace` commands through the real built CLI (`node dist/cli.js`):
 * exit codes, messages on stderr, files written.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readTraceFile } from "../../src/trace/native.js";
import { type AzureFn, tempDir, writeAzure2019 } from "./layouts.js";

const CLI = join(process.cwd(), "dist", "cli.js");

function alps(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const FNS: AzureFn[] = [
  {
    owner: "o",
    app: "a",
    func: "f1",
    counts: { 2: 5, 7: 3 },
    percentiles: [1, 2, 5, 8, 12, 40, 90],
  },
  {
    owner: "o",
    app: "a",
    func: "f2",
    counts: { 3: 2 },
    percentiles: [10, 20, 50, 80, 120, 400, 900],
  },
  { owner: "o", app: "b", func: "f3", counts: { 2: 1, 4: 4 }, percentiles: [1, 1, 1, 2, 2, 3, 3] },
];

beforeAll(() => {
  // tsc emits even when another area has type errors; what this test needs is checked below.
  try {
    execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "ignore" });
  } catch {
    // reported by the check below if it matters
  }
  if (!existsSync(CLI) || !existsSync(join(process.cwd(), "dist", "commands", "trace.js"))) {
    throw new Error("the build did not produce dist/cli.js and dist/commands/trace.js");
  }
}, 120_000);

describe("alps trace (real CLI)", () => {
  it("convert: a corrupted row in an idle minute exits non-zero naming file, line and column", () => {
    const dir = tempDir("cli");
    const files = writeAzure2019(dir, 1, FNS, {
      invocations: (lines) => {
        const cells = lines[3]!.split(",");
        cells[4 + 1200] = "?"; // minute column "1201", idle
        lines[3] = cells.join(",");
      },
    });
    const out = join(dir, "out.csv");
    const r = alps("trace", "convert", "--from", "azure2019", "--in", dir, "--out", out);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${files.invocations}:4: field '1201'`);
    expect(existsSync(out)).toBe(false);

    const skipped = alps(
      "trace",
      "convert",
      "--from",
      "azure2019",
      "--in",
      dir,
      "--out",
      out,
      "--skip-bad",
    );
    expect(skipped.status).toBe(0);
    expect(skipped.stderr).toMatch(/skipped bad row: .*:4: field '1201'/);
    expect(skipped.stderr).toMatch(/skipped 1 bad row\(s\) \(--skip-bad\)/);
    const invs = readTraceFile(out);
    expect(invs.map((i) => i.fn).sort()).toEqual([...Array(8).fill("f1"), "f2", "f2"]);
    expect(readFileSync(out, "utf8")).toMatch(
      /^# azure2019 trace .* converted by: alps trace convert --from azure2019/,
    );
  });

  it("convert: bad flags are usage errors (exit 2)", () => {
    const dir = tempDir("cli");
    writeAzure2019(dir, 1, FNS);
    const r = alps(
      "trace",
      "convert",
      "--from",
      "azure2019",
      "--in",
      dir,
      "--out",
      join(dir, "o.csv"),
      "--spread",
      "zigzag",
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("flag --spread: expected one of exp, uniform, even, got 'zigzag'");
    expect(alps("trace", "convert", "--from", "azure2077", "--in", dir, "--out", "x").status).toBe(
      2,
    );
  });

  it("synth is byte-for-byte reproducible and stats --json reports the asked load", () => {
    const dir = tempDir("cli");
    const args = [
      "trace",
      "synth",
      "--profile",
      "azure",
      "--invocations",
      "200",
      "--cores",
      "2",
      "--load",
      "0.85",
      "--seed",
      "42",
      "--max-duration-ms",
      "1500",
    ];
    expect(alps(...args, "--out", join(dir, "a.csv")).status).toBe(0);
    expect(alps(...args, "--out", join(dir, "b.csv")).status).toBe(0);
    const a = readFileSync(join(dir, "a.csv"), "utf8");
    expect(a.replace(/a\.csv/, "")).toBe(
      readFileSync(join(dir, "b.csv"), "utf8").replace(/b\.csv/, ""),
    );
    const stats = alps("trace", "stats", join(dir, "a.csv"), "--cores", "2", "--json");
    expect(stats.status).toBe(0);
    const s = JSON.parse(stats.stdout) as {
      invocations: number;
      offered_load: number;
      cores: number;
    };
    expect(s.invocations).toBe(200);
    expect(s.cores).toBe(2);
    expect(Math.abs(s.offered_load / 0.85 - 1)).toBeLessThan(0.02);
  });

  it("stats on a bad native trace exits non-zero naming file, line and field; --skip-bad warns", () => {
    const dir = tempDir("cli");
    const path = join(dir, "bad.csv");
    writeFileSync(path, "arrival_ms,function,duration_ms\n0,a,5\n1,b,-5\n2,c,5\n");
    const r = alps("trace", "stats", path, "--cores", "1");
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${path}:3: field 'duration_ms'`);
    const ok = alps("trace", "stats", path, "--cores", "1", "--json", "--skip-bad");
    expect(ok.status).toBe(0);
    expect(ok.stderr).toMatch(/skipped 1 bad row/);
    expect((JSON.parse(ok.stdout) as { invocations: number }).invocations).toBe(2);
  });
});
