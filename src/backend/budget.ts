/**
 * The CPU budget of a boost, per invocation (docs/safety.md, "Callers that
 * are not root"): the backends compare it with the CPU an invocation's
 * registered tasks used in all their bursts, and hold it at or above base
 * once it is spent.
 */
import { type Policy, policyEntryFor } from "../contracts/policy.js";

/**
 * The budget of an invocation of `fn`, ns: the configured one, but never
 * less than twice the function's predicted run. The budget stops an
 * invocation that keeps starting short boosted bursts; a function predicted
 * long legitimately uses more, and is boosted only near its end anyway (as
 * SRPT favours a nearly finished job).
 */
export function boostBudgetOf(configuredNs: number, policy: Policy, fn: string): number {
  return Math.max(configuredNs, 2 * policyEntryFor(policy, fn).predicted_ms * 1e6);
}
