import { z } from "zod";
import { functionTable, ownEntry } from "./function-table.js";

/**
 * The policy JSON (docs/formats.md): what the learner produces, what
 * `alps policy --json` prints, what `--policy-file` reads and what the
 * backends enforce. Readers ignore unknown fields (explanations ride along).
 */
export const PolicyEntrySchema = z.looseObject({
  /** Rank by predicted run, 1 = most urgent. */
  priority: z.number().int().min(1).max(1_000_000),
  /** CPU an invocation is predicted to use in one uninterrupted run, ms. */
  predicted_ms: z.number().finite().nonnegative().max(3_600_000),
  /** How long an invocation keeps its boost in one burst, ms. */
  slice_ms: z.number().finite().nonnegative().max(3_600_000),
});

/**
 * The predicted remaining times strategy `dynamic` spreads its levels over
 * (src/contracts/levels.ts): at most `lo_ms` gets the most boosted level,
 * above `hi_ms` the most yielding. Absent: the fixed DEFAULT_CURVE band.
 */
export const PolicyBandSchema = z
  .object({
    lo_ms: z.number().finite().positive().max(3_600_000),
    hi_ms: z.number().finite().positive().max(3_600_000),
  })
  .refine((b) => b.hi_ms >= b.lo_ms, { message: "hi_ms must be at least lo_ms", path: ["hi_ms"] });

/** A function's name: whatever its platform calls it, 1 to 255 characters, kept as is. */
export const FunctionNameSchema = z.string().min(1).max(255);

/**
 * Entries by function name. Not `z.record`: zod leaves a "__proto__" key out
 * of the record it builds (assigned to a plain `{}`, it would replace the
 * prototype), so a function of that name vanished from the policy. Every own
 * key is kept here, in a table without a prototype (function-table.ts), so
 * the policy reads back exactly and no name reaches Object.prototype.
 */
export const PolicyFunctionsSchema = z.unknown().transform((input, ctx) => {
  const functions = functionTable<PolicyEntry>();
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    ctx.addIssue({
      code: "invalid_type",
      expected: "record",
      input,
      message: `Invalid input: expected an object of functions, received ${input === null ? "null" : Array.isArray(input) ? "array" : typeof input}`,
    });
    return functions;
  }
  for (const name of Object.keys(input)) {
    const nameCheck = FunctionNameSchema.safeParse(name);
    if (!nameCheck.success) {
      for (const issue of nameCheck.error.issues)
        ctx.addIssue({
          code: "custom",
          input: name,
          path: [name],
          message: `function name: ${issue.message}`,
        });
      continue;
    }
    const entry = PolicyEntrySchema.safeParse((input as Record<string, unknown>)[name]);
    if (!entry.success) {
      for (const issue of entry.error.issues)
        ctx.addIssue({
          code: "custom",
          input: issue.input,
          path: [name, ...issue.path],
          message: issue.message,
        });
      continue;
    }
    functions[name] = entry.data;
  }
  return functions;
});

export const PolicySchema = z.looseObject({
  functions: PolicyFunctionsSchema,
  default: PolicyEntrySchema,
  band: PolicyBandSchema.optional(),
});

export type PolicyBand = z.infer<typeof PolicyBandSchema>;

export type PolicyEntry = z.infer<typeof PolicyEntrySchema>;
export type Policy = z.infer<typeof PolicySchema>;

/** Used when nothing has been learned yet and no policy file was given. */
export const DEFAULT_POLICY_ENTRY: PolicyEntry = { priority: 1, predicted_ms: 50, slice_ms: 20 };

export function emptyPolicy(): Policy {
  return { functions: functionTable<PolicyEntry>(), default: { ...DEFAULT_POLICY_ENTRY } };
}

/** The entry that governs `fn`: its own, else the default. */
export function policyEntryFor(policy: Policy, fn: string): PolicyEntry {
  // Own properties only: a function called "constructor" must not find Object's.
  return ownEntry(policy.functions, fn) ?? policy.default;
}
