/**
 * The daemon's real-time CPU cap, on an injected clock and CPU meter: it
 * leaves SCHED_FIFO in the first period over the cap and goes back only
 * after several calm ones.
 */
import { describe, expect, it } from "vitest";
import { RealtimeCap } from "../../src/frontend/rt-cap.js";

describe("the real-time CPU cap", () => {
  it("demotes past the cap and raises after calmPeriods under half of it", () => {
    let wall = 0;
    let cpu = 0;
    const events: string[] = [];
    const cap = new RealtimeCap({
      capPercent: 50,
      calmPeriods: 3,
      now: () => wall,
      cpuMs: () => cpu,
      demote: () => events.push("demote"),
      raise: () => events.push("raise"),
      log: (m) => events.push(m.split(":")[0] ?? m),
    });
    const period = (busyPct: number): void => {
      wall += 250;
      cpu += (250 * busyPct) / 100;
      cap.check();
    };
    period(40);
    expect(cap.realtime).toBe(true);
    period(90); // a flood
    expect(cap.realtime).toBe(false);
    expect(cap.demotions).toBe(1);
    period(30); // under the cap but not under half of it: not calm
    period(10);
    period(10);
    expect(cap.realtime).toBe(false);
    period(10);
    expect(cap.realtime).toBe(true);
    expect(events.filter((e) => e === "demote" || e === "raise")).toEqual(["demote", "raise"]);
  });

  it("does nothing with a cap of 0", () => {
    const cap = new RealtimeCap({ capPercent: 0, demote: () => {}, raise: () => {} });
    cap.start();
    cap.stop();
    expect(cap.realtime).toBe(true);
  });
});
