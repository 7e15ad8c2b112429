"use strict";
/**
 * alps-hook: invocation boundaries for the alps daemon, from inside a
 * platform's request loop. No dependencies; CommonJS so the OpenWhisk
 * Node.js action proxy (CommonJS) can require() it, and ESM code can import
 * it (`import { begin, end } from "alps/clients/alps-hook.cjs"`).
 *
 *   const alps = require("./alps-hook.cjs");
 *   const id = await alps.begin("guest_hello"); // this process runs an invocation of guest_hello
 *   ...                                         // the function runs
 *   await alps.end(id);                         // it is over
 *
 * begin() registers the calling process itself: the daemon reads its pid
 * from the socket's peer credentials, in the daemon's own pid namespace, so
 * this works inside a container (mount the daemon's socket into it).
 * Nothing here ever throws or rejects: when the daemon cannot be reached,
 * begin() resolves to undefined, end(undefined) does nothing, and the
 * reason is reported once per distinct message through `onError`
 * (default: one line on stderr). The platform keeps running either way.
 * The contract itself is in docs/platforms.md ("The hook contract").
 *
 * Transport: the daemon's line protocol (docs/api.md, "The line protocol"),
 * its lean path for start and end, on one kept-open connection to the line
 * socket (`alps-line.sock` beside the API socket; $ALPS_LINE_SOCKET or the
 * `lineSocket` option name another). `protocol: "http"` (or
 * ALPS_HOOK_PROTOCOL=http) uses the HTTP routes instead; both apply the same
 * rules.
 */
const http = require("node:http");
const net = require("node:net");

const DEFAULT_SOCKET = "/run/alps/alps.sock";
const DEFAULT_TIMEOUT_MS = 250;
/** What the daemon accepts as a function name (and what cannot break a line). */
const FUNCTION_NAME = /^[A-Za-z0-9_.:@/-]{1,255}$/;

/** The line socket beside an API socket: alps.sock -> alps-line.sock (as the daemon derives it). */
function lineSocketOf(socket) {
  return socket.endsWith(".sock") ? `${socket.slice(0, -5)}-line.sock` : `${socket}-line`;
}

/** The invoker keeps letters, digits and `_` in a container name's namespace and action parts. */
function cleanName(s) {
  return String(s).replace(/[^A-Za-z0-9_]/g, "");
}

/**
 * The key alps's OpenWhisk adapter gives the action's containers: what the
 * invoker puts after `<prefix>_<seq>_` in their names. `actionName` is the
 * activation's `action_name` ("/ns/pkg/action"); `namespace` its
 * `namespace` (the caller's), needed only for the older ContainerProxy
 * invoker, which names containers after the caller's namespace and drops
 * the package. The default FPC invoker uses the action's own namespace
 * path, package included, with `/` removed. Undefined when the input is not
 * an action name (never throws: a hook must not break the platform).
 */
function openwhiskKey(actionName, options) {
  const opts = options || {};
  if (typeof actionName !== "string") return undefined;
  const parts = actionName
    .split("/")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  if (parts.length < 2) return undefined;
  const action = cleanName(parts[parts.length - 1]);
  let first;
  if (opts.invoker === "containerproxy") {
    if (typeof opts.namespace !== "string") return undefined;
    first = cleanName(opts.namespace);
  } else {
    first = cleanName(parts.slice(0, -1).join(""));
  }
  return first === "" || action === "" ? undefined : `${first}_${action}`;
}

function createHook(options) {
  const opts = options || {};
  const socketPath = opts.socket || process.env.ALPS_SOCKET || DEFAULT_SOCKET;
  const timeoutMs = opts.timeoutMs || DEFAULT_TIMEOUT_MS;
  const protocol = opts.protocol || process.env.ALPS_HOOK_PROTOCOL || "line";
  const lineSocketPath =
    opts.lineSocket || process.env.ALPS_LINE_SOCKET || lineSocketOf(socketPath);
  const reported = new Set();
  const onError =
    opts.onError ||
    ((err) => {
      if (reported.has(err.message)) return;
      reported.add(err.message);
      process.stderr.write(
        `alps-hook: ${err.message} (the platform runs on; alps schedules this invocation by its bursts)\n`,
      );
    });
  // One connection kept open: the daemon reads who we are once per connection.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  // Overlapping invocations in one process are one invocation to alps: a
  // task has one level at a time. `open` is that one, `depth` how many overlap.
  let open;
  let depth = 0;

  // The line protocol: one connection, requests pipelined, answers in order.
  let conn;
  let partial = "";
  const waiting = []; // { what, resolve, timer }, oldest first

  /** Ends connection `c` (if it is still the one in use) and every request waiting on it. */
  function dropConnection(c, why) {
    if (c === undefined || c !== conn) return;
    conn = undefined;
    partial = "";
    c.destroy();
    const pending = waiting.splice(0);
    if (pending.length > 0) onError(new Error(why));
    for (const w of pending) {
      clearTimeout(w.timer);
      w.resolve(undefined);
    }
  }

  function connectLine() {
    const c = net.connect(lineSocketPath);
    c.setEncoding("utf8");
    c.on("data", (chunk) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop();
      for (const line of lines) {
        if (line === "") continue;
        const w = waiting.shift();
        if (w === undefined) continue;
        clearTimeout(w.timer);
        const fields = line.split(" ");
        const status = Number(fields[0]);
        if (status === 201 || status === 200) w.resolve(fields);
        else {
          onError(new Error(`${w.what}: ${status} ${fields[1]}: ${fields.slice(2).join(" ")}`));
          w.resolve(undefined);
        }
      }
      // Nothing awaited: the connection must not keep the process alive.
      if (waiting.length === 0) c.unref();
    });
    c.on("error", (err) =>
      dropConnection(
        c,
        `cannot reach the alps daemon on ${lineSocketPath}: ${err.code || err.message}`,
      ),
    );
    c.on("close", () => dropConnection(c, `the alps daemon closed ${lineSocketPath}`));
    return c;
  }

  /** One request line; resolves to the answer's fields (201/200), or undefined (reported). */
  function lineRequest(line, what) {
    return new Promise((resolve) => {
      if (conn === undefined) conn = connectLine();
      const c = conn;
      c.ref();
      const timer = setTimeout(
        () => dropConnection(c, `${what}: no answer within ${timeoutMs} ms`),
        timeoutMs,
      );
      waiting.push({ what, resolve, timer });
      c.write(line);
    });
  }

  function post(path, body) {
    return new Promise((resolve) => {
      const payload = JSON.stringify(body);
      const req = http.request(
        {
          socketPath,
          agent,
          method: "POST",
          path,
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(payload),
          },
        },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed;
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = undefined;
            }
            if (res.statusCode >= 200 && res.statusCode < 300) return resolve(parsed);
            const why =
              parsed && parsed.error && parsed.error.message
                ? parsed.error.message
                : text.slice(0, 200);
            onError(new Error(`POST ${path}: HTTP ${res.statusCode}: ${why}`));
            resolve(undefined);
          });
          res.on("error", (err) => {
            onError(new Error(`POST ${path}: ${err.message}`));
            resolve(undefined);
          });
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on("error", (err) => {
        onError(
          new Error(`cannot reach the alps daemon on ${socketPath}: ${err.code || err.message}`),
        );
        resolve(undefined);
      });
      req.end(payload);
    });
  }

  /**
   * An invocation of `fn` starts in this process. Resolves to a handle for
   * end(), or undefined. Every begin() is paired with one end(), even when
   * it resolved to undefined.
   */
  async function begin(fn) {
    depth += 1;
    if (depth > 1) return open;
    if (typeof fn !== "string" || fn === "") {
      onError(new Error(`no function key (got ${JSON.stringify(fn)}): invocation not registered`));
      open = Promise.resolve(undefined);
      return open;
    }
    if (protocol === "line") {
      if (!FUNCTION_NAME.test(fn)) {
        // Checked here: a space or a newline in it would break the line (the daemon's rule, field 'function').
        onError(
          new Error(
            `start ${JSON.stringify(fn)}: 400 invalid_body: field 'function': 1 to 255 letters, digits and _ . : @ / - (not registered)`,
          ),
        );
        open = Promise.resolve(undefined);
        return open;
      }
      open = lineRequest(`S ${fn}\n`, `start ${fn}`).then((f) =>
        f === undefined ? undefined : { id: f[1], pid: Number(f[2]), fn },
      );
      return open;
    }
    open = post("/v1/invocations", { function: fn }).then((r) =>
      r && typeof r.id === "string" ? { id: r.id, pid: r.pid, fn } : undefined,
    );
    return open;
  }

  /**
   * The invocation `handle` (from begin, or its promise) is over. Resolves
   * to the daemon's record, or undefined. With a settled handle the request
   * is queued before end() returns, so it reaches the daemon before any
   * later begin().
   */
  function end(handle, details) {
    if (depth === 0) return Promise.resolve(undefined);
    depth -= 1;
    if (depth > 0) return Promise.resolve(undefined);
    open = undefined;
    const body =
      details && Number.isInteger(details.exitCode) ? { exit_code: details.exitCode } : {};
    const send = (h) => {
      if (h === undefined) return undefined;
      // The line's end carries no exit code (the daemon records none either way).
      if (protocol === "line")
        return lineRequest(`E ${h.id}\n`, `end ${h.id}`).then((f) =>
          f === undefined
            ? undefined
            : {
                id: f[1],
                pid: h.pid,
                fn: h.fn,
                cpuMs: Number(f[2]),
                cpuSource: f[3],
                ...(f[4] === undefined ? {} : { reaped: f[4] }),
              },
        );
      return post(`/v1/invocations/${encodeURIComponent(h.id)}/end`, body);
    };
    return handle !== undefined && typeof handle.then === "function"
      ? handle.then(send)
      : Promise.resolve(send(handle));
  }

  /** Runs `body()` as one invocation of `fn`; its result or error passes through untouched. */
  async function around(fn, body) {
    // Registered before the function's code starts, so it starts at its level.
    const handle = await begin(fn);
    try {
      return await body();
    } finally {
      // Not awaited: the platform's answer does not wait for alps. The
      // request is already queued on the one kept-alive connection, so a
      // next begin() reaches the daemon after this end.
      void end(handle);
    }
  }

  function close() {
    agent.destroy();
    const c = conn;
    conn = undefined;
    if (c !== undefined) c.destroy();
  }

  return { begin, end, around, close, socketPath, lineSocketPath, protocol };
}

// The one-line calls share one hook (socket from ALPS_SOCKET, else the default).
let shared;
function hook() {
  if (shared === undefined) shared = createHook();
  return shared;
}
function begin(fn) {
  return hook().begin(fn);
}
function end(handle, details) {
  return hook().end(handle, details);
}
function around(fn, body) {
  return hook().around(fn, body);
}

module.exports = { DEFAULT_SOCKET, createHook, lineSocketOf, openwhiskKey, begin, end, around };
