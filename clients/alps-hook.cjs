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
 * The one promise that rejects is a concurrent start's `registered`, and
 * only for a caller that asks for it (an unread one is harmless):
 *
 *   const start = alps.begin("guest_hello", { registration: "concurrent" });
 *   ...                                         // the function runs at once, its start on the way
 *   await alps.end(start);                      // sent once the start's answer is in
 *
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

/** When an invocation may run: once the daemon answered its start (default), or at once. */
const REGISTRATIONS = ["await", "concurrent"];

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
  /** Reports `err` and returns it as a request's outcome. */
  function failed(err) {
    onError(err);
    return { error: err };
  }
  // One connection kept open: the daemon reads who we are once per connection.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  // Overlapping invocations in one process are one invocation to alps: a
  // task has one level at a time. `open` is that one ({ fn, outcome }, the
  // outcome resolving to { handle } or { error }), `depth` how many overlap.
  let open;
  let depth = 0;
  // The outcome behind each concurrent start handed out (end() reads it).
  const concurrentStarts = new WeakMap();
  // Set while an end waits for its start's answer (it needs the id): resolves
  // once that end's request is written. A later start is written after it,
  // so the daemon never sees a start before the previous invocation's end.
  let endWritten;

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
    if (pending.length === 0) return;
    const err = new Error(why);
    onError(err);
    for (const w of pending) {
      clearTimeout(w.timer);
      w.resolve({ error: err });
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
        if (status === 201 || status === 200) w.resolve({ fields });
        else
          w.resolve(
            failed(new Error(`${w.what}: ${status} ${fields[1]}: ${fields.slice(2).join(" ")}`)),
          );
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

  /**
   * One request line, written before this returns; resolves to { fields }
   * of the answer (201/200), or { error } (reported).
   */
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

  /** One HTTP request; resolves to { body } (2xx), or { error } (reported). */
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
            if (res.statusCode >= 200 && res.statusCode < 300) return resolve({ body: parsed });
            const why =
              parsed && parsed.error && parsed.error.message
                ? parsed.error.message
                : text.slice(0, 200);
            resolve(failed(new Error(`POST ${path}: HTTP ${res.statusCode}: ${why}`)));
          });
          res.on("error", (err) => resolve(failed(new Error(`POST ${path}: ${err.message}`))));
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on("error", (err) =>
        resolve(
          failed(
            new Error(`cannot reach the alps daemon on ${socketPath}: ${err.code || err.message}`),
          ),
        ),
      );
      req.end(payload);
    });
  }

  /** The start request of an invocation of `fn`; resolves to { handle } or { error } (reported). */
  function startOf(fn) {
    if (typeof fn !== "string" || fn === "")
      return Promise.resolve(
        failed(new Error(`no function key (got ${JSON.stringify(fn)}): invocation not registered`)),
      );
    // Checked here: a space or a newline in it would break the line (the daemon's rule, field 'function').
    if (protocol === "line" && !FUNCTION_NAME.test(fn))
      return Promise.resolve(
        failed(
          new Error(
            `start ${JSON.stringify(fn)}: 400 invalid_body: field 'function': 1 to 255 letters, digits and _ . : @ / - (not registered)`,
          ),
        ),
      );
    const send = () =>
      protocol === "line"
        ? lineRequest(`S ${fn}\n`, `start ${fn}`).then((o) =>
            o.error ? o : { handle: { id: o.fields[1], pid: Number(o.fields[2]), fn } },
          )
        : post("/v1/invocations", { function: fn }).then((o) => {
            if (o.error) return o;
            const r = o.body;
            return r && typeof r.id === "string"
              ? { handle: { id: r.id, pid: r.pid, fn } }
              : failed(new Error(`POST /v1/invocations: an answer without an id`));
          });
    // Usually written at once; after a previous end still waiting for its start's answer otherwise.
    return endWritten === undefined ? send() : endWritten.then(send);
  }

  /** The option's value, checked (a bad one is reported and the default used). */
  function registrationOf(options) {
    const r = options && options.registration;
    if (r === undefined || r === "await") return "await";
    if (r === "concurrent") return r;
    onError(
      new Error(
        `registration ${JSON.stringify(r)}: expected one of ${REGISTRATIONS.join(", ")}; using await`,
      ),
    );
    return "await";
  }

  function beginAs(fn, registration) {
    depth += 1;
    if (depth === 1) open = { fn, outcome: startOf(fn) };
    const outcome = open.outcome;
    if (registration === "await") return outcome.then((o) => o.handle);
    const registered = outcome.then((o) => {
      if (o.error) throw o.error;
      return o.handle;
    });
    // Observed here, so a caller that never reads it cannot end the process
    // with an unhandled rejection; the caller's own then/catch still see it.
    registered.catch(() => {});
    const start = { fn: open.fn, registration, registered };
    concurrentStarts.set(start, outcome);
    return start;
  }

  /**
   * An invocation of `fn` starts in this process. Every begin() is paired
   * with one end(), whatever came of it.
   *   registration "await" (default): resolves to a handle for end() once
   *   the daemon answered, or to undefined (reported): the invocation's
   *   first instruction runs at its level.
   *   registration "concurrent": returns at once, with the start request
   *   written; the invocation runs while it is on its way (at the default
   *   level until it lands). Returns { fn, registration, registered }:
   *   `registered` resolves to the handle, or rejects with the reason
   *   (also reported). Pass the object itself to end().
   */
  function begin(fn, options) {
    return beginAs(fn, registrationOf(options));
  }

  /** The end request for a settled handle (undefined: nothing to end). */
  function endRequest(h, details) {
    if (h === undefined) return undefined;
    // The line's end carries no exit code (the daemon records none either way).
    if (protocol === "line")
      return lineRequest(`E ${h.id}\n`, `end ${h.id}`).then((o) =>
        o.error
          ? undefined
          : {
              id: o.fields[1],
              pid: h.pid,
              fn: h.fn,
              cpuMs: Number(o.fields[2]),
              cpuSource: o.fields[3],
              ...(o.fields[4] === undefined ? {} : { reaped: o.fields[4] }),
            },
      );
    const body =
      details && Number.isInteger(details.exitCode) ? { exit_code: details.exitCode } : {};
    return post(`/v1/invocations/${encodeURIComponent(h.id)}/end`, body).then((o) => o.body);
  }

  /** Sends an end once `settled` (its start) resolved; later starts are written after it. */
  function endAfter(settled, send) {
    let written;
    const gate = new Promise((resolve) => {
      written = resolve;
    });
    endWritten = gate;
    const release = () => {
      written();
      if (endWritten === gate) endWritten = undefined;
    };
    return settled.then(
      (value) => {
        try {
          return send(value);
        } finally {
          release();
        }
      },
      () => {
        // A caller's own promise that rejected: nothing to end, and later starts go on.
        release();
        return undefined;
      },
    );
  }

  /**
   * The invocation `handle` is over: a handle from begin(), its promise, or
   * a concurrent start. Resolves to the daemon's record, or undefined. With
   * a settled handle the request is written before end() returns; else once
   * the start's answer is in (the end needs its id), and a later begin() is
   * written after it either way. A concurrent start that failed is reported
   * again here: its end is not sent.
   */
  function end(handle, details) {
    if (depth === 0) return Promise.resolve(undefined);
    depth -= 1;
    if (depth > 0) return Promise.resolve(undefined);
    const started = open;
    open = undefined;
    const send = (h) => endRequest(h, details);
    const outcome =
      handle !== undefined && typeof handle === "object" ? concurrentStarts.get(handle) : undefined;
    if (outcome !== undefined)
      return endAfter(outcome, (o) => {
        if (!o.error) return send(o.handle);
        onError(
          new Error(
            `end ${started ? started.fn : handle.fn}: not sent, its concurrent start failed: ${o.error.message}`,
          ),
        );
        return undefined;
      });
    if (handle !== undefined && typeof handle.then === "function") return endAfter(handle, send);
    return Promise.resolve(send(handle));
  }

  /**
   * Runs `body()` as one invocation of `fn`; its result or error passes
   * through untouched. `options.registration` as for begin().
   */
  async function around(fn, body, options) {
    const registration = registrationOf(options);
    if (registration === "concurrent") {
      const start = beginAs(fn, registration);
      try {
        return await body();
      } finally {
        void end(start);
      }
    }
    // Registered before the function's code starts, so it starts at its level.
    const handle = await beginAs(fn, registration);
    try {
      return await body();
    } finally {
      // Not awaited: the platform's answer does not wait for alps. The
      // request is already written on the one kept-alive connection, so a
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
function begin(fn, options) {
  return hook().begin(fn, options);
}
function end(handle, details) {
  return hook().end(handle, details);
}
function around(fn, body, options) {
  return hook().around(fn, body, options);
}

module.exports = {
  DEFAULT_SOCKET,
  REGISTRATIONS,
  createHook,
  lineSocketOf,
  openwhiskKey,
  begin,
  end,
  around,
};
