/**
 * Estimators of a function's next uninterrupted run from the sequence of its
 * past runs (oldest first). Each one is total: 0 samples give 0, one sample
 * gives that sample, constant input gives the constant — the published ALPS
 * artifact crashed on exactly these cases.
 */

export type EstimatorName = "mean" | "ewma" | "linreg";
export const ESTIMATORS: readonly EstimatorName[] = ["mean", "ewma", "linreg"];

/**
 * `value` held to [min, max] of `samples` (non-empty). A mean or an EWMA is
 * a weighted average of the samples, so it lies in their range, but its
 * floating-point evaluation may round an ulp or more past either end: the
 * mean of [0.1, 0.1, 0.1] came out as 0.10000000000000002, and the EWMA of
 * two equal subnormal samples (7.4e-323) as 7e-323, below both. The clamp
 * takes off that rounding and nothing else, so "constant input gives the
 * constant" and "within the samples' range" hold exactly.
 */
function withinRange(value: number, samples: readonly number[]): number {
  let lo = samples[0] as number;
  let hi = lo;
  for (const s of samples) {
    if (s < lo) lo = s;
    if (s > hi) hi = s;
  }
  return Math.min(Math.max(value, lo), hi);
}

export function mean(samples: readonly number[]): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (const s of samples) sum += s;
  return withinRange(sum / samples.length, samples);
}

/** Population standard deviation (0 for fewer than 2 samples). */
export function stddev(samples: readonly number[]): number {
  if (samples.length < 2) return 0;
  const m = mean(samples);
  let sq = 0;
  for (const s of samples) sq += (s - m) * (s - m);
  return Math.sqrt(sq / samples.length);
}

/** Exponentially weighted moving average; `weight` is the share of the newest sample. */
export function ewma(samples: readonly number[], weight: number): number {
  if (!(weight > 0 && weight <= 1))
    throw new RangeError(`ewma weight must be in (0, 1], got ${weight}`);
  if (samples.length === 0) return 0;
  let value = samples[0] as number;
  for (let i = 1; i < samples.length; i++)
    value = weight * (samples[i] as number) + (1 - weight) * value;
  return withinRange(value, samples);
}

/**
 * Least-squares line through (i, sample_i), evaluated at the next index.
 * Fewer than 2 samples fall back to the mean (a line needs two points); the
 * prediction is floored at 0 because a run cannot be negative.
 */
export function linreg(samples: readonly number[]): number {
  const n = samples.length;
  if (n < 2) return mean(samples);
  const xMean = (n - 1) / 2;
  const yMean = mean(samples);
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    const dx = i - xMean;
    sxy += dx * ((samples[i] as number) - yMean);
    sxx += dx * dx;
  }
  const slope = sxy / sxx; // sxx > 0 since n >= 2 and the x are distinct
  return Math.max(0, yMean + slope * (n - xMean));
}

export function estimate(
  name: EstimatorName,
  samples: readonly number[],
  ewmaWeight = 0.3,
): number {
  switch (name) {
    case "mean":
      return mean(samples);
    case "ewma":
      return ewma(samples, ewmaWeight);
    case "linreg":
      return linreg(samples);
  }
}
