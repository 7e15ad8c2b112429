// The output of scripts/eevdf-probe.sh, read once for the analysis scripts
// (eevdf-waits.mjs, run-waits.mjs): its boosted wake-ups (W) and switches
// to a function process (S), each with the EEVDF state of its entities,
// parsed on demand.
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";

const s64 = (text) => BigInt.asIntN(64, BigInt(text));
const us = (ns) => Number(ns) / 1e3;

/** One level of an event: the entity and the run queue it is on. */
function parseLevel(text, where) {
  const f = text.trim().split(/\s+/);
  if (f.length !== 14) throw new Error(`${where}: a level has ${f.length} fields, expected 14`);
  const [v, deadline, , slice, weight, , , , zero, sum, load, currV, currW, currIsSelf] = f;
  const vruntime = s64(v);
  const zeroV = s64(zero);
  const w = BigInt(weight) >> 10n;
  const cw = BigInt(currW) >> 10n;
  // V as the kernel computes it: the tree's weighted sum plus the running entity.
  let avg = BigInt(sum);
  let total = BigInt(load);
  if (cw > 0n) {
    avg += (s64(currV) - zeroV) * cw;
    total += cw;
  }
  const eligible = avg >= (vruntime - zeroV) * total;
  const V = total > 0n ? zeroV + avg / total : vruntime;
  return {
    weight: Number(w),
    eligible,
    lagUs: us(V - vruntime),
    vsliceUs: us(s64(deadline) - vruntime),
    sliceUs: us(BigInt(slice)),
    curr: currIsSelf === "1",
  };
}

/** The levels of an event (0 the task, 1 its sandbox group, 2 the replay's group), parsed once. */
export const levelsOf = (e) =>
  (e.levels ??= e.rest === "" ? [] : e.rest.split(" | ").map((l) => parseLevel(l, e.where)));

/** First index in `list` (sorted by ms) at or after `ms`. */
export function firstAtOrAfter(list, ms) {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].ms < ms) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * { wakes, switches (sorted by time), switchesOf: pid -> its switches }.
 * Event times are CLOCK_MONOTONIC ms.
 */
export async function readProbe(path) {
  const wakes = [];
  // Switches keep their text; levelsOf parses those a script asks about.
  const switches = [];
  let lineNo = 0;
  for await (const line of createInterface({ input: createReadStream(path) })) {
    lineNo++;
    if (line === "") continue;
    const where = `${path}:${lineNo}`;
    const bar = line.indexOf(" | ");
    const h = (bar < 0 ? line : line.slice(0, bar)).split(" ");
    if (h.length !== 6 || (h[0] !== "W" && h[0] !== "S"))
      throw new Error(`${where}: not a probe line (W|S ts pid cpu prio depth)`);
    const event = {
      ms: Number(BigInt(h[1])) / 1e6,
      pid: Number(h[2]),
      cpu: Number(h[3]),
      prio: Number(h[4]),
      where,
      rest: bar < 0 ? "" : line.slice(bar + 3),
    };
    (h[0] === "W" ? wakes : switches).push(event);
  }
  switches.sort((a, b) => a.ms - b.ms);
  const switchesOf = new Map();
  for (const s of switches) {
    let list = switchesOf.get(s.pid);
    if (list === undefined) switchesOf.set(s.pid, (list = []));
    list.push(s);
  }
  return { wakes, switches, switchesOf };
}
