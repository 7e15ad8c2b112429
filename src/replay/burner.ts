/**
 * The C function body (workloads/functions/burn-fork.c, built by the set-up
 * into native/build/burn-fork): the fork workers' zygote and the
 * daemon-cost benchmark's warm workers. Its lines are parsed here, once.
 */
import { accessSync, constants } from "node:fs";
import { fileURLToPath } from "node:url";

/** From src/replay (tests) and from dist/replay alike: repo/native/build/burn-fork. */
export const BURNER = fileURLToPath(new URL("../../native/build/burn-fork", import.meta.url));

/** Why the burner cannot run here, or undefined when it can. */
export function burnerUnavailable(path = BURNER): string | undefined {
  try {
    accessSync(path, constants.X_OK);
    return undefined;
  } catch {
    return `${path} is not built (npm run build compiles workloads/functions/burn-fork.c; it needs a C compiler)`;
  }
}

/** One invocation as the burner ran it (its D line). Times on CLOCK_MONOTONIC, ns. */
export interface BurnerDone {
  id: number;
  pid: number;
  startNs: bigint;
  endNs: bigint;
  cpuMs: number;
  /** Nice level and scheduling policy of the thread at its first instruction. */
  nice: number;
  policy: number;
}

export type BurnerLine =
  | { type: "ready"; id: number; pid: number }
  | ({ type: "done" } & BurnerDone)
  | { type: "error"; id: number; message: string };

/** Parses one line; throws naming the line when it is none of R, D, E. */
export function parseBurnerLine(line: string): BurnerLine {
  const f = line.split(" ");
  const int = (i: number): number => {
    const n = Number(f[i]);
    if (!Number.isInteger(n))
      throw new Error(`burn-fork: field ${i} of '${line}' is not an integer`);
    return n;
  };
  switch (f[0]) {
    case "R":
      if (f.length === 3) return { type: "ready", id: int(1), pid: int(2) };
      break;
    case "D":
      if (f.length === 8)
        return {
          type: "done",
          id: int(1),
          pid: int(2),
          startNs: BigInt(f[3] as string),
          endNs: BigInt(f[4] as string),
          cpuMs: int(5) / 1e6,
          nice: int(6),
          policy: int(7),
        };
      break;
    case "E":
      return { type: "error", id: int(1), message: f.slice(2).join(" ") };
  }
  throw new Error(`burn-fork: unexpected line '${line.slice(0, 200)}'`);
}
