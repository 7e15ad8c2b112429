/**
 * A line-protocol server that does no work, in Node: the floor under the
 * daemon's cost per invocation that comes from being a Node process woken
 * for each request. It answers every start ("S fn pid") with "201 <n>
 * <pid>" and every end ("E id") with "200 <id> 0 none", through Node's own
 * socket streams as the daemon's line server reads them; nothing else runs.
 * The daemon-cost benchmark drives it like the daemon, beside the same
 * server in C (native/probes/line-floor.c).
 *
 * Prints "ready" once it listens; ends when its standard input closes, so
 * it never outlives the benchmark.
 *
 *   node dist/bench/line-floor-server.js SOCKET_PATH
 */
import { rmSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

const NEWLINE = 0x0a;

/** The answer to one request line (without its LF). */
function floorAnswer(line: string, nextId: () => number): string {
  if (line.startsWith("S ")) {
    const pid = Number(line.slice(line.lastIndexOf(" ") + 1));
    return `201 ${nextId()} ${Number.isInteger(pid) ? pid : 0}\n`;
  }
  if (line.startsWith("E ")) return `200 ${line.slice(2).split(" ")[0]} 0 none\n`;
  return "400 bad_request not a start or an end\n";
}

function main(path: string): void {
  let id = 0;
  const nextId = (): number => ++id;
  rmSync(path, { force: true });
  const server = createServer((socket) => {
    let pending: Buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      const data = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let start = 0;
      for (let i = data.indexOf(NEWLINE); i >= 0; i = data.indexOf(NEWLINE, start)) {
        if (i > start) socket.write(floorAnswer(data.toString("latin1", start, i), nextId));
        start = i + 1;
      }
      pending = data.subarray(start);
    });
    socket.on("error", () => socket.destroy());
  });
  server.listen(path, () => process.stdout.write("ready\n"));
  process.stdin.on("data", () => {});
  process.stdin.on("end", () => {
    server.close();
    rmSync(path, { force: true });
    process.exit(0);
  });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const path = process.argv[2];
  if (path === undefined) {
    console.error("usage: line-floor-server SOCKET_PATH");
    process.exit(2);
  }
  main(path);
}
