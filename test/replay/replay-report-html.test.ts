/**
 * report.html opened in a real headless Chromium: the charts are there as
 * inline SVG with data marks, and the page needs no network. A screenshot is
 * saved for a person to look at.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { describe, expect, it } from "vitest";
import { toFinished } from "../../src/replay/compare.js";
import { renderReport } from "../../src/replay/report.js";
import { fromMeasured } from "../../src/replay/report-data.js";
import type { MeasuredInvocation, ModeRun } from "../../src/replay/types.js";
import { summarize } from "../../src/sim/index.js";

const CHROMIUM = "/usr/bin/chromium";
// test-results/ is ignored by git: the screenshot is for a person to look at, not to commit.
const OUT = join(process.cwd(), "test-results", "replay");

function fakeRun(mode: "none" | "alps", stretchShort: number): ModeRun {
  const invocations: MeasuredInvocation[] = Array.from({ length: 200 }, (_, i) => {
    const durationMs = i % 10 === 0 ? 400 + i : 2 + (i % 7) * 3;
    const turnaroundMs = durationMs < 100 ? durationMs * stretchShort : durationMs * 1.6;
    return {
      index: i,
      arrivalMs: i * 20,
      fn: i % 10 === 0 ? "long" : `short${i % 5}`,
      durationMs,
      turnaroundMs,
      startMs: 1,
      cpuMs: durationMs,
      dispatchLagMs: 0.3,
      cold: false,
    };
  });
  return {
    requested: mode,
    mode,
    setup: {
      driver: mode === "none" ? undefined : "api",
      workers: "warm",
      sandboxCgroups: "cpu",
    },
    reasons: [`${mode} for the test`],
    invocations,
    contextSwitches: 0,
    coldStarts: 0,
    wallMs: 4000,
  };
}

describe("replay report in a browser", () => {
  it.skipIf(!existsSync(CHROMIUM))("renders every chart as SVG with data marks", async () => {
    const runs = [fakeRun("none", 5), fakeRun("alps", 1.5)];
    const modes = runs.map((run) => {
      const summary = summarize(toFinished(run.invocations), {
        cores: 2,
        label: { mode: run.mode },
      });
      return {
        key: run.mode,
        run,
        summary,
        samples: fromMeasured(run.invocations),
        predicted: {
          policy: run.mode === "none" ? "cfs" : run.mode,
          summary,
          samples: fromMeasured(run.invocations).map((s) => ({
            ...s,
            turnaroundMs: s.turnaroundMs * 0.9,
          })),
        },
      };
    });
    const html = await renderReport({
      trace: "synthetic.csv",
      cores: 2,
      modes,
      vsBaseline: {},
      baseline: { key: "none", mode: "none", label: "CFS: the host without alps" },
      setup: { workers: "warm", sandbox_cgroups: "cpu", drivers: ["api"] },
      notes: ["synthetic data"],
    });
    mkdirSync(OUT, { recursive: true });
    const file = join(OUT, "report.html");
    writeFileSync(file, html);

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const requests: string[] = [];
      page.on("request", (r) => {
        if (!r.url().startsWith("file:")) requests.push(r.url());
      });
      await page.goto(`file://${file}`);
      for (const id of ["cdf", "deciles", "functions", "prediction"]) {
        const chart = page.locator(`#chart-${id} svg`);
        await expect(chart.count()).resolves.toBe(1);
        const box = await chart.boundingBox();
        expect(box?.width ?? 0).toBeGreaterThan(200);
        // vega draws data as paths inside groups of role "mark"; count the drawn data items.
        // Count only marks that were actually drawn (a non-empty box): an invalid scale leaves empty paths.
        const drawn = await page.$$eval(
          `#chart-${id} svg g[class*="role-mark"] path`,
          (paths) =>
            paths.filter((p) => {
              const b = (
                p as unknown as { getBBox(): { width: number; height: number } }
              ).getBBox();
              return b.width > 0 && b.height > 0;
            }).length,
        );
        expect(drawn, `chart ${id} has drawn data marks`).toBeGreaterThan(3);
      }
      // Two measured and two simulated CDF lines.
      const lines = await page.locator('#chart-cdf svg g[class*="mark-line"] path').count();
      expect(lines).toBe(4);
      expect(requests).toEqual([]);
      await page.screenshot({ path: join(OUT, "report.png"), fullPage: true });
      expect(existsSync(join(OUT, "report.png"))).toBe(true);
    } finally {
      await browser.close();
    }
  });
});
