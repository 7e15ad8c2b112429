/**
 * Host CPU utilization over the learning period, from /proc/stat: the
 * learner's overload rule (docs/architecture.md) shrinks slices when it exceeds θ %.
 */
import { readFileSync } from "node:fs";

export interface CpuTimes {
  /** Jiffies spent doing anything but idle/iowait, all CPUs. */
  busy: number;
  total: number;
}

/** Parse the aggregate `cpu` line of /proc/stat. */
export function parseProcStat(text: string): CpuTimes {
  const line = text.split("\n").find((l) => l.startsWith("cpu "));
  if (line === undefined) throw new Error("/proc/stat: no aggregate 'cpu' line");
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  if (fields.length < 4 || fields.some((f) => !Number.isFinite(f)))
    throw new Error(`/proc/stat: bad cpu line '${line}'`);
  // user nice system idle iowait irq softirq steal (guest* are already inside user/nice).
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] =
    fields;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** Busy share between two readings, in percent (0 when no time passed). */
export function utilizationBetween(before: CpuTimes, after: CpuTimes): number {
  const total = after.total - before.total;
  if (total <= 0) return 0;
  return Math.min(100, Math.max(0, (100 * (after.busy - before.busy)) / total));
}

/** Reads /proc/stat and reports utilization since the previous call. */
export class UtilizationMeter {
  #last: CpuTimes;
  constructor(private readonly read: () => string = () => readFileSync("/proc/stat", "utf8")) {
    this.#last = parseProcStat(this.read());
  }

  /** Utilization (%) since the previous `sample()` (or construction). */
  sample(): number {
    const now = parseProcStat(this.read());
    const pct = utilizationBetween(this.#last, now);
    this.#last = now;
    return pct;
  }
}
