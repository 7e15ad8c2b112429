/**
 * The simulator against queueing theory on M/G/1 (Poisson arrivals,
 * hyperexponential service with squared coefficient of variation 4, one
 * core): mean turnaround of ps, fifo and srpt within 5 % of the textbook
 * values. Seeded, so a failure reproduces.
 */
import { describe, expect, it } from "vitest";
import { simulate } from "../../src/sim/index.js";
import { fcfsMeanResponse, h2, mg1Trace, psMeanResponse, srptMeanResponse } from "./mg1.js";

const MEAN_SERVICE_MS = 10;
const N = 200_000;

describe.each([0.6, 0.7])("M/G/1 at load %s", (rho) => {
  const service = h2(MEAN_SERVICE_MS, 4);
  const lambda = rho / MEAN_SERVICE_MS;
  const trace = mg1Trace(N, lambda, service, 1);

  const measured = (policy: "ps" | "fifo" | "srpt"): number =>
    simulate(trace, { policy, cores: 1 }).summary.turnaround_ms.mean;

  it("ps matches E[S]/(1−ρ)", () => {
    const expected = psMeanResponse(lambda, service);
    expect(expected).toBeCloseTo(MEAN_SERVICE_MS / (1 - rho), 9);
    expect(Math.abs(measured("ps") / expected - 1)).toBeLessThan(0.05);
  });

  it("fifo matches Pollaczek–Khinchine", () => {
    expect(Math.abs(measured("fifo") / fcfsMeanResponse(lambda, service) - 1)).toBeLessThan(0.05);
  });

  it("srpt matches Schrage–Miller", () => {
    const expected = srptMeanResponse(lambda, service);
    // Sanity of the numeric integral: SRPT beats PS, which beats FCFS at this variance.
    expect(expected).toBeLessThan(psMeanResponse(lambda, service));
    expect(Math.abs(measured("srpt") / expected - 1)).toBeLessThan(0.05);
  });
});
