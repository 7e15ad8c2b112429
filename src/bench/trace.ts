/**
 * Trace benchmarks (`npm run bench -- trace`): how fast the native CSV parses
 * (the simulator's whole CLI run on a 100k-line trace must stay ≤ 0.25 s, so
 * parsing has to be well under 100 ms, cold), how little memory streaming a
 * 1M-line trace needs, and how fast the converters and the synthesizer run.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { convertTrace } from "../trace/convert.js";
import { readTraceFile, streamTrace } from "../trace/native.js";
import { writeTraceFile } from "../trace/native-writer.js";
import { Rng } from "../trace/random.js";
import { synthesize } from "../trace/synth.js";

function ms(t0: number): number {
  return performance.now() - t0;
}

/** A native trace of `n` lines with realistic values (µs-rounded, like converter output). */
function writeNative(path: string, n: number): void {
  const rng = new Rng(1);
  let t = 0;
  function* rows() {
    for (let i = 0; i < n; i++) {
      t += rng.exponential(3);
      yield {
        arrivalMs: Math.round(t * 1000) / 1000,
        fn: `fn-${rng.int(300)}`,
        durationMs: Math.round(rng.exponential(50) * 1000 + 1) / 1000,
      };
    }
  }
  writeTraceFile(path, rows());
}

async function benchNative(dir: string): Promise<void> {
  const path = join(dir, "100k.csv");
  writeNative(path, 100_000);
  // Cold: a fresh process, as a CLI run sees it (module load excluded, parsing included).
  const native = fileURLToPath(new URL("../trace/native.js", import.meta.url));
  const script = `const { readTraceFile } = await import(${JSON.stringify(native)}); const t0 = performance.now(); const n = readTraceFile(${JSON.stringify(path)}).length; console.log(n, (performance.now() - t0).toFixed(1));`;
  const cold: number[] = [];
  for (let k = 0; k < 3; k++) {
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
    });
    cold.push(Number(r.stdout.trim().split(" ")[1]));
  }
  const warm: number[] = [];
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now();
    readTraceFile(path);
    warm.push(ms(t0));
  }
  console.log(
    `native read, 100k lines: cold ${Math.min(...cold).toFixed(1)} ms (best of 3), warm ${Math.min(...warm).toFixed(1)} ms  (target: cold well under 100 ms)`,
  );

  const big = join(dir, "1m.csv");
  writeNative(big, 1_000_000);
  globalThis.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  let count = 0;
  const t0 = performance.now();
  for await (const _ of streamTrace(big)) {
    if (++count % 50_000 === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  console.log(
    `native stream, 1M lines: ${ms(t0).toFixed(0)} ms, ${(count / (ms(t0) / 1000) / 1e6).toFixed(2)} M lines/s, RSS growth ${((peak - before) / 2 ** 20).toFixed(0)} MiB  (target: far below 1 GB)`,
  );
}

function benchAzure2019(dir: string): void {
  const functions = 2000;
  const minutes = Array.from({ length: 1440 }, (_, i) => i + 1).join(",");
  const rng = new Rng(2);
  const inv = [`HashOwner,HashApp,HashFunction,Trigger,${minutes}`];
  const dur = [
    "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,percentile_Average_99,percentile_Average_100",
  ];
  let total = 0;
  for (let f = 0; f < functions; f++) {
    const rate = rng.int(4) === 0 ? 2 : 0.02;
    const cells = Array.from({ length: 1440 }, () => {
      const c = rng.next() < rate / (1 + rate) ? 1 + rng.int(3) : 0;
      total += c;
      return c;
    });
    inv.push(`o${f},a${f},f${f},http,${cells.join(",")}`);
    dur.push(`o${f},a${f},f${f},50,10,1,900,1,2,10,40,90,400,900`);
  }
  writeFileSync(join(dir, "invocations_per_function_md.anon.d01.csv"), `${inv.join("\n")}\n`);
  writeFileSync(join(dir, "function_durations_percentiles.anon.d01.csv"), `${dur.join("\n")}\n`);
  const t0 = performance.now();
  const r = convertTrace({ from: "azure2019", input: dir, seed: 1 });
  const t = ms(t0);
  console.log(
    `azure2019 convert, ${functions} functions × 1440 minutes (${total} invocations): ${t.toFixed(0)} ms, ${(functions / (t / 1000)).toFixed(0)} rows/s, ${(r.invocations.length / (t / 1000) / 1e6).toFixed(2)} M invocations/s`,
  );
}

function benchSynth(): void {
  const t0 = performance.now();
  synthesize({ profile: "azure", invocations: 100_000, cores: 16, load: 0.8, seed: 1 });
  console.log(`synth azure, 100k invocations: ${ms(t0).toFixed(0)} ms`);
}

export async function benchTrace(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "alps-bench-trace-"));
  try {
    await benchNative(dir);
    benchAzure2019(dir);
    benchSynth();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
