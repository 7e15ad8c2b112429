/**
 * A TCP port for a server a test starts as a separate process (the daemon's
 * metrics listener, Prometheus), which must be told its port up front.
 *
 * Not one from listen(0): that port is in the kernel's ephemeral range, and
 * once the probe closes it the kernel may hand it to any outgoing connection
 * on the host (another build, a package download) before the server binds
 * it, which then fails with EADDRINUSE. A port below that range is only
 * ever taken by an explicit bind; it is picked at random and checked free.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const LOWEST = 10_000;

function ephemeralLow(): number {
  try {
    const lo = Number(
      readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").split(/\s+/)[0],
    );
    return Number.isInteger(lo) && lo > LOWEST + 1000 ? lo : 32_768;
  } catch {
    return 32_768;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  const high = ephemeralLow();
  for (let i = 0; i < 100; i++) {
    const port = LOWEST + Math.floor(Math.random() * (high - LOWEST));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${LOWEST}..${high - 1} after 100 tries`);
}
