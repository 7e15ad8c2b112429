/**
 * The hook client's concurrent start (clients/alps-hook.cjs, `registration:
 * "concurrent"`), its wire order against a scripted line socket: this server
 * answers a start only when the test says so, which the real daemon cannot
 * be made to do. What the daemon makes of the requests is tested against it
 * in platforms-hook-client.test.ts and test/kernel/platform-hook.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { type Server, type Socket, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type Hook, createHook } from "../../../clients/alps-hook.cjs";

const dir = mkdtempSync(join(tmpdir(), "alps-hook-c-"));
const lineSocket = join(dir, "alps-line.sock");

/** A line socket that records every request line and answers only on demand. */
class ScriptedLineSocket {
  readonly lines: string[] = [];
  #server: Server = createServer((c) => this.#accept(c));
  #conn: Socket | undefined;
  #arrived: (() => void)[] = [];

  listen(path: string): Promise<void> {
    return new Promise((resolve) => this.#server.listen(path, resolve));
  }

  #accept(c: Socket): void {
    this.#conn = c;
    let partial = "";
    c.setEncoding("utf8");
    c.on("data", (chunk: string) => {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop() ?? "";
      this.lines.push(...parts);
      for (const wake of this.#arrived.splice(0)) wake();
    });
  }

  /** Resolves once `n` request lines have arrived (bounded: the test's timeout). */
  async received(n: number): Promise<void> {
    while (this.lines.length < n) await new Promise<void>((r) => this.#arrived.push(r));
  }

  answer(line: string): void {
    this.#conn?.write(`${line}\n`);
  }

  close(): Promise<void> {
    this.#conn?.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** Lets every pending I/O callback and timer of this turn run. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

let server: ScriptedLineSocket;
let hook: Hook;
let errors: string[];

afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  hook.close();
  await server.close();
});

async function setUp(): Promise<void> {
  server = new ScriptedLineSocket();
  await server.listen(lineSocket);
  errors = [];
  hook = createHook({
    socket: join(dir, "alps.sock"),
    lineSocket,
    timeoutMs: 5000,
    onError: (e) => errors.push(e.message),
  });
}

describe("hook client: concurrent start", () => {
  it("returns at once with the start written, and ends with the id of the start's answer", async () => {
    await setUp();
    const start = hook.begin("guest_hello", { registration: "concurrent" });
    expect(start).toMatchObject({ fn: "guest_hello", registration: "concurrent" });
    await server.received(1);
    expect(server.lines).toEqual(["S guest_hello"]);
    // The invocation is over before the daemon answered its start.
    const ended = hook.end(start);
    await settle();
    expect(server.lines).toEqual(["S guest_hello"]); // no id yet: the end waits
    server.answer("201 17 4242");
    await expect(start.registered).resolves.toEqual({ id: "17", pid: 4242, fn: "guest_hello" });
    await server.received(2);
    expect(server.lines).toEqual(["S guest_hello", "E 17"]);
    server.answer("200 17 3.5 bpf");
    await expect(ended).resolves.toEqual({
      id: "17",
      pid: 4242,
      fn: "guest_hello",
      cpuMs: 3.5,
      cpuSource: "bpf",
    });
    expect(errors).toEqual([]);
  });

  it("writes a next start after the end that waited for its start's answer", async () => {
    await setUp();
    const first = hook.begin("guest_a", { registration: "concurrent" });
    void hook.end(first);
    // The next invocation of this process begins before the first start was answered.
    const second = hook.begin("guest_b", { registration: "concurrent" });
    const third = hook.around("guest_c", () => "ran", { registration: "concurrent" });
    await server.received(1);
    await settle();
    expect(server.lines).toEqual(["S guest_a"]);
    server.answer("201 1 4242");
    await server.received(3);
    await settle();
    expect(server.lines).toEqual(["S guest_a", "E 1", "S guest_b"]);
    server.answer("200 1 1.0 bpf");
    server.answer("201 2 4242");
    await expect(second.registered).resolves.toMatchObject({ id: "2", fn: "guest_b" });
    // guest_c overlaps guest_b in this process: one invocation to alps, its start shared.
    await expect(third).resolves.toBe("ran");
    const ended = hook.end(second);
    await server.received(4);
    expect(server.lines).toEqual(["S guest_a", "E 1", "S guest_b", "E 2"]);
    server.answer("200 2 1.0 bpf");
    await expect(ended).resolves.toMatchObject({ id: "2" });
    expect(errors).toEqual([]);
  });

  it("surfaces a refused start: registered rejects, onError has it, and the end reports it and sends nothing", async () => {
    await setUp();
    const start = hook.begin("guest_full", { registration: "concurrent" });
    const ended = hook.end(start);
    await server.received(1);
    server.answer("503 open_limit 65536 invocations are open");
    await expect(start.registered).rejects.toThrow(
      "start guest_full: 503 open_limit: 65536 invocations are open",
    );
    await expect(ended).resolves.toBeUndefined();
    await settle();
    expect(server.lines).toEqual(["S guest_full"]);
    expect(errors).toEqual([
      "start guest_full: 503 open_limit: 65536 invocations are open",
      "end guest_full: not sent, its concurrent start failed: start guest_full: 503 open_limit: 65536 invocations are open",
    ]);
  });

  it("await stays the default: begin resolves only once the start is answered", async () => {
    await setUp();
    let handle: unknown = "pending";
    const begun = hook.begin("guest_hello").then((h) => {
      handle = h;
      return h;
    });
    await server.received(1);
    await settle();
    expect(handle).toBe("pending");
    server.answer("201 5 4242");
    await expect(begun).resolves.toEqual({ id: "5", pid: 4242, fn: "guest_hello" });
    const ended = hook.end(await begun);
    await server.received(2);
    expect(server.lines).toEqual(["S guest_hello", "E 5"]);
    server.answer("200 5 0.5 bpf");
    await ended;
  });

  it("reports an unknown registration and awaits", async () => {
    await setUp();
    const begun = hook.begin("guest_hello", {
      registration: "later" as unknown as "await",
    });
    await server.received(1);
    server.answer("201 6 4242");
    await expect(begun).resolves.toMatchObject({ id: "6" });
    expect(errors).toEqual([
      `registration "later": expected one of await, concurrent; using await`,
    ]);
    const ended = hook.end(await begun);
    await server.received(2);
    server.answer("200 6 0.5 bpf");
    await ended;
  });

  it("fails open with no daemon: the body runs, registered rejects with the reason", async () => {
    await setUp();
    const down = createHook({
      socket: join(dir, "none.sock"),
      onError: (e) => errors.push(e.message),
    });
    try {
      const start = down.begin("guest_hello", { registration: "concurrent" });
      await expect(start.registered).rejects.toThrow(
        /cannot reach the alps daemon on .*none-line\.sock/,
      );
      await expect(down.end(start)).resolves.toBeUndefined();
      await expect(
        down.around("guest_hello", () => 42, { registration: "concurrent" }),
      ).resolves.toBe(42);
      const noKey = down.begin(undefined, { registration: "concurrent" });
      await expect(noKey.registered).rejects.toThrow("no function key");
      await down.end(noKey);
    } finally {
      down.close();
    }
    expect(errors.some((e) => e.startsWith("end guest_hello: not sent"))).toBe(true);
    expect(errors.some((e) => e.startsWith("end undefined: not sent"))).toBe(true);
  });
});
