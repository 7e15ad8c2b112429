/**
 * Prometheus metrics and health endpoints of the daemon (docs/metrics.md
 * lists every family). Named by Prometheus's conventions: base units
 * (`_seconds`), counters end in `_total`, a level is a gauge, an `_info`
 * gauge carries only stable labels (the reasons for a mode go to the log and
 * `/v1/status`, never into a label). Per-function labels are bounded: the
 * first `maxFunctions` functions seen get their own label, the rest share
 * "other", so a host with many functions cannot blow up the registry.
 *
 * The listener also answers `/healthz` (the process is up) and `/readyz`
 * (`Daemon.readiness()`). It binds to loopback unless the operator names
 * another address (`--metrics-host`).
 */
import { createHash } from "node:crypto";
import { chmodSync, chownSync, lstatSync, unlinkSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Policy, PolicyEntry } from "../contracts/policy.js";
import { ALPS_VERSION } from "../version.js";
import type { Daemon, DaemonCounters, DaemonStatus, FinishedRecord } from "./daemon.js";
import type { WindowCounters } from "./window.js";

/** A backend with kernel events reports each event-to-applied latency (src/backend/bpf/bpf-backend.ts). */
interface LatencySource {
  onLatency(listener: (ns: number) => void): void;
}

/** How often the event-loop delay metric samples the loop, ms. */
const EVENT_LOOP_SAMPLE_MS = 1000;

/**
 * How a function appears in a label: its key (`name`, the default), a hash
 * of it (`hash`: 12 hex digits of SHA-256, so dashboards still tell functions
 * apart without showing any tenant's names to whoever can read /metrics),
 * or not at all (`none`: every function is "all").
 */
export type FunctionLabelMode = "name" | "hash" | "none";

/**
 * Labels the exporter gives meanings of its own: the policy's default entry,
 * the functions past the label bound, every function under mode `none`.
 */
const RESERVED_LABELS: ReadonlySet<string> = new Set(["default", "other", "all"]);

/**
 * The label of `fn` under `mode` (before the "other" bound). A function
 * whose name is a reserved label gets ` (function)` after it: a space and
 * parentheses are not allowed in function names, so no other function can
 * have that label, and its series never mix with the reserved ones.
 */
export function functionLabel(fn: string, mode: FunctionLabelMode): string {
  if (mode === "name") return RESERVED_LABELS.has(fn) ? `${fn} (function)` : fn;
  if (mode === "none") return "all";
  return `h${createHash("sha256").update(fn).digest("hex").slice(0, 12)}`;
}

export class FunctionLabels {
  readonly #known = new Set<string>();
  overflowed = 0;
  constructor(
    private readonly max: number,
    private readonly mode: FunctionLabelMode = "name",
  ) {}
  of(fn: string): string {
    const label = functionLabel(fn, this.mode);
    if (this.#known.has(label)) return label;
    if (this.#known.size < this.max) {
      this.#known.add(label);
      return label;
    }
    this.overflowed++;
    return "other";
  }
}

/**
 * How each daemon counter is exported. Typed over every key, so a new counter
 * cannot be added without deciding its family. `null`: already exported
 * under another name (said in the comment).
 */
const DAEMON_FAMILIES: Record<
  keyof DaemonCounters,
  { name: string; type: "counter" | "gauge"; help: string } | null
> = {
  invocations_started: {
    name: "alps_invocations_started_total",
    type: "counter",
    help: "Invocations registered (control API or a library caller)",
  },
  // Every ended invocation is one increment of alps_invocations_total{function}.
  invocations_ended: null,
  invocations_refused_open_limit: {
    name: "alps_invocations_refused_open_limit_total",
    type: "counter",
    help: "Invocations refused because --max-open-invocations were open",
  },
  invocations_refused_quota: {
    name: "alps_invocations_refused_quota_total",
    type: "counter",
    help: "Invocations of callers that are not root refused by a per-uid quota (open invocations, function names)",
  },
  invocations_reaped_exited: {
    name: "alps_invocations_reaped_exited_total",
    type: "counter",
    help: "Invocations the daemon ended because their task exited without an end request",
  },
  invocations_reaped_max_open: {
    name: "alps_invocations_reaped_max_open_total",
    type: "counter",
    help: "Invocations the daemon ended because they were open longer than --max-open-seconds",
  },
  client_cpu_ignored: {
    name: "alps_client_cpu_ignored_total",
    type: "counter",
    help: "End requests of callers that are not root whose cpu_ms was ignored (the kernel's count is used)",
  },
  invocations_without_cpu: {
    name: "alps_invocations_without_cpu_total",
    type: "counter",
    help: "Ended invocations whose CPU time was unknown (counted, not learned from)",
  },
  bursts_learned: {
    name: "alps_bursts_learned_total",
    type: "counter",
    help: "Bursts of sandboxes without explicit invocations, learned from",
  },
  bursts_ignored_explicit: {
    name: "alps_bursts_ignored_total",
    type: "counter",
    help: "Bursts not learned because their function reports explicit invocations",
  },
  learner_runs: {
    name: "alps_learner_runs_total",
    type: "counter",
    help: "Learner runs that produced a policy",
  },
  learner_errors: {
    name: "alps_learner_errors_total",
    type: "counter",
    help: "Learner runs that failed (the last policy stays; the log says why)",
  },
  policies_applied: {
    name: "alps_policies_applied_total",
    type: "counter",
    help: "Policies handed to the backend (learned, from the file, or the initial one)",
  },
  policy_overflow_functions: {
    name: "alps_policy_overflow_functions",
    type: "gauge",
    help: "Functions the policy in force leaves on the default entry (more than --max-functions learned)",
  },
};

/** The window's counters, one family each; `size` is a level, hence a gauge. */
const WINDOW_FAMILIES: Record<
  keyof WindowCounters,
  { name: string; help: string; labels?: Record<string, string> }
> = {
  added: { name: "alps_window_records_added_total", help: "Records entered into the window" },
  evictedByCount: {
    name: "alps_window_records_evicted_total",
    help: "Records pushed out of the window, by cause",
    labels: { cause: "count" },
  },
  evictedByAge: {
    name: "alps_window_records_evicted_total",
    help: "Records pushed out of the window, by cause",
    labels: { cause: "age" },
  },
  refusedFunctions: {
    name: "alps_window_records_refused_total",
    help: "Records refused because --max-tracked-functions functions were tracked",
  },
  agedOutFunctions: {
    name: "alps_window_functions_aged_out_total",
    help: "Functions forgotten after --function-ttl-seconds without an invocation",
  },
};

/**
 * Backend status values that are levels, not running totals (the SFS
 * backend's): each its own gauge, scaled to base units. Every other backend
 * value is an `nr_<event>` counter: alps_backend_events_total{event}.
 */
const BACKEND_GAUGES: Record<string, { name: string; help: string; scale: number }> = {
  nr_fifo: { name: "alps_sfs_fifo_tasks", help: "SFS: tasks on SCHED_FIFO now", scale: 1 },
  nr_queued: {
    name: "alps_sfs_queued_invocations",
    help: "SFS: invocations waiting for a FIFO slot",
    scale: 1,
  },
  slice_us: { name: "alps_sfs_slice_seconds", help: "SFS: the slice in force", scale: 1e-6 },
};

/** The backend event name of a status key: `nr_ringbuf_drops` → `ringbuf_drops`. */
export function backendEventName(key: string): string {
  return key.startsWith("nr_") ? key.slice(3) : key;
}

/** Seconds, for invocations: 1 ms to 30 s. */
const INVOCATION_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30];
/** Seconds, for the kernel-event-to-applied latency: 10 µs to 100 ms. */
const LATENCY_BUCKETS = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
];

export class DaemonMetrics {
  readonly registry = new Registry();
  readonly #daemon: Daemon;
  readonly #labels: FunctionLabels;
  readonly #invocations: Counter<"function">;
  readonly #turnaround: Histogram<"function">;
  readonly #cpu: Histogram<"function">;
  readonly #predicted: Gauge<"function">;
  readonly #priority: Gauge<"function">;
  readonly #slice: Gauge<"function">;
  readonly #provisional: Gauge<"function">;
  readonly #band: Gauge<"end">;
  readonly #learnerSeconds: Histogram;
  readonly #refusals: Counter<"reason">;
  /** Control API requests by route and protocol; its children, made once (inc on the hot path). */
  readonly #requests: Counter<"route" | "protocol">;
  readonly #requestChildren = new Map<string, { inc(): void }>();
  readonly #servers: Server[] = [];
  #socketPath: string | undefined;
  #snapshot: DaemonStatus | undefined;

  constructor(daemon: Daemon, maxFunctions: number, labelMode: FunctionLabelMode = "name") {
    this.#daemon = daemon;
    this.#labels = new FunctionLabels(maxFunctions, labelMode);
    const r = this.registry;
    // The client's standard process_* and nodejs_* families, under their usual names,
    // less three gauges whose names end in _total (counters' suffix): their totals are
    // the sums of nodejs_active_{handles,requests,resources}.
    // The event-loop delay is sampled once a second, not every 10 ms (prom-client's
    // default): that timer alone woke an idle daemon 100 times a second, most of
    // its idle CPU (docs/results.md, "Daemon cost").
    collectDefaultMetrics({ register: r, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    for (const name of [
      "nodejs_active_handles_total",
      "nodejs_active_requests_total",
      "nodejs_active_resources_total",
    ])
      r.removeSingleMetric(name);
    this.#invocations = new Counter({
      name: "alps_invocations_total",
      help: "Finished invocations",
      labelNames: ["function"],
      registers: [r],
    });
    this.#turnaround = new Histogram({
      name: "alps_invocation_turnaround_seconds",
      help: "Invocation turnaround: end - start",
      labelNames: ["function"],
      buckets: INVOCATION_BUCKETS,
      registers: [r],
    });
    this.#cpu = new Histogram({
      name: "alps_invocation_cpu_seconds",
      help: "CPU time an invocation used",
      labelNames: ["function"],
      buckets: INVOCATION_BUCKETS,
      registers: [r],
    });
    this.#predicted = new Gauge({
      name: "alps_policy_predicted_run_seconds",
      help: "Policy: predicted uninterrupted run of the function",
      labelNames: ["function"],
      registers: [r],
    });
    this.#priority = new Gauge({
      name: "alps_policy_priority",
      help: "Policy: rank of the function, 1 = most urgent",
      labelNames: ["function"],
      registers: [r],
    });
    this.#slice = new Gauge({
      name: "alps_policy_slice_seconds",
      help: "Policy: slice of the function",
      labelNames: ["function"],
      registers: [r],
    });
    // 0 or 1 beside every function the policy gauges show (the default entry
    // included, always 0), so a query can tell learned entries from
    // provisional ones without knowing which functions exist.
    this.#provisional = new Gauge({
      name: "alps_policy_provisional",
      help: "Policy: 1 while the function's entry is provisional (not learned yet: its oldest open invocation's age is its predicted run), else 0",
      labelNames: ["function"],
      registers: [r],
    });
    this.#band = new Gauge({
      name: "alps_policy_band_seconds",
      help: "Policy: remaining time of the most boosted level (end=lo) and above which the most yielding (end=hi); absent: the fixed band",
      labelNames: ["end"],
      registers: [r],
    });
    this.#learnerSeconds = new Histogram({
      name: "alps_learner_duration_seconds",
      help: "Time a learner run took",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
      registers: [r],
    });
    this.#refusals = new Counter({
      name: "alps_api_refusals_total",
      help: "Control API requests refused, by reason (docs/api.md)",
      labelNames: ["reason"],
      registers: [r],
    });
    this.#requests = new Counter({
      name: "alps_api_requests_total",
      help: "Control API requests, refused ones included, by route (start, end, sandbox, status, policy, bursts, unknown) and protocol (http, line)",
      labelNames: ["route", "protocol"],
      registers: [r],
    });
    const labels = this.#labels;
    const status = () => this.#status();
    let overflowSeen = 0;
    new Counter({
      name: "alps_metric_label_overflow_total",
      help: 'Observations filed under function="other" (--metrics-max-functions reached)',
      registers: [r],
      collect() {
        this.inc(labels.overflowed - overflowSeen);
        overflowSeen = labels.overflowed;
      },
    });
    new Gauge({
      name: "alps_build_info",
      help: "Version of alps, with the mode and strategy in force (value 1)",
      labelNames: ["version", "mode", "strategy"],
      registers: [r],
      collect() {
        const s = status();
        this.reset();
        this.set({ version: ALPS_VERSION, mode: s.mode, strategy: s.strategy ?? "" }, 1);
      },
    });
    // The mode and sensor asked for beside the ones that run: `--mode auto`
    // that fell back to sfs reads requested_mode="auto", mode="sfs"; cfs mode
    // observing with the proc sensor where BPF does not load reads
    // requested_sensor="unset", sensor="proc" (no fallback is silent). Both
    // need a restart to change, so the labels are stable.
    const requestedMode = daemon.config.mode;
    const requestedSensor = daemon.config.sensor ?? "unset";
    new Gauge({
      name: "alps_mode_info",
      help: "Mode, sensor, strategy and policy source in force, and the mode and sensor asked for (value 1); why: the log and /v1/status",
      labelNames: [
        "mode",
        "sensor",
        "strategy",
        "policy_source",
        "requested_mode",
        "requested_sensor",
      ],
      registers: [r],
      collect() {
        const s = status();
        this.reset();
        this.set(
          {
            mode: s.mode,
            sensor: s.sensor,
            strategy: s.strategy ?? "",
            policy_source: s.policy_source,
            requested_mode: requestedMode,
            requested_sensor: requestedSensor,
          },
          1,
        );
      },
    });
    this.#daemonFamilies();
    this.#windowFamilies();
    this.#backendFamilies();
    const latency = new Histogram({
      name: "alps_event_to_applied_latency_seconds",
      help: "Kernel event (level change) to level applied on the task; only backends with kernel events",
      buckets: LATENCY_BUCKETS,
      registers: [r],
    });
    const source = daemon.backend as Partial<LatencySource>;
    if (typeof source.onLatency === "function") source.onLatency((ns) => latency.observe(ns / 1e9));
    new Gauge({
      name: "alps_open_invocations",
      help: "Invocations open now",
      registers: [r],
      collect() {
        this.set(status().open_invocations);
      },
    });
    this.#safetyFamilies();
    new Gauge({
      name: "alps_sandboxes",
      help: "Sandboxes declared now",
      registers: [r],
      collect() {
        this.set(status().sandboxes);
      },
    });
    daemon.onInvocationEnd((rec) => this.#finished(rec));
    daemon.onPolicy((policy, learnMs) => this.#policy(policy, learnMs));
  }

  /**
   * The daemon's status, read once per scrape: prom-client runs every
   * family's collect() synchronously within one registry.metrics() call, and
   * each status() call also reads the backend's counters (for BPF, from the
   * kernel's maps). The snapshot is dropped in the next microtask, before
   * anything else can run.
   */
  #status(): DaemonStatus {
    if (this.#snapshot === undefined) {
      this.#snapshot = this.#daemon.status();
      queueMicrotask(() => {
        this.#snapshot = undefined;
      });
    }
    return this.#snapshot;
  }

  /** The safety net (docs/safety.md): guardian, boosting, real time, and how often each gave way. */
  #safetyFamilies(): void {
    const safety = () => this.#status().safety;
    const gauges: [string, string, (s: DaemonStatus["safety"]) => boolean][] = [
      [
        "alps_guardian_up",
        "1 while a guardian runs (levels can be undone if the daemon dies)",
        (s) => s.guardian,
      ],
      ["alps_boosting", "1 while tasks are changed (0 while no guardian runs)", (s) => s.boosting],
      [
        "alps_daemon_realtime",
        "1 while the daemon's threads are on SCHED_FIFO (0 after the RT CPU cap)",
        (s) => s.realtime,
      ],
    ];
    for (const [name, help, get] of gauges)
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(get(safety()) ? 1 : 0);
        },
      });
    const counters: [string, string, (s: DaemonStatus["safety"]) => number][] = [
      [
        "alps_guardian_restores_total",
        "Times the guardian restored every task because the daemon did not answer",
        (s) => s.guardian_restores,
      ],
      [
        "alps_guardian_deaths_total",
        "Times the guardian died and the daemon restored every task itself",
        (s) => s.guardian_deaths,
      ],
      [
        "alps_rt_cap_demotions_total",
        "Times the RT CPU cap moved the daemon to the fair class",
        (s) => s.rt_cap_demotions,
      ],
    ];
    for (const [name, help, get] of counters)
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(get(safety()));
        },
      });
  }

  /** One family per daemon counter; the values are read at scrape time. */
  #daemonFamilies(): void {
    const status = () => this.#status();
    for (const [key, family] of Object.entries(DAEMON_FAMILIES)) {
      if (family === null) continue;
      const read = () => status().counters[key as keyof DaemonCounters];
      const spec = { name: family.name, help: family.help, registers: [this.registry] };
      if (family.type === "gauge")
        new Gauge({
          ...spec,
          collect() {
            this.set(read());
          },
        });
      else
        new Counter({
          ...spec,
          collect() {
            this.reset();
            this.inc(read());
          },
        });
    }
  }

  #windowFamilies(): void {
    const status = () => this.#status();
    const byName = new Map<string, [keyof WindowCounters, Record<string, string>][]>();
    const help = new Map<string, string>();
    for (const [key, family] of Object.entries(WINDOW_FAMILIES)) {
      byName.set(family.name, [
        ...(byName.get(family.name) ?? []),
        [key as keyof WindowCounters, family.labels ?? {}],
      ]);
      help.set(family.name, family.help);
    }
    for (const [name, series] of byName) {
      const labelNames = Object.keys(series[0]?.[1] ?? {});
      new Counter({
        name,
        help: help.get(name) ?? name,
        labelNames,
        registers: [this.registry],
        collect() {
          const counters = status().window;
          this.reset();
          for (const [key, labels] of series) this.inc(labels, counters[key]);
        },
      });
    }
    new Gauge({
      name: "alps_window_records",
      help: "Records in the window now",
      registers: [this.registry],
      collect() {
        this.set(status().window.size);
      },
    });
  }

  /** Backend nr_* counters under one family with a stable `event` label; its levels as gauges. */
  #backendFamilies(): void {
    const status = () => this.#status();
    new Counter({
      name: "alps_backend_events_total",
      help: "Backend and kernel events by name: ringbuf_drops, level_changes, applied, apply_errors... (docs/metrics.md)",
      labelNames: ["event"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [key, value] of Object.entries(status().backend))
          if (!(key in BACKEND_GAUGES)) this.inc({ event: backendEventName(key) }, value);
      },
    });
    for (const [key, g] of Object.entries(BACKEND_GAUGES)) {
      new Gauge({
        name: g.name,
        help: g.help,
        registers: [this.registry],
        collect() {
          this.reset();
          const value = status().backend[key];
          if (value !== undefined) this.set(value * g.scale);
        },
      });
    }
  }

  #finished(rec: FinishedRecord): void {
    const fn = this.#labels.of(rec.fn);
    this.#invocations.inc({ function: fn });
    this.#turnaround.observe({ function: fn }, rec.turnaroundMs / 1000);
    if (rec.cpuSource !== "none") this.#cpu.observe({ function: fn }, rec.cpuMs / 1000);
  }

  #policy(policy: Policy, learnMs: number | null): void {
    if (learnMs !== null) this.#learnerSeconds.observe(learnMs / 1000);
    this.#predicted.reset();
    this.#priority.reset();
    this.#slice.reset();
    this.#provisional.reset();
    this.#band.reset();
    if (policy.band !== undefined) {
      this.#band.set({ end: "lo" }, policy.band.lo_ms / 1000);
      this.#band.set({ end: "hi" }, policy.band.hi_ms / 1000);
    }
    // The default entry under its reserved label; functions under theirs (a
    // function named "default" included: functionLabel keeps it apart).
    const entries: [string, PolicyEntry][] = [
      ...Object.entries(policy.functions).map(
        ([fn, entry]) => [this.#labels.of(fn), entry] as [string, typeof entry],
      ),
      ["default", policy.default],
    ];
    // A label several functions share ("other" past the bound, "all" under
    // --metrics-function-labels none) shows the most urgent of them: entries
    // come in no particular order, so compare.
    const shown = new Map<string, number>();
    for (const [label, entry] of entries) {
      const urgent = shown.get(label);
      if (urgent !== undefined && entry.priority >= urgent) continue;
      shown.set(label, entry.priority);
      this.#predicted.set({ function: label }, entry.predicted_ms / 1000);
      this.#priority.set({ function: label }, entry.priority);
      this.#slice.set({ function: label }, entry.slice_ms / 1000);
      this.#provisional.set({ function: label }, entry.provisional === true ? 1 : 0);
    }
  }

  refusal(reason: string): void {
    this.#refusals.inc({ reason });
  }

  request(route: string, protocol: string): void {
    const key = `${route} ${protocol}`;
    let child = this.#requestChildren.get(key);
    if (child === undefined) {
      child = this.#requests.labels({ route, protocol });
      this.#requestChildren.set(key, child);
    }
    child.inc();
  }

  #serve(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0];
    const route = path === "/metrics" || path === "/healthz" || path === "/readyz";
    if (!route) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { "content-type": "text/plain", allow: "GET, HEAD" });
      res.end("method not allowed\n");
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (path === "/readyz") {
      const { ready, reason } = this.#daemon.readiness();
      res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" });
      res.end(`${ready ? "ready" : "not ready"}: ${reason}\n`);
      return;
    }
    this.registry
      .metrics()
      .then((text) => {
        res.writeHead(200, { "content-type": this.registry.contentType });
        res.end(text);
      })
      .catch((error: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" }).end(`${String(error)}\n`);
      });
  }

  /**
   * Serve /metrics, /healthz and /readyz on `host:port` (port 0: any free
   * port); resolves with the port. Any address the operator names is taken:
   * the default is loopback, a wider one is their choice (docs/metrics.md).
   */
  async listen(host: string, port: number): Promise<number> {
    const server = createServer((req, res) => this.#serve(req, res));
    this.#servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address();
    return typeof address === "object" && address !== null ? address.port : port;
  }

  /**
   * The same routes on a unix socket, for a local scraper: 0600, or 0660 for
   * `gid`, so only who the operator chose can read the function labels. A
   * leftover socket file is replaced; anything else at the path is refused.
   */
  async listenUnix(path: string, gid?: number): Promise<void> {
    try {
      if (!lstatSync(path).isSocket())
        throw new Error(`${path} exists and is not a socket; refusing to replace it`);
      unlinkSync(path);
    } catch (error) {
      if ((error as { code?: unknown }).code !== "ENOENT") throw error;
    }
    const server = createServer((req, res) => this.#serve(req, res));
    this.#servers.push(server);
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(path, () => resolve());
      });
    } finally {
      process.umask(oldMask);
    }
    this.#socketPath = path;
    if (gid !== undefined) {
      chownSync(path, process.getuid?.() ?? 0, gid);
      chmodSync(path, 0o660);
    }
  }

  async close(): Promise<void> {
    for (const server of this.#servers.splice(0)) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    }
    if (this.#socketPath !== undefined) {
      try {
        unlinkSync(this.#socketPath);
      } catch {
        // already gone
      }
      this.#socketPath = undefined;
    }
  }
}
