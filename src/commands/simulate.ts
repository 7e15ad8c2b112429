/**
 * `alps simulate`: run one policy of the simulator over a native trace and
 * print the summary (docs/formats.md). Only flag declarations load at start-up;
 * the trace reader, the simulator and the policy-file parser are imported
 * when the command runs, so `alps` starts fast for every other command.
 */
import type { Command } from "commander";
import { InputError, UsageError } from "../errors.js";

interface SimulateFlags {
  trace: string;
  policy: string;
  cores: string;
  quantumMs?: string;
  policyFile?: string;
  strategy?: string;
  baseSliceMs?: string;
  switchCostMs?: string;
  sfsInitialSliceMs?: string;
  sfsFloorMs?: string;
  sfsRecomputeEvery?: string;
  sandboxes?: string;
  json?: boolean;
}

/** A flag's number; `integer` demands a whole number, `min` a lower bound. */
function flagNumber(flag: string, text: string, min: number, integer = false): number {
  const value = Number(text);
  if (
    text.trim() === "" ||
    !Number.isFinite(value) ||
    value < min ||
    (integer && !Number.isInteger(value))
  ) {
    throw new UsageError(
      `--${flag}: expected ${integer ? "an integer" : "a number"} >= ${min}, got '${text}'`,
    );
  }
  return value;
}

function optionalNumber(
  flag: string,
  text: string | undefined,
  min: number,
  integer = false,
): number | undefined {
  return text === undefined ? undefined : flagNumber(flag, text, min, integer);
}

/** Reads the trace; a file that cannot be opened is bad input naming the file, not a crash. */
function readTrace<T>(read: (path: string) => T, file: string): T {
  try {
    return read(file);
  } catch (error) {
    if (error instanceof InputError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === "string")
      throw new InputError(file, undefined, undefined, `cannot read trace: ${code}`);
    throw error;
  }
}

export function registerSimulate(program: Command): void {
  program
    .command("simulate")
    .description("simulate one scheduling policy over a native trace and summarize turnaround")
    .requiredOption(
      "--trace <file>",
      "native trace CSV (arrival_ms,function,duration_ms[,cpu_ms][,app])",
    )
    .requiredOption("--policy <name>", "ps | cfs | fifo | srpt | sfs | alps | alps-ideal")
    .option("--cores <n>", "number of identical cores", "1")
    .option("--quantum-ms <ms>", "srpt: minimum run before preemption (default 0)")
    .option(
      "--policy-file <file>",
      "alps, alps-ideal: policy JSON (docs/formats.md), required for them",
    )
    .option("--strategy <s>", "alps: dynamic | static | rt (default dynamic)")
    .option("--base-slice-ms <ms>", "cfs/sfs/alps rt: fair-class base slice (default 3)")
    .option("--switch-cost-ms <ms>", "cfs/sfs/alps rt: cost of each context switch (default 0)")
    .option(
      "--sfs-initial-slice-ms <ms>",
      "sfs: FILTER slice before the first recompute (default 20)",
    )
    .option("--sfs-floor-ms <ms>", "sfs: smallest FILTER slice (default 6)")
    .option("--sfs-recompute-every <n>", "sfs: recompute the slice every n arrivals (default 100)")
    .option(
      "--sandboxes <layout>",
      "ps, alps: invocation (each its own sandbox; default) | function (one sandbox per function, one weight shared by its concurrent invocations)",
    )
    .option("--json", "print exactly one summary object as JSON")
    .action(async (flags: SimulateFlags) => {
      await runSimulateCommand(flags);
    });
}

async function runSimulateCommand(flags: SimulateFlags): Promise<void> {
  // Loaded together: module loading is a fair share of a short run.
  const [{ SIM_POLICIES, SANDBOX_LAYOUTS, simulate }, { STRATEGIES }, { readTraceColumns }] =
    await Promise.all([
      import("../sim/index.js"),
      import("../contracts/levels.js"),
      import("../trace/native.js"),
    ]);
  const policy = SIM_POLICIES.find((p) => p === flags.policy);
  if (policy === undefined) {
    throw new UsageError(
      `--policy: expected one of ${SIM_POLICIES.join(", ")}, got '${flags.policy}'`,
    );
  }
  const strategy =
    flags.strategy === undefined ? undefined : STRATEGIES.find((s) => s === flags.strategy);
  if (flags.strategy !== undefined && strategy === undefined) {
    throw new UsageError(
      `--strategy: expected one of ${STRATEGIES.join(", ")}, got '${flags.strategy}'`,
    );
  }
  const sandboxes =
    flags.sandboxes === undefined ? undefined : SANDBOX_LAYOUTS.find((l) => l === flags.sandboxes);
  if (flags.sandboxes !== undefined && sandboxes === undefined)
    throw new UsageError(
      `--sandboxes: expected one of ${SANDBOX_LAYOUTS.join(", ")}, got '${flags.sandboxes}'`,
    );
  if (sandboxes === "function" && policy !== "ps" && policy !== "alps")
    throw new UsageError("--sandboxes function is modelled for --policy ps and alps only");
  if (strategy !== undefined && policy !== "alps")
    throw new UsageError("--strategy applies to --policy alps only");
  if (flags.quantumMs !== undefined && policy !== "srpt") {
    throw new UsageError("--quantum-ms applies to --policy srpt only");
  }
  const needsPolicy = policy === "alps" || policy === "alps-ideal";
  if (needsPolicy && flags.policyFile === undefined) {
    throw new UsageError(`--policy ${policy} needs --policy-file (a policy JSON)`);
  }
  if (!needsPolicy && flags.policyFile !== undefined) {
    throw new UsageError("--policy-file applies to --policy alps and alps-ideal only");
  }

  const cores = flagNumber("cores", flags.cores, 1, true);
  const quantumMs = optionalNumber("quantum-ms", flags.quantumMs, 0);
  const baseSliceMs = optionalNumber("base-slice-ms", flags.baseSliceMs, Number.MIN_VALUE);
  const switchCostMs = optionalNumber("switch-cost-ms", flags.switchCostMs, 0);
  const initialSliceMs = optionalNumber(
    "sfs-initial-slice-ms",
    flags.sfsInitialSliceMs,
    Number.MIN_VALUE,
  );
  const floorMs = optionalNumber("sfs-floor-ms", flags.sfsFloorMs, 0);
  const recomputeEvery = optionalNumber("sfs-recompute-every", flags.sfsRecomputeEvery, 1, true);

  const alpsPolicy =
    flags.policyFile === undefined
      ? undefined
      : (await import("../frontend/policy-file.js")).readPolicyFile(flags.policyFile);
  // Columns, not an object per invocation: the simulator reads them as they are.
  const trace = readTrace(readTraceColumns, flags.trace);

  const result = simulate(trace, {
    policy,
    cores,
    quantumMs,
    cfs: { baseSliceMs, switchCostMs },
    sfs: { initialSliceMs, floorMs, recomputeEvery },
    keepOutcomes: false,
    ...(sandboxes === undefined ? {} : { sandboxes }),
    ...(alpsPolicy === undefined ? {} : { alps: { policy: alpsPolicy, strategy } }),
  });
  const s = result.summary;
  if (flags.json === true) {
    process.stdout.write(`${JSON.stringify(s)}\n`);
    return;
  }
  const f = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(3));
  const label = policy === "alps" ? `alps (${strategy ?? "dynamic"})` : policy;
  const rows: [string, string][] = [
    ["policy", label],
    ["cores", String(s.cores)],
    ["invocations", String(s.invocations)],
    [
      "turnaround ms",
      `mean ${f(s.turnaround_ms.mean)}  p50 ${f(s.turnaround_ms.p50)}  p90 ${f(s.turnaround_ms.p90)}  p99 ${f(s.turnaround_ms.p99)}  max ${f(s.turnaround_ms.max)}`,
    ],
    ["slowdown", `mean ${f(s.slowdown.mean)}  p50 ${f(s.slowdown.p50)}  p99 ${f(s.slowdown.p99)}`],
    ["wait ms", `mean ${f(s.wait_ms.mean)}  p99 ${f(s.wait_ms.p99)}`],
    ["context switches", String(s.context_switches)],
    ["makespan ms", f(s.makespan_ms)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n")}\n`);
}
