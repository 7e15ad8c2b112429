/**
 * Fuzzing the policy file (issue 8 must-show 3): whatever bytes
 * `--policy-file` holds, the reader returns a policy the shared schema
 * accepts or throws an InputError naming the file; it never crashes with
 * anything else, and a valid policy reads back unchanged.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Policy, PolicySchema, policyEntryFor } from "../../src/contracts/policy.js";
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
/**
 * Any name a platform may give: printable ASCII, any Unicode code point
 * (up to 255 UTF-16 units), and Object.prototype's members with near misses
 * (once refused or lost: " __proto__" was refused as "__proto__").
 */
const functionName = fc.oneof(
  fc.string({ minLength: 1, maxLength: 255 }),
  fc.string({ unit: "binary", minLength: 1, maxLength: 127 }),
  fc.constantFrom(
    "__proto__",
    " __proto__",
    "__proto__ ",
    "x__proto__:",
    "constructor",
    "toString",
    "hasOwnProperty",
    "valueOf",
    "prototype",
    "__defineGetter__",
    "<<",
  ),
);
const validPolicy: fc.Arbitrary<Policy> = fc.record({
  functions: fc.dictionary(functionName, validEntry, { maxKeys: 8 }),
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
    expect(outcome(bomb)).toBe("input-error");
    // Refused for its alias count, before expansion: asserted by the reason,
    // not by a time limit a loaded host could break.
    expect(() => parsePolicyText(bomb, FILE)).toThrow(/alias count/);
  });

  // Regression: "__proto__" first vanished in the plain-object conversion,
  // then was refused by a search of the text, which also refused names
  // merely containing it (" __proto__"). A platform may name a function
  // anything: every name is kept, as an own entry, touching no prototype.
  it("functions named like Object.prototype's members are kept as their own entries", () => {
    const names = ["__proto__", " __proto__", "constructor", "toString", "hasOwnProperty"];
    const entries = names.map((name, i) => [
      name,
      { priority: i + 1, predicted_ms: i, slice_ms: 1 },
    ]);
    const json = `{"functions": {${entries.map(([n, e]) => `${JSON.stringify(n)}: ${JSON.stringify(e)}`).join(", ")}}, "default": {"priority": 9, "predicted_ms": 1, "slice_ms": 1}}`;
    const yaml = `functions:\n${entries.map(([n, e]) => `  ${JSON.stringify(n)}: ${JSON.stringify(e)}`).join("\n")}\n  __proto__x: {priority: 7, predicted_ms: 1, slice_ms: 1}\ndefault: {priority: 9, predicted_ms: 1, slice_ms: 1}\n`;
    for (const text of [json, yaml]) {
      const policy = parsePolicyText(text, FILE);
      expect(Object.keys(policy.functions).filter((n) => n !== "__proto__x")).toEqual(names);
      for (const [name, entry] of entries) {
        expect(Object.hasOwn(policy.functions, name as string)).toBe(true);
        expect(policyEntryFor(policy, name as string)).toEqual(entry);
      }
      // Names it does not hold find the default, not Object.prototype's members.
      expect(policyEntryFor(policy, "valueOf")).toBe(policy.default);
      expect(JSON.parse(JSON.stringify(policy)).functions).toEqual(policy.functions);
      // Nothing reached the prototype of plain objects.
      expect(({} as Record<string, unknown>).priority).toBeUndefined();
      expect(Object.getPrototypeOf({})).toBe(Object.prototype);
    }
    // Plain YAML keys too, where no quote marks the name.
    const plain = parsePolicyText(
      "functions:\n  __proto__: {priority: 1, predicted_ms: 2, slice_ms: 3}\ndefault: {priority: 2, predicted_ms: 1, slice_ms: 1}\n",
      FILE,
    );
    expect(Object.keys(plain.functions)).toEqual(["__proto__"]);
    expect(policyEntryFor(plain, "__proto__").predicted_ms).toBe(2);
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
