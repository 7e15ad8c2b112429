/**
 * Test helpers for queueing-theory checks: a seeded PRNG, an M/G/1 trace
 * generator with hyperexponential (H2) service, and the textbook mean
 * response times for PS, FCFS (Pollaczek–Khinchine) and SRPT
 * (Schrage–Miller, integrated numerically).
 */
import type { TraceInvocation } from "../../src/contracts/trace.js";

/** mulberry32: small, fast, seeded; good enough for simulation inputs. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Balanced-means H2 with mean `mean` and squared coefficient of variation `scv` (> 1). */
export interface H2 {
  p1: number;
  mu1: number;
  mu2: number;
}

export function h2(mean: number, scv: number): H2 {
  const p1 = (1 + Math.sqrt((scv - 1) / (scv + 1))) / 2;
  const p2 = 1 - p1;
  return { p1, mu1: (2 * p1) / mean, mu2: (2 * p2) / mean };
}

export function h2Moments(d: H2): { m1: number; m2: number } {
  const p2 = 1 - d.p1;
  return {
    m1: d.p1 / d.mu1 + p2 / d.mu2,
    m2: 2 * (d.p1 / d.mu1 ** 2 + p2 / d.mu2 ** 2),
  };
}

function exp(rand: () => number, rate: number): number {
  // 1 − u is in (0, 1], so the log is finite.
  return -Math.log(1 - rand()) / rate;
}

/** n invocations, Poisson arrivals at rate `lambda` per ms, H2 service in ms. */
export function mg1Trace(n: number, lambda: number, service: H2, seed: number): TraceInvocation[] {
  const rand = mulberry32(seed);
  const trace: TraceInvocation[] = new Array(n);
  let t = 0;
  for (let i = 0; i < n; i++) {
    t += exp(rand, lambda);
    const s = rand() < service.p1 ? exp(rand, service.mu1) : exp(rand, service.mu2);
    // A zero service would make slowdown undefined; the chance is ~0, guard anyway.
    trace[i] = { arrivalMs: t, fn: "f", durationMs: Math.max(s, 1e-9) };
  }
  return trace;
}

export function psMeanResponse(lambda: number, d: H2): number {
  const { m1 } = h2Moments(d);
  return m1 / (1 - lambda * m1);
}

export function fcfsMeanResponse(lambda: number, d: H2): number {
  const { m1, m2 } = h2Moments(d);
  return m1 + (lambda * m2) / (2 * (1 - lambda * m1));
}

/**
 * Schrage–Miller: for a job of size x,
 *   E[T(x)] = λ(∫₀ˣ t² dF(t) + x²(1 − F(x))) / (2(1 − ρ(x))²) + ∫₀ˣ dt / (1 − ρ(t)),
 * with ρ(x) = λ∫₀ˣ t dF(t); the mean is ∫ E[T(x)] dF(x). Integrated with the
 * trapezoid rule on a fine grid (the H2 density is smooth and decays
 * exponentially, so the grid reaches far enough into the tail).
 */
export function srptMeanResponse(lambda: number, d: H2): number {
  const p2 = 1 - d.p1;
  const f = (x: number): number =>
    d.p1 * d.mu1 * Math.exp(-d.mu1 * x) + p2 * d.mu2 * Math.exp(-d.mu2 * x);
  const tail = (x: number): number => d.p1 * Math.exp(-d.mu1 * x) + p2 * Math.exp(-d.mu2 * x);
  const xMax = 60 / Math.min(d.mu1, d.mu2);
  const steps = 400_000;
  const h = xMax / steps;
  let m1x = 0; // ∫₀ˣ t f(t) dt
  let m2x = 0; // ∫₀ˣ t² f(t) dt
  let residence = 0; // ∫₀ˣ dt / (1 − ρ(t))
  let mean = 0;
  let prevX = 0;
  let prevF = f(0);
  let prevInvRho = 1;
  let prevT = 0; // E[T(0)] = 0
  let prevTf = 0;
  for (let i = 1; i <= steps; i++) {
    const x = i * h;
    const fx = f(x);
    m1x += (h * (prevX * prevF + x * fx)) / 2;
    m2x += (h * (prevX * prevX * prevF + x * x * fx)) / 2;
    const rho = lambda * m1x;
    const invRho = 1 / (1 - rho);
    residence += (h * (prevInvRho + invRho)) / 2;
    const waiting = (lambda * (m2x + x * x * tail(x))) / (2 * (1 - rho) ** 2);
    const t = waiting + residence;
    const tf = t * fx;
    mean += (h * (prevTf + tf)) / 2;
    prevX = x;
    prevF = fx;
    prevInvRho = invRho;
    prevT = t;
    prevTf = tf;
  }
  void prevT;
  return mean;
}
