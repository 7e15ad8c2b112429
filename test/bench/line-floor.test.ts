import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { C_FLOOR, NODE_FLOOR } from "../../src/bench/daemon-cost.js";
import { LineClient } from "../../src/frontend/api/line-client.js";

// The daemon-cost benchmark's floor: two line servers that do no work. The
// benchmark's figures are only a floor if these answer the line protocol as
// the daemon does, to the same client, and never outlive the benchmark.
const servers: Array<[string, string, string[]]> = [
  ["node", process.execPath, [NODE_FLOOR]],
  ["C", C_FLOOR, []],
];

let dir: string | undefined;
let child: ChildProcess | undefined;

afterEach(() => {
  if (child?.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  child = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function started(command: string, args: string[]): Promise<{ socket: string }> {
  dir = mkdtempSync(join(tmpdir(), "alps-line-floor-"));
  const socket = join(dir, "floor.sock");
  child = spawn(command, [...args, socket], { stdio: ["pipe", "pipe", "inherit"] });
  const first = await new Promise<string>((resolve) =>
    createInterface({ input: child?.stdout as NodeJS.ReadableStream }).once("line", resolve),
  );
  expect(first).toBe("ready");
  return { socket };
}

function rawAnswer(socket: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socket, () => s.write(line));
    s.on("error", reject);
    createInterface({ input: s }).once("line", (answer) => {
      s.destroy();
      resolve(answer);
    });
  });
}

describe.each(servers)("the %s line server that does no work", (_name, command, args) => {
  it("is built by the set-up", () => {
    expect(existsSync(command === process.execPath ? NODE_FLOOR : C_FLOOR)).toBe(true);
  });

  it("answers starts and ends as the daemon's line protocol does", async () => {
    const { socket } = await started(command, args);
    const client = new LineClient(socket);
    try {
      expect(await client.start("thumbnail", 4242)).toEqual({ id: "1", pid: 4242 });
      expect(await client.start("resize", 77)).toEqual({ id: "2", pid: 77 });
      expect(await client.end("1")).toEqual({ id: "1", cpuMs: 0, cpuSource: "none" });
    } finally {
      client.close();
    }
    expect(await rawAnswer(socket, "X nonsense\n")).toMatch(/^400 bad_request /);
  });

  it("ends when its standard input closes, and takes its socket with it", async () => {
    const { socket } = await started(command, args);
    const exited = new Promise<number | null>((resolve) => child?.once("exit", resolve));
    child?.stdin?.end();
    expect(await exited).toBe(0);
    expect(existsSync(socket)).toBe(false);
  });
});
