/**
 * The daemon's /metrics follows Prometheus's naming conventions, and its
 * listener answers /healthz and /readyz (issue 17 must-show: no `_ms` unit,
 * `alps_build_info`, `/healthz` 200). Checked on the exposition text a real
 * listener serves, parsed by the strict parser of prom-parse.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { BackendStatus } from "../../src/backend/types.js";
import { ManualClock } from "../../src/frontend/clock.js";
import { loadConfig } from "../../src/frontend/config.js";
import { Daemon } from "../../src/frontend/daemon.js";
import { DaemonMetrics } from "../../src/frontend/metrics.js";
import { ObserveBackend } from "./observe-backend.js";
import { type Family, parsePrometheusText, sampleValue } from "./prom-parse.js";

const VERSION = (
  JSON.parse(readFileSync(join(import.meta.dirname, "../../package.json"), "utf8")) as {
    version: string;
  }
).version;

/** A backend whose status carries levels beside its nr_* counters, as the SFS backend's does. */
class LevelsBackend extends ObserveBackend {
  override status(): BackendStatus {
    return {
      mode: "cfs",
      sensor: "none",
      reasons: ["test backend with levels"],
      counters: {
        nr_ringbuf_drops: 3,
        nr_apply_errors: 2,
        nr_fifo: 1,
        nr_queued: 4,
        slice_us: 1500,
      },
    };
  }
}

function get(
  port: number,
  path: string,
  method = "GET",
): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c.toString();
      });
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers["content-type"]),
          body,
        }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

const dir = mkdtempSync(join(tmpdir(), "alps-metrics-"));
const opened: DaemonMetrics[] = [];
afterAll(async () => {
  for (const m of opened) await m.close();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(daemon: Daemon): Promise<{ metrics: DaemonMetrics; port: number }> {
  const metrics = new DaemonMetrics(daemon, 50);
  opened.push(metrics);
  return { metrics, port: await metrics.listen("127.0.0.1", 0) };
}

function learningDaemon(clock: ManualClock, backend = new ObserveBackend()): Daemon {
  return new Daemon({
    backend,
    clock,
    cores: 2,
    utilization: null,
    config: { learnPeriodMs: 100 },
  });
}

describe("metric names follow Prometheus's conventions", () => {
  let families: Map<string, Family>;

  it("serves valid exposition text on /metrics", async () => {
    const clock = new ManualClock();
    const daemon = learningDaemon(clock, new LevelsBackend());
    const { metrics, port } = await serve(daemon);
    daemon.start();
    const id = daemon.startInvocation("fn", process.pid);
    clock.advance(20);
    daemon.endInvocation(id, { cpuMs: 12 });
    clock.advance(100);
    metrics.refusal("forbidden_pid");
    const res = await get(port, "/metrics");
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    families = parsePrometheusText(res.body);
    expect(families.size).toBeGreaterThan(30);
  });

  it("uses base units: no family is in milliseconds", () => {
    const ms = [...families.keys()].filter((n) => /(^|_)(ms|milliseconds)(_|$)/.test(n));
    expect(ms).toEqual([]);
    expect(
      sampleValue(families, "alps_invocation_turnaround_seconds_sum", { function: "fn" }),
    ).toBeCloseTo(0.02, 9);
    expect(
      sampleValue(families, "alps_invocation_cpu_seconds_sum", { function: "fn" }),
    ).toBeCloseTo(0.012, 9);
  });

  it("a family ends in _total exactly when it is a counter", () => {
    for (const f of families.values()) {
      expect(f.name.endsWith("_total"), `${f.name} (${f.type})`).toBe(f.type === "counter");
    }
  });

  it("doubles no prefix and keeps quantiles out of gauges", () => {
    const names = [...families.keys()];
    expect(names.filter((n) => /^alps_process_|^alps_alps_|process_process_/.test(n))).toEqual([]);
    expect(names).toContain("process_cpu_seconds_total");
    for (const f of families.values()) {
      if (f.type === "summary") continue;
      const quantiled = f.samples.some((s) => "quantile" in s.labels);
      expect(quantiled, `${f.name} carries quantiles but is a ${f.type}`).toBe(false);
    }
  });

  it("has alps_build_info{version,mode,strategy} and an alps_mode_info without free text", () => {
    const build = families.get("alps_build_info");
    expect(build?.type).toBe("gauge");
    expect(build?.samples).toEqual([
      {
        name: "alps_build_info",
        labels: { version: VERSION, mode: "cfs", strategy: "" },
        value: 1,
      },
    ]);
    const mode = families.get("alps_mode_info")?.samples;
    expect(mode).toHaveLength(1);
    expect(Object.keys(mode?.[0]?.labels ?? {}).sort()).toEqual([
      "mode",
      "policy_source",
      "requested_mode",
      "requested_sensor",
      "sensor",
      "strategy",
    ]);
  });

  it("exports backend counters as one counter family with an event label, and backend levels as gauges", () => {
    expect(families.get("alps_backend_events_total")?.type).toBe("counter");
    const events = families.get("alps_backend_events_total")?.samples.map((s) => s.labels.event);
    expect(events?.sort()).toEqual(["apply_errors", "ringbuf_drops"]);
    expect(sampleValue(families, "alps_backend_events_total", { event: "ringbuf_drops" })).toBe(3);
    expect(sampleValue(families, "alps_sfs_fifo_tasks")).toBe(1);
    expect(sampleValue(families, "alps_sfs_queued_invocations")).toBe(4);
    expect(sampleValue(families, "alps_sfs_slice_seconds")).toBeCloseTo(0.0015, 12);
    expect(families.get("alps_metric_label_overflow_total")?.type).toBe("counter");
    expect(sampleValue(families, "alps_window_records")).toBe(1);
    expect(families.get("alps_window_records")?.type).toBe("gauge");
  });

  it("reads the backend's status once per scrape, and afresh on the next", async () => {
    class Counting extends ObserveBackend {
      calls = 0;
      drops = 0;
      override status(): BackendStatus {
        this.calls++;
        return { ...super.status(), counters: { nr_ringbuf_drops: this.drops } };
      }
    }
    const backend = new Counting();
    const metrics = new DaemonMetrics(learningDaemon(new ManualClock(), backend), 5);
    const drops = async () =>
      sampleValue(
        parsePrometheusText(await metrics.registry.metrics()),
        "alps_backend_events_total",
        { event: "ringbuf_drops" },
      );
    expect(await drops()).toBe(0);
    expect(backend.calls).toBe(1);
    backend.drops = 7;
    expect(await drops()).toBe(7);
    expect(backend.calls).toBe(2);
  });

  it("the label overflow counter only grows", async () => {
    const daemon = learningDaemon(new ManualClock());
    const metrics = new DaemonMetrics(daemon, 1);
    const overflow = async () =>
      sampleValue(
        parsePrometheusText(await metrics.registry.metrics()),
        "alps_metric_label_overflow_total",
      );
    for (const fn of ["a", "b", "c"])
      daemon.endInvocation(daemon.startInvocation(fn, process.pid), { cpuMs: 1 });
    expect(await overflow()).toBe(2);
    expect(await overflow()).toBe(2);
    daemon.endInvocation(daemon.startInvocation("d", process.pid), { cpuMs: 1 });
    expect(await overflow()).toBe(3);
  });
});

describe("health endpoints on the metrics listener", () => {
  it("/healthz answers 200 while the process is up, before the daemon starts", async () => {
    const { port } = await serve(learningDaemon(new ManualClock()));
    const res = await get(port, "/healthz");
    expect(res).toMatchObject({ status: 200, body: "ok\n" });
  });

  it("/readyz answers 503 until the learner has run once, 200 after, 503 once stopped", async () => {
    const clock = new ManualClock();
    const daemon = learningDaemon(clock);
    const { port } = await serve(daemon);
    expect((await get(port, "/readyz")).status).toBe(503);
    daemon.start();
    const before = await get(port, "/readyz");
    expect(before.status).toBe(503);
    expect(before.body).toMatch(/^not ready: the learner has not run yet/);
    clock.advance(100); // one learning period: a pass over the empty window
    expect(await get(port, "/readyz")).toMatchObject({ status: 200, body: "ready: learning\n" });
    daemon.stop();
    expect((await get(port, "/readyz")).status).toBe(503);
  });

  it("/readyz answers 200 as soon as a policy file is applied", async () => {
    const file = join(dir, "policy.json");
    writeFileSync(
      file,
      JSON.stringify({ functions: {}, default: { priority: 1, predicted_ms: 50, slice_ms: 20 } }),
    );
    const daemon = new Daemon({
      backend: new ObserveBackend(),
      clock: new ManualClock(),
      cores: 2,
      utilization: null,
      config: { policyFile: file },
    });
    const { port } = await serve(daemon);
    expect((await get(port, "/readyz")).status).toBe(503);
    daemon.start();
    const res = await get(port, "/readyz");
    expect(res.status).toBe(200);
    expect(res.body).toContain(file);
  });

  it("other paths are 404 and other methods 405", async () => {
    const { port } = await serve(learningDaemon(new ManualClock()));
    expect((await get(port, "/")).status).toBe(404);
    expect((await get(port, "/metrics/x")).status).toBe(404);
    expect((await get(port, "/metrics", "POST")).status).toBe(405);
    expect((await get(port, "/healthz", "HEAD")).status).toBe(200);
  });
});

describe("--metrics-host", () => {
  it("defaults to loopback and takes an address the operator names", () => {
    expect(loadConfig({}).metricsHost).toBe("127.0.0.1");
    expect(loadConfig({ flags: { metricsHost: "0.0.0.0" } }).metricsHost).toBe("0.0.0.0");
    expect(loadConfig({ flags: { metricsHost: "::" } }).metricsHost).toBe("::");
    expect(loadConfig({ env: { ALPS_METRICS_HOST: "10.1.2.3" } }).metricsHost).toBe("10.1.2.3");
  });

  it("refuses what is not an address", () => {
    expect(() => loadConfig({ flags: { metricsHost: "0.0.0.0:9464" } })).toThrow(/--metrics-host/);
    expect(() => loadConfig({ flags: { metricsHost: "" } })).toThrow(/--metrics-host/);
  });
});
