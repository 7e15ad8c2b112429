/**
 * Helpers of the guest tests. Under software emulation a burner's start-up
 * (the gate shell's exec, the dynamic loader) costs tens of ms of CPU,
 * more than a short function's whole slice, so every invocation here is a
 * warm one: it sleeps first (which ends the start-up burst in the kernel:
 * BLOCKED resets it) and then burns, and only that burst is measured.
 */
import { execFileSync } from "node:child_process";
import { type BurnResult, burnerPath, type Sample } from "../kernel/bpf-kit.js";

/** How long a gate shell may take to start: emulation on a loaded host is slow. */
export const GATE_MS = 30_000;

/** Sleep before the measured burn: ends the exec burst. */
export const WARM_SLEEP_MS = 50;

/** A burner plan: sleep, then burn `ms` of CPU (step 2). */
export function warmPlan(burnMs: number): string {
  return `s${WARM_SLEEP_MS},b${burnMs}`;
}

/** The main thread's samples of the burn step of a warmPlan. */
export function burnSamples(result: BurnResult): Sample[] {
  return result.samples.filter((s) => s.who === "main" && s.step === 2);
}

/** CPU time and turnaround of the burn step, ms, from the burner's own samples. */
export function burnTimes(result: BurnResult): { cpuMs: number; wallMs: number; share: number } {
  const samples = burnSamples(result);
  const first = samples[0];
  const last = samples.at(-1);
  if (first === undefined || last === undefined)
    throw new Error(`no samples of the burn step in:\n${result.out}`);
  const cpuMs = (last.cpuUs - first.cpuUs) / 1000;
  const wallMs = (last.monoUs - first.monoUs) / 1000;
  return { cpuMs, wallMs, share: wallMs > 0 ? cpuMs / wallMs : 0 };
}

/**
 * Runs the gate shell and the burner once, untimed. The first exec of each
 * in a fresh guest reads them over 9p, which on a loaded host can outlast
 * the gate's start-up bound (spawnGatedBurner); later execs hit the cache.
 */
export function warmUp(): void {
  execFileSync("sh", ["-c", "true"]);
  execFileSync(burnerPath(), ["s1", "10000"], { stdio: "ignore" });
}
