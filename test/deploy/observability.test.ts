/**
 * What deploy/ ships for observing alps: the alert rules pass
 * `promtool check rules` and their own `promtool test rules` cases, every
 * expression of the rules and of the Grafana dashboard parses as PromQL and
 * names only families the daemon exports, and the DaemonSet and PodMonitor
 * let a scraper in (issue 17 must-show: `promtool check rules` passes on the
 * shipped rules).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { COUNTER_NAMES } from "../../src/host/addon-types.js";
import { ManualClock } from "../../src/frontend/clock.js";
import { Daemon } from "../../src/frontend/daemon.js";
import { DaemonMetrics } from "../../src/frontend/metrics.js";
import { ObserveBackend } from "../frontend/observe-backend.js";
import { requireHost } from "../helpers/host.js";

const ROOT = join(import.meta.dirname, "../..");
const RULES = join(ROOT, "deploy/prometheus/alps-rules.yaml");
const RULE_TESTS = join(ROOT, "deploy/prometheus/alps-rules.test.yaml");
const DASHBOARD = join(ROOT, "deploy/grafana/alps-dashboard.json");
const DAEMONSET = join(ROOT, "deploy/kubernetes/daemonset.yaml");
const PODMONITOR = join(ROOT, "deploy/kubernetes/podmonitor.yaml");

const hasPromtool = spawnSync("promtool", ["--version"]).status === 0;
const dir = mkdtempSync(join(tmpdir(), "alps-deploy-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function promtool(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync("promtool", args, { encoding: "utf8", cwd: dir });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}
interface Panel {
  type: string;
  title: string;
  panels?: Panel[];
  targets?: { expr: string }[];
}

function dashboardExprs(): { title: string; expr: string }[] {
  const dash = JSON.parse(readFileSync(DASHBOARD, "utf8")) as { panels: Panel[] };
  const out: { title: string; expr: string }[] = [];
  const walk = (ps: Panel[]) => {
    for (const p of ps) {
      for (const t of p.targets ?? []) out.push({ title: p.title, expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(dash.panels);
  return out;
}

/** Grafana's variables as Prometheus would see them once substituted. */
const substituted = (expr: string) =>
  expr.replaceAll("$__rate_interval", "5m").replaceAll("$instance", ".*");

/** The families a daemon exports (histogram series add _bucket, _sum, _count), and Prometheus's `up`. */
async function exportedNames(): Promise<Set<string>> {
  const daemon = new Daemon({
    backend: new ObserveBackend(),
    clock: new ManualClock(),
    cores: 2,
    utilization: null,
  });
  const metrics = new DaemonMetrics(daemon, 5);
  const names = new Set(["up"]);
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (["histogram", "summary"].includes(String(m.type)))
      for (const s of ["_bucket", "_sum", "_count"]) names.add(`${m.name}${s}`);
  }
  return names;
}

/** Metric names in a PromQL expression (label names and values never carry these prefixes). */
const referenced = (expr: string) =>
  [...expr.matchAll(/\b((?:alps|process|nodejs)_[a-z0-9_]+|up)\b/g)].map((m) => m[1] as string);

describe.skipIf(!requireHost("promtool (Debian package prometheus)", hasPromtool))(
  "alert rules",
  () => {
    it("pass promtool check rules", () => {
      const r = promtool("check", "rules", RULES);
      expect(r.out).toMatch(/SUCCESS: 4 rules found/);
      expect(r.status).toBe(0);
    });

    it("the checker is real: a broken expression is refused", () => {
      const broken = join(dir, "broken.yaml");
      writeFileSync(
        broken,
        readFileSync(RULES, "utf8").replace(
          "increase(alps_learner_errors_total[10m]) > 0",
          "increase(alps_learner_errors_total[10m] > 0",
        ),
      );
      const r = promtool("check", "rules", broken);
      expect(r.status).not.toBe(0);
      expect(r.out).toMatch(/parse error/i);
    });

    it("raise each alert on the series that should, and stay quiet otherwise (promtool test rules)", () => {
      const r = spawnSync("promtool", ["test", "rules", RULE_TESTS], {
        encoding: "utf8",
        cwd: join(ROOT, "deploy/prometheus"),
      });
      expect(`${r.stdout}${r.stderr}`).toMatch(/SUCCESS/);
      expect(r.status).toBe(0);
    });

    it("cover ring-buffer drops, apply errors, learner errors and a daemon that stopped learning", () => {
      const file = parse(readFileSync(RULES, "utf8")) as RuleFile;
      const alerts = file.groups.flatMap((g) => g.rules.map((r) => r.alert));
      expect(alerts).toEqual([
        "AlpsRingBufferDrops",
        "AlpsApplyErrors",
        "AlpsLearnerErrors",
        "AlpsStoppedLearning",
      ]);
    });

    it("every dashboard query parses as PromQL (checked as recording rules)", () => {
      const exprs = dashboardExprs();
      expect(exprs.length).toBeGreaterThan(20);
      const asRules = join(dir, "dashboard-rules.yaml");
      writeFileSync(
        asRules,
        stringify({
          groups: [
            {
              name: "dashboard",
              rules: exprs.map((e, i) => ({
                record: `dashboard:query_${i}`,
                expr: substituted(e.expr),
              })),
            },
          ],
        }),
      );
      const r = promtool("check", "rules", asRules);
      expect(r.out).toMatch(new RegExp(`SUCCESS: ${exprs.length} rules found`));
      expect(r.status).toBe(0);
    });
  },
);

describe("rules and dashboard name only what the daemon exports", () => {
  it("every metric in an alert or a panel is a family of /metrics", async () => {
    const names = await exportedNames();
    const rules = (parse(readFileSync(RULES, "utf8")) as RuleFile).groups.flatMap((g) =>
      g.rules.map((r) => ({ title: r.alert ?? r.record ?? "", expr: r.expr })),
    );
    let checked = 0;
    for (const { title, expr } of [...rules, ...dashboardExprs()]) {
      const used = referenced(substituted(expr));
      expect(used.length, `${title}: ${expr} names a metric`).toBeGreaterThan(0);
      for (const name of used) {
        expect(names.has(name), `${title}: ${name} is not exported`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(30);
  });

  it("the backend events the rules watch exist: ringbuf_drops in the kernel's counters, the others in a backend", () => {
    expect(COUNTER_NAMES).toContain("nr_ringbuf_drops");
    const sources: string[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith(".ts")) sources.push(readFileSync(p, "utf8"));
      }
    };
    walk(join(ROOT, "src/backend"));
    const text = sources.join("\n");
    for (const event of ["apply_errors", "restore_failed"])
      expect(text, `a backend counts nr_${event}`).toMatch(new RegExp(`\\bnr_${event}\\b`));
  });
});

describe("Kubernetes: the DaemonSet can be scraped", () => {
  interface Container {
    image: string;
    args: string[];
    ports: { name: string; containerPort: number }[];
    livenessProbe: { httpGet: { path: string; port: string } };
    readinessProbe: { httpGet: { path: string; port: string } };
  }
  const ds = parse(readFileSync(DAEMONSET, "utf8")) as {
    spec: {
      template: {
        metadata: { labels: Record<string, string>; annotations: Record<string, string> };
        spec: { hostNetwork?: boolean; containers: Container[] };
      };
    };
  };
  const pod = ds.spec.template;
  const c = pod.spec.containers[0] as Container;
  const flag = (name: string) => c.args[c.args.indexOf(name) + 1];

  it("listens beyond loopback on the pod's own network, on the port it declares", () => {
    expect(pod.spec.hostNetwork ?? false).toBe(false);
    expect(flag("--metrics-host")).toBe("0.0.0.0");
    const port = c.ports.find((p) => p.name === "metrics");
    expect(String(port?.containerPort)).toBe(flag("--metrics-port"));
    expect(pod.metadata.annotations["prometheus.io/scrape"]).toBe("true");
    expect(pod.metadata.annotations["prometheus.io/port"]).toBe(String(port?.containerPort));
  });

  it("probes /healthz for liveness and /readyz for readiness", () => {
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "metrics" });
  });

  it("names the image the Dockerfile builds, tagged with the package version", () => {
    const version = (
      JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }
    ).version;
    expect(c.image).toBe(`alps:${version}`);
  });

  it("the PodMonitor selects the DaemonSet's pods on their metrics port", () => {
    const pm = parse(readFileSync(PODMONITOR, "utf8")) as {
      kind: string;
      spec: {
        selector: { matchLabels: Record<string, string> };
        podMetricsEndpoints: { port: string; path: string }[];
      };
    };
    expect(pm.kind).toBe("PodMonitor");
    for (const [k, v] of Object.entries(pm.spec.selector.matchLabels))
      expect(pod.metadata.labels[k]).toBe(v);
    expect(pm.spec.podMetricsEndpoints).toEqual([
      expect.objectContaining({ port: "metrics", path: "/metrics" }),
    ]);
  });
});
