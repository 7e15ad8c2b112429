// Where an alps daemon's time goes, per call, on the control API's path:
// a preload (node --import) that wraps the daemon's public methods on that
// path with a wall clock and writes, every 2 s and at exit, how many calls
// each had and their median, mean and total, to $ALPS_TIMING_OUT (JSON).
// Development analysis, not a daemon feature: the wrappers add about a
// microsecond per call. docs/results.md ("What a registration is made of")
// has the figures; scripts/daemon-timing.sh runs it under a replay.
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

const dist = new URL("../dist/", import.meta.url);
const { Daemon } = await import(new URL("frontend/daemon.js", dist).href);
const { ApiRoutes } = await import(new URL("frontend/api/routes.js", dist).href);
const { Actuator } = await import(new URL("backend/actuator/actuator.js", dist).href);
const { WeightTargets, CachedWeightFiles } = await import(
  new URL("backend/actuator/weight-targets.js", dist).href
);

const out = process.env.ALPS_TIMING_OUT ?? `/tmp/alps-daemon-timing-${process.pid}.json`;
/** name -> every call's wall time, µs */
const calls = new Map();

function timed(name, fn) {
  return function (...args) {
    const t0 = performance.now();
    try {
      return fn.apply(this, args);
    } finally {
      let list = calls.get(name);
      if (list === undefined) calls.set(name, (list = []));
      list.push((performance.now() - t0) * 1000);
    }
  };
}

function wrap(proto, method, name) {
  proto[method] = timed(name, proto[method]);
}

// The request: the route (pid rule and the daemon), the daemon, its backend.
wrap(ApiRoutes.prototype, "startInvocation", "api: start (pid rule + daemon)");
wrap(ApiRoutes.prototype, "endInvocation", "api: end");
wrap(Daemon.prototype, "startInvocation", "daemon: start");
wrap(Daemon.prototype, "endInvocation", "daemon: end");
wrap(Daemon.prototype, "learnNow", "daemon: learner run");
wrap(Daemon.prototype, "decideProvisional", "daemon: provisional entries");
// Levels: every level the daemon applies, a registration's and the kernel's events'.
wrap(Actuator.prototype, "apply", "actuator: apply a level");
wrap(WeightTargets.prototype, "resolve", "weights: resolve a task's group");
wrap(WeightTargets.prototype, "onLevel", "weights: a member's level");
wrap(CachedWeightFiles.prototype, "write", "weights: write a group file");

// The backend is built by a factory: its methods are wrapped on the first registration.
const start = Daemon.prototype.startInvocation;
let backendWrapped = false;
Daemon.prototype.startInvocation = function (...args) {
  if (!backendWrapped) {
    backendWrapped = true;
    for (const m of ["startInvocation", "endInvocation", "flushEvents", "applyPolicy"]) {
      if (typeof this.backend[m] === "function")
        this.backend[m] = timed(`backend: ${m}`, this.backend[m].bind(this.backend));
    }
  }
  return start.apply(this, args);
};

function write() {
  const summary = {};
  for (const [name, list] of calls) {
    const sorted = [...list].sort((a, b) => a - b);
    const total = list.reduce((s, x) => s + x, 0);
    summary[name] = {
      calls: list.length,
      p50_us: Math.round(sorted[sorted.length >> 1]),
      mean_us: Math.round(total / list.length),
      total_ms: Math.round(total) / 1000,
    };
  }
  writeFileSync(out, `${JSON.stringify(summary, null, 1)}\n`);
}
setInterval(write, 2000).unref();
process.on("exit", write);
