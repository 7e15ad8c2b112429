import { describe, expect, it } from "vitest";
import { categorize } from "../../src/bench/perf-categories.js";

const sample = (...frames: string[]): string =>
  ["node 123", ...frames.map((f, i) => `${(0x1000 + i).toString(16)} ${f}`)].join("\n");

describe("perf categories", () => {
  it("puts each stack in the first category one of its frames matches", () => {
    const script = [
      // A level applied from a ring-buffer event counts as the event, not as the actuator.
      sample(
        "JS:*apply file:///x/dist/backend/actuator/actuator.js:1:1",
        "alps::BpfHandle::OnReadable",
        "uv_run",
      ),
      sample(
        "JS:*checkPid file:///x/dist/frontend/api/access.js:8:25",
        "JS:*#handle file:///x/server.js:1:1",
      ),
      sample("JS:*#handle file:///x/server.js:1:1", "uv_run"),
      sample("epoll_pwait", "uv__io_poll", "uv_run"),
      sample("something_else"),
    ].join("\n\n");
    const shares = Object.fromEntries(categorize(script).map((c) => [c.category, c.share]));
    expect(shares).toEqual({
      "ring-buffer events (levels applied, bursts)": 0.2,
      "pid rule (checkPid: /proc cgroup, stat)": 0.2,
      "API: rest of the handler": 0.2,
      "event loop, epoll, wake-up": 0.2,
      "other (libuv, V8 runtime, kernel entry)": 0.2,
    });
  });

  it("line set: other threads apart, a request's step before the protocol frame around it, a time window", () => {
    const at = (tid: number, t: number, ...frames: string[]): string =>
      [
        `node ${tid} ${t.toFixed(6)}:`,
        ...frames.map((f, i) => `${(0x1000 + i).toString(16)} ${f}`),
      ].join("\n");
    const script = [
      at(100, 10.0, "epoll_pwait", "uv__io_poll", "uv_run"), // before the window
      at(
        100,
        11.0,
        "JS:*checkPid file:///x/access.js:1:1",
        "JS:*#answer file:///x/line-server.js:1:1",
        "uv__read",
      ),
      at(
        100,
        11.5,
        "JS:*safeParse file:///x/zod/schemas.js:1:1",
        "JS:*#answer file:///x/line-server.js:1:1",
      ),
      at(100, 12.0, "JS:*#answer file:///x/line-server.js:1:1", "uv__read"),
      at(107, 12.5, "v8::internal::compiler::Pipeline", "start_thread"), // a helper thread
      at(100, 30.0, "epoll_pwait"), // after the window
    ].join("\n\n");
    const shares = Object.fromEntries(
      categorize(script, { set: "line", fromS: 1, toS: 10 }).map((c) => [c.category, c.share]),
    );
    expect(shares).toEqual({
      "pid rule (checkPid: /proc cgroup, stat)": 0.25,
      "line protocol: zod": 0.25,
      "line protocol: split, parse, route checks": 0.25,
      "V8 helper threads (optimizing compiler, GC)": 0.25,
    });
    expect(() => categorize(sample("x"), { fromS: 1 })).toThrow(/time field/);
  });
});
