import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/frontend/clock.js";
import { Daemon } from "../../src/frontend/daemon.js";
import { DaemonMetrics } from "../../src/frontend/metrics.js";
import { ObserveBackend } from "./observe-backend.js";
import { parsePrometheusText, sampleValue } from "./prom-parse.js";

describe("daemon metrics", () => {
  it("exports invocations, turnaround, policy gauges, mode and counters in valid exposition format", async () => {
    const clock = new ManualClock();
    const daemon = new Daemon({
      backend: new ObserveBackend(),
      clock,
      cores: 2,
      utilization: null,
      config: { learnPeriodMs: 100, bandRatio: 30 },
    });
    const metrics = new DaemonMetrics(daemon, 50);
    daemon.start();
    for (let i = 0; i < 5; i++) {
      for (const [fn, cpu] of [
        ["quick", 5],
        ["slow", 150],
      ] as const) {
        const id = daemon.startInvocation(fn, process.pid);
        clock.advance(cpu);
        daemon.endInvocation(id, { cpuMs: cpu });
      }
    }
    clock.advance(100);
    metrics.refusal("forbidden_pid");
    const text = await metrics.registry.metrics();
    const fams = parsePrometheusText(text);
    expect(sampleValue(fams, "alps_invocations_total", { function: "quick" })).toBe(5);
    expect(sampleValue(fams, "alps_turnaround_ms_count", { function: "slow" })).toBe(5);
    expect(sampleValue(fams, "alps_policy_priority", { function: "quick" })).toBe(1);
    expect(sampleValue(fams, "alps_policy_priority", { function: "slow" })).toBe(2);
    expect(sampleValue(fams, "alps_policy_predicted_ms", { function: "quick" })).toBeCloseTo(5, 6);
    // The band fitted to the predicted runs: the longest (150 ms) and 30 times lower.
    expect(sampleValue(fams, "alps_policy_band_ms", { end: "hi" })).toBeCloseTo(150, 6);
    expect(sampleValue(fams, "alps_policy_band_ms", { end: "lo" })).toBeCloseTo(5, 6);
    expect(sampleValue(fams, "alps_mode_info", { mode: "cfs", sensor: "none" })).toBe(1);
    expect(sampleValue(fams, "alps_api_refusals_total", { reason: "forbidden_pid" })).toBe(1);
    expect(sampleValue(fams, "alps_learner_run_seconds_count")).toBeGreaterThanOrEqual(1);
    expect(sampleValue(fams, "alps_window_counter", { name: "added" })).toBe(10);
  });

  it("bounds per-function labels: functions past the limit share 'other', counted", async () => {
    const clock = new ManualClock();
    const daemon = new Daemon({
      backend: new ObserveBackend(),
      clock,
      cores: 2,
      utilization: null,
    });
    const metrics = new DaemonMetrics(daemon, 3);
    for (let i = 0; i < 10; i++) {
      const id = daemon.startInvocation(`fn${i}`, process.pid);
      daemon.endInvocation(id, { cpuMs: 1 });
    }
    const fams = parsePrometheusText(await metrics.registry.metrics());
    const fns = new Set(fams.get("alps_invocations_total")?.samples.map((s) => s.labels.function));
    expect([...fns].sort()).toEqual(["fn0", "fn1", "fn2", "other"]);
    expect(sampleValue(fams, "alps_invocations_total", { function: "other" })).toBe(7);
    expect(sampleValue(fams, "alps_metric_label_overflow_total")).toBeGreaterThanOrEqual(7);
  });

  it("exports the backend's event-to-applied latency quantiles when it has kernel events", async () => {
    class WithLatency extends ObserveBackend {
      latenciesNs(): number[] {
        return Array.from({ length: 100 }, (_, i) => (i + 1) * 1000); // 1..100 µs
      }
    }
    const daemon = new Daemon({
      backend: new WithLatency(),
      clock: new ManualClock(),
      cores: 2,
      utilization: null,
    });
    const fams = parsePrometheusText(await new DaemonMetrics(daemon, 5).registry.metrics());
    expect(
      sampleValue(fams, "alps_event_to_applied_latency_seconds", { quantile: "0.5" }),
    ).toBeCloseTo(50e-6, 12);
    expect(
      sampleValue(fams, "alps_event_to_applied_latency_seconds", { quantile: "0.99" }),
    ).toBeCloseTo(99e-6, 12);
    const plain = parsePrometheusText(
      await new DaemonMetrics(
        new Daemon({
          backend: new ObserveBackend(),
          clock: new ManualClock(),
          cores: 2,
          utilization: null,
        }),
        5,
      ).registry.metrics(),
    );
    expect(
      sampleValue(plain, "alps_event_to_applied_latency_seconds", { quantile: "0.5" }),
    ).toBeUndefined();
  });

  it("the parser rejects what is not exposition format", () => {
    expect(() => parsePrometheusText("x 1\n")).toThrow(/undeclared/);
    expect(() => parsePrometheusText("# TYPE x gauge\nx{a=b} 1\n")).toThrow(/quoted/);
    expect(() => parsePrometheusText("# TYPE x gauge\nx one\n")).toThrow(/bad value/);
    expect(() => parsePrometheusText("# TYPE x gauge\nx 1")).toThrow(/newline/);
    expect(() =>
      parsePrometheusText(
        '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n',
      ),
    ).toThrow(/cumulative/);
  });
});
