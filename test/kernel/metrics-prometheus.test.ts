/**
 * A real Prometheus server scrapes a real daemon (issue 17 must-show).
 * The built CLI's daemon runs in `auto` mode on a temporary socket, state dir
 * and ephemeral metrics port; Debian's `prometheus` runs on 127.0.0.1 with an
 * ephemeral port, a temporary data dir, a 1 s scrape of that daemon and the
 * shipped alert rules. After three `alps invoke` calls, Prometheus's HTTP API
 * answers `alps_invocations_total` = 3 for that function, the target is up
 * and the rules load and evaluate. The daemon's own listener answers /healthz
 * and /readyz, and its exposition has no `_ms` unit and has alps_build_info.
 * Needs `npm run build` first (it runs dist/cli.js, as users do).
 */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { apiRequest } from "../../src/frontend/api/client.js";
import { parsePrometheusText, sampleValue } from "../frontend/prom-parse.js";
import { isRoot, requireHost } from "../helpers/host.js";
import { freePort } from "../helpers/ports.js";

const ROOT = join(import.meta.dirname, "../..");
const CLI = join(ROOT, "dist/cli.js");
const RULES = join(ROOT, "deploy/prometheus/alps-rules.yaml");
const VERSION = (
  JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }
).version;
const FUNCTION = "prom-e2e";
const INVOCATIONS = 3;

const hasPrometheus =
  spawnSync("prometheus", ["--version"]).status === 0 &&
  spawnSync("promtool", ["--version"]).status === 0;
const runs =
  requireHost("root (the daemon changes priorities)", isRoot()) &&
  requireHost("prometheus and promtool (Debian package prometheus)", hasPrometheus);

const dir = mkdtempSync(join(tmpdir(), "alps-prom-"));
const socket = join(dir, "alps.sock");
let daemon: ChildProcess | undefined;
let prometheus: ChildProcess | undefined;
let daemonLog = "";
let promLog = "";
let metricsPort = 0;
let promPort = 0;

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    }).on("error", reject);
  });
}

function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (error, _stdout, stderr) => {
      resolve({
        code: error === null ? 0 : typeof error.code === "number" ? error.code : 1,
        stderr,
      });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `probe` until it returns a value, or fail with `what` and the logs. */
async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline)
      throw new Error(
        `${what} within ${ms} ms\n--- daemon:\n${daemonLog}\n--- prometheus:\n${promLog}`,
      );
    await sleep(200);
  }
}

interface Vector {
  status: string;
  data: {
    resultType: string;
    result: { metric: Record<string, string>; value: [number, string] }[];
  };
}

async function query(q: string): Promise<Vector> {
  const res = await httpGet(
    `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`,
  );
  if (res.status !== 200) throw new Error(`query ${q}: HTTP ${res.status}: ${res.body}`);
  return JSON.parse(res.body) as Vector;
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  process.kill(child.pid, "SIGTERM");
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
  }, 10_000);
  await exited;
  clearTimeout(timer);
}

describe.skipIf(!runs)("a real Prometheus server scrapes the daemon", () => {
  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    metricsPort = await freePort();
    daemon = spawn(
      process.execPath,
      [
        CLI,
        "daemon",
        "--mode",
        "auto",
        "--learn-period-ms",
        "500",
        "--socket",
        socket,
        "--metrics-port",
        String(metricsPort),
        "--state-dir",
        join(dir, "state"),
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    daemon.stderr?.on("data", (c: Buffer) => {
      daemonLog += c.toString();
    });
    await until("the daemon answers on its socket", async () => {
      if (daemon?.exitCode !== null) throw new Error(`daemon exited:\n${daemonLog}`);
      return (await apiRequest(socket, "GET", "/v1/status")).status === 200 ? true : undefined;
    });

    const config = join(dir, "prometheus.yml");
    writeFileSync(
      config,
      stringify({
        global: { scrape_interval: "1s", evaluation_interval: "1s" },
        rule_files: [RULES],
        scrape_configs: [
          { job_name: "alps", static_configs: [{ targets: [`127.0.0.1:${metricsPort}`] }] },
        ],
      }),
    );
    const check = spawnSync("promtool", ["check", "config", config], { encoding: "utf8" });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    promPort = await freePort();
    prometheus = spawn(
      "prometheus",
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    for (const s of [prometheus.stdout, prometheus.stderr])
      s?.on("data", (c: Buffer) => {
        promLog += c.toString();
      });
    await until("Prometheus is ready", async () => {
      if (prometheus?.exitCode !== null) throw new Error(`prometheus exited:\n${promLog}`);
      return (await httpGet(`http://127.0.0.1:${promPort}/-/ready`)).status === 200
        ? true
        : undefined;
    });
  }, 60_000);

  afterAll(async () => {
    await stop(prometheus);
    await stop(daemon);
    rmSync(dir, { recursive: true, force: true });
  });

  it("the daemon's listener answers /healthz 200 and /readyz 200 once the learner has run", async () => {
    expect(await httpGet(`http://127.0.0.1:${metricsPort}/healthz`)).toEqual({
      status: 200,
      body: "ok\n",
    });
    const ready = await until("/readyz answers 200", async () => {
      const r = await httpGet(`http://127.0.0.1:${metricsPort}/readyz`);
      return r.status === 200 ? r : undefined;
    });
    expect(ready.body).toBe("ready: learning\n");
  });

  it("Prometheus answers alps_invocations_total after alps invoke calls", async () => {
    for (let i = 0; i < INVOCATIONS; i++) {
      const r = await cli(["invoke", "--function", FUNCTION, "--socket", socket, "--", "true"]);
      expect(r.code, r.stderr).toBe(0);
    }
    const sample = await until(
      `alps_invocations_total{function="${FUNCTION}"} = ${INVOCATIONS}`,
      async () => {
        const v = await query(`alps_invocations_total{function="${FUNCTION}"}`);
        const s = v.data.result[0];
        return s !== undefined && Number(s.value[1]) === INVOCATIONS ? s : undefined;
      },
    );
    expect(sample.metric).toMatchObject({
      __name__: "alps_invocations_total",
      function: FUNCTION,
      job: "alps",
      instance: `127.0.0.1:${metricsPort}`,
    });
    const up = await query('up{job="alps"}');
    expect(up.data.result.map((s) => s.value[1])).toEqual(["1"]);
    const rate = await query(`increase(alps_invocations_started_total{job="alps"}[1m])`);
    expect(rate.status).toBe("success");
    const build = await query("alps_build_info");
    expect(build.data.result[0]?.metric).toMatchObject({ version: VERSION });
  }, 60_000);

  it("the shipped alert rules load and evaluate without error, none firing on a healthy daemon", async () => {
    interface Rules {
      data: {
        groups: { name: string; rules: { name: string; health: string; state: string }[] }[];
      };
    }
    const rules = await until("every rule evaluated", async () => {
      const res = JSON.parse(
        (await httpGet(`http://127.0.0.1:${promPort}/api/v1/rules`)).body,
      ) as Rules;
      const all = res.data.groups.flatMap((g) => g.rules);
      return all.length > 0 && all.every((r) => r.health === "ok") ? all : undefined;
    });
    expect(rules.map((r) => r.name).sort()).toEqual([
      "AlpsApplyErrors",
      "AlpsLearnerErrors",
      "AlpsRingBufferDrops",
      "AlpsStoppedLearning",
    ]);
    expect(rules.filter((r) => r.state !== "inactive")).toEqual([]);
  });

  it("the scraped exposition is in base units and has alps_build_info", async () => {
    const res = await httpGet(`http://127.0.0.1:${metricsPort}/metrics`);
    const families = parsePrometheusText(res.body);
    expect([...families.keys()].filter((n) => /(^|_)ms(_|$)/.test(n))).toEqual([]);
    const status = (await apiRequest(socket, "GET", "/v1/status")).body as { mode: string };
    expect(sampleValue(families, "alps_build_info", { version: VERSION, mode: status.mode })).toBe(
      1,
    );
  });
});
