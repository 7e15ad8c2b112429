import { describe, expect, it } from "vitest";
import type { BackendStatus } from "../../src/backend/types.js";
import { ManualClock } from "../../src/frontend/clock.js";
import { Daemon } from "../../src/frontend/daemon.js";
import { DaemonMetrics } from "../../src/frontend/metrics.js";
import { daemonOnSimulatedTime } from "./fixtures/simulated-daemon.js";
import { ObserveBackend } from "./observe-backend.js";
import { parsePrometheusText, sampleValue } from "./prom-parse.js";

/** A daemon on the observe-only backend, its clock under the test's hand, no utilization rule. */
function observeDaemon(): Daemon {
  return new Daemon({
    backend: new ObserveBackend(),
    clock: new ManualClock(),
    cores: 2,
    utilization: null,
  });
}

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
    expect(
      sampleValue(fams, "alps_invocation_turnaround_seconds_count", { function: "slow" }),
    ).toBe(5);
    // 5 slow invocations of 150 ms each: the histogram is in seconds.
    expect(sampleValue(fams, "alps_invocation_cpu_seconds_sum", { function: "slow" })).toBeCloseTo(
      0.75,
      9,
    );
    expect(sampleValue(fams, "alps_policy_priority", { function: "quick" })).toBe(1);
    expect(sampleValue(fams, "alps_policy_priority", { function: "slow" })).toBe(2);
    expect(
      sampleValue(fams, "alps_policy_predicted_run_seconds", { function: "quick" }),
    ).toBeCloseTo(0.005, 9);
    // The band fitted to the predicted runs: the longest (150 ms) and 30 times lower.
    expect(sampleValue(fams, "alps_policy_band_seconds", { end: "hi" })).toBeCloseTo(0.15, 9);
    expect(sampleValue(fams, "alps_policy_band_seconds", { end: "lo" })).toBeCloseTo(0.005, 9);
    expect(
      sampleValue(fams, "alps_mode_info", {
        mode: "cfs",
        sensor: "none",
        policy_source: "learned",
      }),
    ).toBe(1);
    expect(sampleValue(fams, "alps_api_refusals_total", { reason: "forbidden_pid" })).toBe(1);
    expect(sampleValue(fams, "alps_learner_duration_seconds_count")).toBeGreaterThanOrEqual(1);
    expect(sampleValue(fams, "alps_learner_runs_total")).toBe(
      sampleValue(fams, "alps_learner_duration_seconds_count"),
    );
    expect(sampleValue(fams, "alps_window_records_added_total")).toBe(10);
    expect(sampleValue(fams, "alps_window_records")).toBe(10);
    expect(sampleValue(fams, "alps_invocations_started_total")).toBe(10);
    // The test backend's nr_policies counter, under the backend family's event label.
    expect(sampleValue(fams, "alps_backend_events_total", { event: "policies" })).toBeGreaterThan(
      0,
    );
  });

  it("marks a provisional entry 1 while its function is unseen, and 0 once the learner gives it its own", async () => {
    const { clock, daemon } = daemonOnSimulatedTime({
      learnPeriodMs: 2000,
      newFunctionLearnMs: 250,
      provisionalPeriodMs: 100,
    });
    const metrics = new DaemonMetrics(daemon, 50);
    const scrape = async () => parsePrometheusText(await metrics.registry.metrics());
    daemon.start();
    // A learned function beside it: its entry is not provisional.
    daemon.endInvocation(daemon.startInvocation("known", process.pid), { cpuMs: 5 });
    clock.advance(250); // the early learning run for a new function
    expect(daemon.policy().functions.known).toBeDefined();
    const id = daemon.startInvocation("unseen", process.pid);
    clock.advance(300); // three provisional decisions: predicted = 300 ms open
    let fams = await scrape();
    expect(fams.get("alps_policy_provisional")?.type).toBe("gauge");
    expect(sampleValue(fams, "alps_policy_provisional", { function: "unseen" })).toBe(1);
    expect(sampleValue(fams, "alps_policy_provisional", { function: "known" })).toBe(0);
    expect(sampleValue(fams, "alps_policy_provisional", { function: "default" })).toBe(0);
    expect(
      sampleValue(fams, "alps_policy_predicted_run_seconds", { function: "unseen" }),
    ).toBeCloseTo(0.3, 9);
    daemon.endInvocation(id, { cpuMs: 700 });
    clock.advance(250); // learned at the next early run: its own entry
    fams = await scrape();
    expect(sampleValue(fams, "alps_policy_provisional", { function: "unseen" })).toBe(0);
    expect(
      sampleValue(fams, "alps_policy_predicted_run_seconds", { function: "unseen" }),
    ).toBeCloseTo(0.7, 9);
    daemon.stop();
  });

  it("shows the mode and sensor asked for beside the ones that run, so a fallback is visible", async () => {
    // What select.ts hands back after `--mode auto` fell back (BPF did not
    // load): an sfs backend. Its status is all the exporter reads of it; the
    // real fallback is test/kernel/daemon-start-failure.test.ts.
    class FellBackToSfs extends ObserveBackend {
      override status(): BackendStatus {
        return { ...super.status(), mode: "sfs", reasons: ["falling back to sfs"] };
      }
    }
    const modeInfo = async (
      backend: ObserveBackend,
      mode: "auto" | "cfs",
      sensor?: "bpf" | "proc",
    ) => {
      const daemon = new Daemon({
        backend,
        clock: new ManualClock(),
        cores: 2,
        utilization: null,
        config: sensor === undefined ? { mode } : { mode, sensor },
      });
      const fams = parsePrometheusText(await new DaemonMetrics(daemon, 5).registry.metrics());
      return fams.get("alps_mode_info")?.samples.map((s) => s.labels);
    };
    expect(await modeInfo(new FellBackToSfs(), "auto")).toEqual([
      expect.objectContaining({ mode: "sfs", requested_mode: "auto" }),
    ]);
    expect(await modeInfo(new ObserveBackend(), "cfs")).toEqual([
      expect.objectContaining({ mode: "cfs", requested_mode: "cfs", requested_sensor: "unset" }),
    ]);
    // The sensor that runs beside the one asked for (ObserveBackend reports sensor "none").
    expect(await modeInfo(new ObserveBackend(), "cfs", "bpf")).toEqual([
      expect.objectContaining({ sensor: "none", requested_sensor: "bpf" }),
    ]);
  });

  it("bounds per-function labels: functions past the limit share 'other', counted", async () => {
    const daemon = observeDaemon();
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

  it("a label several functions share ('other', 'all') shows the most urgent of them, whatever their order", async () => {
    // Learned priorities: the shorter function first. Both orders of the
    // invocations, so the order the policy lists its entries cannot decide.
    for (const order of [
      ["short", "long"],
      ["long", "short"],
    ]) {
      const daemon = observeDaemon();
      const all = new DaemonMetrics(daemon, 50, "none");
      const other = new DaemonMetrics(daemon, 0);
      for (const fn of order) {
        const id = daemon.startInvocation(fn, process.pid);
        daemon.endInvocation(id, { cpuMs: fn === "short" ? 2 : 900 });
      }
      daemon.learnNow();
      const { short, long } = daemon.policy().functions;
      expect(short?.priority).toBeLessThan(long?.priority ?? 0);
      for (const [metrics, label] of [
        [all, "all"],
        [other, "other"],
      ] as const) {
        const fams = parsePrometheusText(await metrics.registry.metrics());
        expect(sampleValue(fams, "alps_policy_priority", { function: label })).toBe(
          short?.priority,
        );
        expect(
          sampleValue(fams, "alps_policy_predicted_run_seconds", { function: label }),
        ).toBeCloseTo((short?.predicted_ms ?? 0) / 1000, 9);
      }
    }
  });

  it("a function named like a reserved label keeps series of its own", async () => {
    const daemon = observeDaemon();
    const metrics = new DaemonMetrics(daemon, 50);
    for (const fn of ["default", "other", "all", "f"]) {
      const id = daemon.startInvocation(fn, process.pid);
      daemon.endInvocation(id, { cpuMs: 5 });
    }
    daemon.learnNow();
    const fams = parsePrometheusText(await metrics.registry.metrics());
    const counted = fams.get("alps_invocations_total")?.samples.map((s) => s.labels.function);
    expect(counted?.sort()).toEqual([
      "all (function)",
      "default (function)",
      "f",
      "other (function)",
    ]);
    expect(sampleValue(fams, "alps_metric_label_overflow_total")).toBe(0);
    // The policy's default entry and the function "default" are two series.
    const ranked = fams.get("alps_policy_priority")?.samples.map((s) => s.labels.function);
    expect(ranked).toContain("default");
    expect(ranked).toContain("default (function)");
  });

  it("exports the backend's event-to-applied latency as a histogram when it has kernel events", async () => {
    class WithLatency extends ObserveBackend {
      #listeners: ((ns: number) => void)[] = [];
      onLatency(listener: (ns: number) => void): void {
        this.#listeners.push(listener);
      }
      emitLatency(ns: number): void {
        for (const l of this.#listeners) l(ns);
      }
    }
    const backend = new WithLatency();
    const daemon = new Daemon({ backend, clock: new ManualClock(), cores: 2, utilization: null });
    const metrics = new DaemonMetrics(daemon, 5);
    for (let i = 1; i <= 100; i++) backend.emitLatency(i * 1000); // 1..100 µs
    const fams = parsePrometheusText(await metrics.registry.metrics());
    expect(fams.get("alps_event_to_applied_latency_seconds")?.type).toBe("histogram");
    expect(sampleValue(fams, "alps_event_to_applied_latency_seconds_count")).toBe(100);
    expect(sampleValue(fams, "alps_event_to_applied_latency_seconds_sum")).toBeCloseTo(5050e-6, 12);
    // 1..10 µs fall in the first bucket (le 10 µs), 1..50 µs in le 50 µs.
    expect(
      sampleValue(fams, "alps_event_to_applied_latency_seconds_bucket", { le: "0.00001" }),
    ).toBe(10);
    expect(
      sampleValue(fams, "alps_event_to_applied_latency_seconds_bucket", { le: "0.00005" }),
    ).toBe(50);
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
    expect(sampleValue(plain, "alps_event_to_applied_latency_seconds_count")).toBe(0);
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
