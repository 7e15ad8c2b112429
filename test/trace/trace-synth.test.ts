import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TraceInvocation } from "../../src/contracts/trace.js";
import { formatTrace } from "../../src/trace/native-writer.js";
import { synthesize } from "../../src/trace/synth.js";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function perFunction(invs: readonly TraceInvocation[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const i of invs) out.set(i.fn, [...(out.get(i.fn) ?? []), i.durationMs]);
  return out;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

describe("trace synth", () => {
  it("is reproducible for a seed and differs across seeds", () => {
    const o = {
      profile: "azure" as const,
      invocations: 400,
      cores: 2,
      load: 0.85,
      maxDurationMs: 1500,
    };
    const a = formatTrace(synthesize({ ...o, seed: 11 }).invocations);
    const b = formatTrace(synthesize({ ...o, seed: 11 }).invocations);
    const c = formatTrace(synthesize({ ...o, seed: 12 }).invocations);
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });

  it.each([1, 2, 3])(
    "azure, uncapped (seed %d): median of per-function mean execution time within 10% of 0.68 s",
    (seed) => {
      const r = synthesize({ profile: "azure", invocations: 5000, cores: 4, load: 0.8, seed });
      const means = [...perFunction(r.invocations).values()].map(mean);
      expect(means.length).toBe(141); // every function appears
      expect(Math.abs(median(means) / 680 - 1)).toBeLessThan(0.1);
      // The fit's spread too: the 84th/16th percentile ratio of function means is e^(2σ) ≈ 112.
      const s = [...means].sort((x, y) => x - y);
      const ratio = s[Math.floor(0.84 * s.length)]! / s[Math.floor(0.16 * s.length)]!;
      expect(ratio).toBeGreaterThan(60);
      expect(ratio).toBeLessThan(200);
    },
  );

  it.each(["azure", "huawei"] as const)(
    "%s: load, cap, skewed popularity, short popular functions, bursty arrivals",
    (profile) => {
      const r = synthesize({
        profile,
        invocations: 3000,
        cores: 2,
        load: 0.85,
        seed: 9,
        maxDurationMs: 1500,
      });
      const invs = r.invocations;
      expect(invs).toHaveLength(3000);
      const cpu = invs.reduce((s, i) => s + i.durationMs, 0);
      const span = invs[invs.length - 1]!.arrivalMs - invs[0]!.arrivalMs;
      expect(Math.abs(cpu / (2 * span) / 0.85 - 1)).toBeLessThan(0.02);
      expect(Math.max(...invs.map((i) => i.durationMs))).toBeLessThanOrEqual(1500);
      const byFn = [...perFunction(invs).values()].sort((a, b) => b.length - a.length);
      const top = byFn.slice(0, Math.ceil(byFn.length / 10));
      // A few functions carry most invocations …
      expect(top.reduce((s, d) => s + d.length, 0) / invs.length).toBeGreaterThan(0.5);
      // … and they are shorter than the typical function.
      expect(median(top.map(mean))).toBeLessThan(median(byFn.map(mean)));
      const gaps = invs.slice(1).map((inv, k) => inv.arrivalMs - invs[k]!.arrivalMs);
      const g = mean(gaps);
      const cv = Math.sqrt(mean(gaps.map((x) => (x - g) ** 2))) / g;
      expect(cv).toBeGreaterThan(1.3);
    },
  );

  it("huawei: the invocation median lies in the published 4–100 ms range", () => {
    for (const seed of [1, 2, 3]) {
      const r = synthesize({ profile: "huawei", invocations: 3000, cores: 2, load: 0.85, seed });
      const m = median(r.invocations.map((i) => i.durationMs));
      expect(m).toBeGreaterThanOrEqual(4);
      expect(m).toBeLessThanOrEqual(100);
    }
  });
});

describe("bundled workloads", () => {
  it.each([
    ["azure-like.csv", "azure" as const, 300, 4],
    ["huawei-like.csv", "huawei" as const, 700, 3],
  ])("workloads/%s is what its documented command produces", (file, profile, invocations, seed) => {
    const bundled = readFileSync(join(process.cwd(), "workloads", file), "utf8");
    const made = formatTrace(
      synthesize({ profile, invocations, cores: 2, load: 0.85, seed, maxDurationMs: 1500 })
        .invocations,
    );
    // The first line is the '#' comment recording the command; the rest must match byte for byte.
    expect(bundled.slice(bundled.indexOf("\n") + 1)).toBe(made);
    const readme = readFileSync(join(process.cwd(), "workloads", "README.md"), "utf8");
    expect(readme).toContain(
      `--profile ${profile} --invocations ${invocations} --cores 2 --load 0.85 --seed ${seed} --max-duration-ms 1500 --out workloads/${file}`,
    );
  });
});
