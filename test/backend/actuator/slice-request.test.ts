import { describe, expect, it } from "vitest";
import { sliceRequestNs } from "../../../src/backend/actuator/actuator.js";

describe("the EEVDF slice a boost asks for", () => {
  it("off asks for none, whatever the function's slice", () => {
    expect(sliceRequestNs("off", 20_000_000n)).toBe(0n);
  });

  it("function asks for the function's slice within the kernel's 0.1-100 ms, none without one", () => {
    expect(sliceRequestNs("function", 20_000_000n)).toBe(20_000_000n);
    expect(sliceRequestNs("function", 5_000n)).toBe(100_000n);
    expect(sliceRequestNs("function", 500_000_000n)).toBe(100_000_000n);
    expect(sliceRequestNs("function", 0n)).toBe(0n);
  });

  it("shortest asks for the kernel's shortest slice on every boost, a function's slice or not", () => {
    expect(sliceRequestNs("shortest", 20_000_000n)).toBe(100_000n);
    expect(sliceRequestNs("shortest", 0n)).toBe(100_000n);
  });
});
