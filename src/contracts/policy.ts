import { z } from "zod";

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

export const PolicySchema = z.looseObject({
  functions: z.record(z.string().min(1).max(255), PolicyEntrySchema),
  default: PolicyEntrySchema,
  band: PolicyBandSchema.optional(),
});

export type PolicyBand = z.infer<typeof PolicyBandSchema>;

export type PolicyEntry = z.infer<typeof PolicyEntrySchema>;
export type Policy = z.infer<typeof PolicySchema>;

/** Used when nothing has been learned yet and no policy file was given. */
export const DEFAULT_POLICY_ENTRY: PolicyEntry = { priority: 1, predicted_ms: 50, slice_ms: 20 };

export function emptyPolicy(): Policy {
  return { functions: {}, default: { ...DEFAULT_POLICY_ENTRY } };
}

/** The entry that governs `fn`: its own, else the default. */
export function policyEntryFor(policy: Policy, fn: string): PolicyEntry {
  // Own properties only: a function called "constructor" must not find Object's.
  return Object.hasOwn(policy.functions, fn)
    ? (policy.functions[fn] ?? policy.default)
    : policy.default;
}
