/**
 * Prometheus metrics (DESIGN §3, §6): served on loopback only. Per-function
 * labels are bounded: the first `maxFunctions` functions seen get their own
 * label, the rest share "other", so a host with many functions cannot blow up
 * the registry.
 */
import { createServer, type Server } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Policy } from "../contracts/policy.js";
import type { Daemon, FinishedRecord } from "./daemon.js";

/** What a backend with kernel events offers for latency (src/backend/bpf/bpf-backend.ts). */
interface LatencySource {
  latenciesNs(): number[];
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

export class FunctionLabels {
  readonly #known = new Set<string>();
  overflowed = 0;
  constructor(private readonly max: number) {}
  of(fn: string): string {
    if (this.#known.has(fn)) return fn;
    if (this.#known.size < this.max) {
      this.#known.add(fn);
      return fn;
    }
    this.overflowed++;
    return "other";
  }
}

export class DaemonMetrics {
  readonly registry = new Registry();
  readonly #labels: FunctionLabels;
  readonly #invocations: Counter<"function">;
  readonly #turnaround: Histogram<"function">;
  readonly #cpu: Histogram<"function">;
  readonly #predicted: Gauge<"function">;
  readonly #priority: Gauge<"function">;
  readonly #slice: Gauge<"function">;
  readonly #band: Gauge<"end">;
  readonly #learnerSeconds: Histogram;
  readonly #refusals: Counter<"reason">;
  #server: Server | undefined;
  #otherPriority = Number.POSITIVE_INFINITY;

  constructor(daemon: Daemon, maxFunctions: number) {
    this.#labels = new FunctionLabels(maxFunctions);
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: "alps_process_" });
    this.#invocations = new Counter({
      name: "alps_invocations_total",
      help: "Finished invocations",
      labelNames: ["function"],
      registers: [r],
    });
    const buckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000];
    this.#turnaround = new Histogram({
      name: "alps_turnaround_ms",
      help: "Invocation turnaround, ms",
      labelNames: ["function"],
      buckets,
      registers: [r],
    });
    this.#cpu = new Histogram({
      name: "alps_invocation_cpu_ms",
      help: "Invocation CPU time, ms",
      labelNames: ["function"],
      buckets,
      registers: [r],
    });
    this.#predicted = new Gauge({
      name: "alps_policy_predicted_ms",
      help: "Predicted uninterrupted run, ms",
      labelNames: ["function"],
      registers: [r],
    });
    this.#priority = new Gauge({
      name: "alps_policy_priority",
      help: "Rank, 1 = most urgent",
      labelNames: ["function"],
      registers: [r],
    });
    this.#slice = new Gauge({
      name: "alps_policy_slice_ms",
      help: "Slice, ms",
      labelNames: ["function"],
      registers: [r],
    });
    this.#band = new Gauge({
      name: "alps_policy_band_ms",
      help: "Level band of the policy: remaining time of the most boosted level (end=lo) and above which the most yielding (end=hi), ms; absent: the fixed band",
      labelNames: ["end"],
      registers: [r],
    });
    this.#learnerSeconds = new Histogram({
      name: "alps_learner_run_seconds",
      help: "Learner recompute time",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
      registers: [r],
    });
    this.#refusals = new Counter({
      name: "alps_api_refusals_total",
      help: "Control API refusals",
      labelNames: ["reason"],
      registers: [r],
    });
    const labels = this.#labels;
    new Gauge({
      name: "alps_metric_label_overflow_total",
      help: 'Observations filed under function="other" (label limit reached)',
      registers: [r],
      collect() {
        this.set(labels.overflowed);
      },
    });
    new Gauge({
      name: "alps_mode_info",
      help: "Mode and sensor in force (value 1), with the reason for the choice",
      labelNames: ["mode", "sensor", "strategy", "reason"],
      registers: [r],
      collect() {
        const s = daemon.status();
        this.reset();
        this.set(
          {
            mode: s.mode,
            sensor: s.sensor,
            strategy: s.strategy ?? "",
            reason: s.reasons.join("; ").slice(0, 500),
          },
          1,
        );
      },
    });
    new Gauge({
      name: "alps_backend_counter",
      help: "Backend nr_* counters (events, drops, applied levels...)",
      labelNames: ["name"],
      registers: [r],
      collect() {
        this.reset();
        for (const [name, value] of Object.entries(daemon.backend.status().counters))
          this.set({ name }, value);
      },
    });
    new Gauge({
      name: "alps_daemon_counter",
      help: "Daemon counters (invocations, bursts, learner runs and errors)",
      labelNames: ["name"],
      registers: [r],
      collect() {
        this.reset();
        for (const [name, value] of Object.entries(daemon.status().counters))
          this.set({ name }, value);
      },
    });
    new Gauge({
      name: "alps_window_counter",
      help: "Window bounds: records added, evicted, refused; functions aged out; size",
      labelNames: ["name"],
      registers: [r],
      collect() {
        this.reset();
        for (const [name, value] of Object.entries(daemon.status().window))
          this.set({ name }, value);
      },
    });
    // The BPF backend keeps the event-to-applied latency of its recent level changes (ns);
    // other backends have no kernel events, so the gauge stays empty for them.
    const latencies = (daemon.backend as Partial<LatencySource>).latenciesNs;
    new Gauge({
      name: "alps_event_to_applied_latency_seconds",
      help: "Kernel event to level applied, over the backend's recent level changes",
      labelNames: ["quantile"],
      registers: [r],
      collect() {
        this.reset();
        if (typeof latencies !== "function") return;
        const ns = latencies.call(daemon.backend).sort((a, b) => a - b);
        if (ns.length === 0) return;
        for (const q of [0.5, 0.9, 0.99]) {
          const v = ns[Math.min(ns.length - 1, Math.ceil(q * ns.length) - 1)] as number;
          this.set({ quantile: String(q) }, v / 1e9);
        }
      },
    });
    new Gauge({
      name: "alps_open_invocations",
      help: "Invocations open now",
      registers: [r],
      collect() {
        this.set(daemon.status().open_invocations);
      },
    });
    daemon.onInvocationEnd((rec) => this.#finished(rec));
    daemon.onPolicy((policy, learnMs) => this.#policy(policy, learnMs));
  }

  #finished(rec: FinishedRecord): void {
    const fn = this.#labels.of(rec.fn);
    this.#invocations.inc({ function: fn });
    this.#turnaround.observe({ function: fn }, rec.turnaroundMs);
    if (rec.cpuSource !== "none") this.#cpu.observe({ function: fn }, rec.cpuMs);
  }

  #policy(policy: Policy, learnMs: number | null): void {
    if (learnMs !== null) this.#learnerSeconds.observe(learnMs / 1000);
    this.#predicted.reset();
    this.#priority.reset();
    this.#slice.reset();
    this.#band.reset();
    if (policy.band !== undefined) {
      this.#band.set({ end: "lo" }, policy.band.lo_ms);
      this.#band.set({ end: "hi" }, policy.band.hi_ms);
    }
    const entries: [string, { priority: number; predicted_ms: number; slice_ms: number }][] = [
      ...Object.entries(policy.functions),
      ["default", policy.default],
    ];
    const done = new Set<string>();
    for (const [fn, entry] of entries) {
      // Gauges are per function; "other" shows the most urgent of its members (entries come in no particular order, so compare).
      const label = fn === "default" ? "default" : this.#labels.of(fn);
      if (label === "other" && done.has("other") && entry.priority >= this.#otherPriority) continue;
      if (label === "other") this.#otherPriority = entry.priority;
      done.add(label);
      this.#predicted.set({ function: label }, entry.predicted_ms);
      this.#priority.set({ function: label }, entry.priority);
      this.#slice.set({ function: label }, entry.slice_ms);
    }
  }

  refusal(reason: string): void {
    this.#refusals.inc({ reason });
  }

  async listen(host: string, port: number): Promise<number> {
    if (!LOOPBACK.has(host)) throw new Error(`metrics host must be loopback, got ${host}`);
    this.#server = createServer((req, res) => {
      if (req.url !== "/metrics" || req.method !== "GET") {
        res.writeHead(404).end("not found\n");
        return;
      }
      this.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { "content-type": this.registry.contentType });
          res.end(text);
        })
        .catch((error: unknown) => {
          res.writeHead(500).end(`${String(error)}\n`);
        });
    });
    const server = this.#server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address();
    return typeof address === "object" && address !== null ? address.port : port;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
  }
}
