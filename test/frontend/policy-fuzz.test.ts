/**
 * Fuzzing the policy file (issue 8 must-show 3): whatever bytes
 * `--policy-file` holds, the reader returns a policy the shared schema
 * accepts or throws an InputError naming the file; it never crashes with
 * anything else, and a valid policy reads back unchanged.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Policy, PolicySchema } from "../../src/contracts/policy.js";
import { InputError } from "../../src/errors.js";
import { parsePolicyText } from "../../src/frontend/policy-file.js";

const FILE = "fuzz-policy.json";

/** Parses and classifies: "ok" (and schema-valid) or "input-error"; anything else fails the property. */
function outcome(text: string): "ok" | "input-error" {
  try {
    const policy = parsePolicyText(text, FILE);
    expect(PolicySchema.safeParse(policy).success).toBe(true);
    return "ok";
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    expect(error.file).toBe(FILE);
    expect(error.message.startsWith(FILE)).toBe(true);
    return "input-error";
  }
}

/** Numbers a policy field may hold, and many it may not. */
const number = fc.oneof(
  fc.integer({ min: -5, max: 2_000_000 }),
  fc.double(),
  fc.constantFrom(0, 1, -1, 3_600_000, 3_600_001, Number.MAX_SAFE_INTEGER),
);
const fieldValue = fc.oneof(number, fc.string(), fc.boolean(), fc.constant(null), fc.array(number));
const entry = fc.dictionary(
  fc.constantFrom("priority", "predicted_ms", "slice_ms", "note"),
  fieldValue,
);
const almostPolicy = fc.record(
  {
    functions: fc.oneof(fc.dictionary(fc.string({ maxLength: 300 }), entry), fieldValue),
    default: fc.oneof(entry, fieldValue),
    extra: fc.jsonValue(),
  },
  { requiredKeys: [] },
);

const validEntry = fc.record({
  priority: fc.integer({ min: 1, max: 1_000_000 }),
  predicted_ms: fc.double({ min: 0, max: 3_600_000, noNaN: true }),
  slice_ms: fc.double({ min: 0, max: 3_600_000, noNaN: true }),
});
const validPolicy: fc.Arbitrary<Policy> = fc.record({
  // "__proto__" is fuzzed by its own test (known bug below).
  functions: fc.dictionary(
    fc.string({ minLength: 1, maxLength: 255 }).filter((name) => name !== "__proto__"),
    validEntry,
    { maxKeys: 8 },
  ),
  default: validEntry,
});

describe("policy file fuzzing", () => {
  it("arbitrary text: a policy or an InputError, never a crash", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => {
        outcome(text);
      }),
      { numRuns: 3000 },
    );
  });

  it("arbitrary JSON values and near-policies: a policy or an InputError", () => {
    const counts = { ok: 0, "input-error": 0 };
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), almostPolicy, validPolicy), (value) => {
        counts[outcome(JSON.stringify(value) ?? "null")]++;
      }),
      { numRuns: 4000 },
    );
    // Both paths were exercised.
    expect(counts["input-error"]).toBeGreaterThan(100);
    expect(counts.ok).toBeGreaterThan(0);
  });

  it("damaged valid policies (truncated, a byte changed): a policy or an InputError", () => {
    fc.assert(
      fc.property(validPolicy, fc.nat(), fc.integer({ min: 0, max: 0x7e }), (policy, at, byte) => {
        const text = JSON.stringify(policy, null, 2);
        const i = at % (text.length + 1);
        outcome(text.slice(0, i));
        outcome(text.slice(0, i) + String.fromCharCode(byte) + text.slice(i + 1));
      }),
      { numRuns: 2000 },
    );
  });

  // Unresolved and excessive YAML aliases (once a ReferenceError escaping
  // the reader, found by this fuzzer and since fixed).
  it("a YAML alias is an InputError, not a ReferenceError", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (name) => {
        outcome(`{"functions": {}, "default": *a${name.replace(/\s/g, "")}}`);
      }),
      { numRuns: 200 },
    );
    // "Billion laughs": 10 levels of 10 aliases each must be refused, not expanded.
    const levels = ["x0: &x0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"];
    for (let i = 1; i < 10; i++)
      levels.push(
        `x${i}: &x${i} [${Array(10)
          .fill(`*x${i - 1}`)
          .join(", ")}]`,
      );
    const bomb = `${levels.join("\n")}\nfunctions: {}\ndefault: {priority: 1, predicted_ms: 1, slice_ms: 1}\n`;
    const t0 = performance.now();
    expect(outcome(bomb)).toBe("input-error");
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  // Regression: "__proto__" used to vanish in the YAML reader's plain-object
  // conversion; it must be kept or refused, never dropped.
  it("a function named __proto__ is refused by name, never dropped", () => {
    const entry = { priority: 1, predicted_ms: 1, slice_ms: 1 };
    const text = `{"functions": {"__proto__": ${JSON.stringify(entry)}}, "default": ${JSON.stringify(entry)}}`;
    let policy: Policy | undefined;
    try {
      policy = parsePolicyText(text, FILE);
    } catch (error) {
      expect(error).toBeInstanceOf(InputError);
    }
    if (policy !== undefined) expect(Object.keys(policy.functions)).toEqual(["__proto__"]);
  });

  it("a valid policy reads back unchanged", () => {
    fc.assert(
      fc.property(validPolicy, (policy) => {
        expect(parsePolicyText(JSON.stringify(policy), FILE)).toEqual(policy);
      }),
      { numRuns: 1000 },
    );
  });

  it("an invalid field is named with its line", () => {
    const text =
      '{\n  "functions": {\n    "fib": { "priority": 0, "predicted_ms": 1, "slice_ms": 2 }\n  },\n  "default": { "priority": 1, "predicted_ms": 1, "slice_ms": 1 }\n}\n';
    expect(() => parsePolicyText(text, FILE)).toThrow(InputError);
    try {
      parsePolicyText(text, FILE);
    } catch (error) {
      expect(error).toMatchObject({ line: 3, field: "functions.fib.priority" });
    }
  });
});
