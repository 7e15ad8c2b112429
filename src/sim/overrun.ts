/**
 * Simulator only: what strategy `dynamic` could take as the predicted
 * remaining time of a burst that has run past its prediction (an overrun).
 * The kernel (level_for in bpf/alps.bpf.c) and dynamicLevel in
 * src/contracts/levels.ts implement `none` only. The other rules were
 * measured against it and did not help (docs/results.md, "Overrun rules in
 * the level rule (simulator only)"); they stay here so that comparison can be
 * re-run (scripts/overrun-rules.mjs).
 *
 * - `none`: max(predicted − used, 0): a burst past its prediction is taken
 *   as nearly done (past its slice it sits at BASE_NICE to the end).
 * - `scale` (k): max(predicted − used, k × (used − predicted)): the longer it
 *   overruns, the longer it is taken to have left; `unseenOnly` limits this
 *   to functions without an entry of their own (on the policy's default).
 * - `las-unseen`: for a function without an entry of its own,
 *   max(predicted − used, used) (least attained service); others `none`.
 * - `regrow` (m): each time a burst reaches its predicted run, the
 *   prediction is taken m times larger (predicted × m^i, the smallest above
 *   used): remaining time falls, jumps up at each overrun, and falls again.
 */
export type OverrunRule =
  | { kind: "none" }
  | { kind: "regrow"; m: number; unseenOnly: boolean }
  | { kind: "scale"; k: number; unseenOnly: boolean }
  | { kind: "las-unseen" };

export const OVERRUN_NONE: OverrunRule = { kind: "none" };

/** How the simulator applies an overrun rule. */
export interface OverrunOptions {
  rule: OverrunRule;
  /**
   * Absent: the yield bound counts from the start in the entry's predicted
   * runs, as the daemon's. Present (B): an invocation the rule applies to
   * whose bound passes while it overruns keeps yielding until B × (used +
   * remaining under the rule) after its start, re-checked then (0: never
   * lifted). Without it an unseen function's bound passes 6 × 50 ms after its
   * start, before most overruns matter.
   */
  liftFromSize?: number;
}

/**
 * The rising line whose maximum with predicted − used is the remaining time
 * under `rule`: slope × (used − fromMs); slope 0 when the rule does not apply.
 */
export function overrunLine(
  rule: OverrunRule,
  predictedMs: number,
  unseen: boolean,
): { slope: number; fromMs: number } {
  switch (rule.kind) {
    case "none":
      return { slope: 0, fromMs: 0 };
    case "scale":
      return rule.unseenOnly && !unseen
        ? { slope: 0, fromMs: 0 }
        : { slope: rule.k, fromMs: predictedMs };
    case "las-unseen":
      return unseen ? { slope: 1, fromMs: 0 } : { slope: 0, fromMs: 0 };
    case "regrow":
      return { slope: 0, fromMs: 0 };
  }
}

/**
 * The prediction `regrow` holds at `usedMs`: predictedMs × m^i for the
 * smallest i ≥ 0 with it above usedMs (predictedMs when the rule does not
 * apply, or predictedMs is 0).
 */
export function regrownMs(
  rule: OverrunRule,
  predictedMs: number,
  usedMs: number,
  unseen: boolean,
): number {
  if (rule.kind !== "regrow" || (rule.unseenOnly && !unseen) || !(predictedMs > 0))
    return predictedMs;
  let g = predictedMs;
  while (g <= usedMs) g *= rule.m;
  return g;
}

/** Predicted remaining time of a burst that has used `usedMs` of a predicted `predictedMs`. */
export function overrunRemainingMs(
  rule: OverrunRule,
  predictedMs: number,
  usedMs: number,
  unseen: boolean,
): number {
  const { slope, fromMs } = overrunLine(rule, predictedMs, unseen);
  const g = regrownMs(rule, predictedMs, usedMs, unseen);
  return Math.max(g - usedMs, slope * (usedMs - fromMs), 0);
}

/** `none`, `las-unseen`, `scale:K`, `scale-unseen:K` (K > 0), `regrow:M` or `regrow-unseen:M` (M > 1). */
export function parseOverrunRule(text: string): OverrunRule {
  if (text === "none") return OVERRUN_NONE;
  if (text === "las-unseen") return { kind: "las-unseen" };
  const r = /^regrow(-unseen)?:(\d+(?:\.\d+)?)$/.exec(text);
  if (r !== null && Number(r[2]) > 1)
    return { kind: "regrow", m: Number(r[2]), unseenOnly: r[1] !== undefined };
  const m = /^scale(-unseen)?:(\d+(?:\.\d+)?)$/.exec(text);
  const k = m === null ? NaN : Number(m[2]);
  if (m !== null && k > 0) return { kind: "scale", k, unseenOnly: m[1] !== undefined };
  throw new RangeError(
    `overrun rule must be none, las-unseen, scale:K, scale-unseen:K (K > 0), regrow:M or regrow-unseen:M (M > 1), got '${text}'`,
  );
}
