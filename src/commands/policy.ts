/**
 * `alps policy [--socket S] [--json]`: the running daemon's policy. With
 * --json the policy JSON (with explanation fields); otherwise a table that
 * shows, per function, the numbers that produced its priority and slice.
 */
import type { Command } from "commander";
import { type Policy, PolicySchema } from "../contracts/policy.js";
import { CliError } from "../errors.js";
import { socketOf, socketOption } from "./socket-option.js";

export function registerPolicy(program: Command): void {
  program
    .command("policy")
    .description("show the running daemon's policy, explained")
    .addOption(socketOption())
    .option("--json", "print the policy JSON")
    .addHelpText(
      "after",
      "\nExit status: 0 shown; 1 no daemon answers on the socket, or it failed.",
    )
    .action(async (opts: { socket?: string; json?: boolean }) => {
      const { apiRequest, apiErrorMessage } = await import("../frontend/api/client.js");
      const res = await apiRequest(socketOf(opts), "GET", "/v1/policy");
      if (res.status !== 200)
        throw new CliError(`the daemon answered ${res.status}: ${apiErrorMessage(res)}`);
      const parsed = PolicySchema.safeParse(res.body);
      if (!parsed.success)
        throw new CliError(
          `the daemon sent a policy that does not validate: ${parsed.error.issues[0]?.message}`,
        );
      process.stdout.write(
        opts.json === true ? `${JSON.stringify(res.body, null, 2)}\n` : formatPolicy(parsed.data),
      );
    });
}

const n = (x: unknown): string =>
  typeof x === "number" ? (Math.round(x * 100) / 100).toString() : "-";

export function formatPolicy(policy: Policy): string {
  const rows = Object.entries(policy.functions).sort((a, b) => a[1].priority - b[1].priority);
  const header = ["prio", "function", "predicted_ms", "slice_ms", "samples", "stddev_ms", "how"];
  const lines = [header.join("\t")];
  for (const [fn, e] of rows) {
    const ex = (e.explain ?? {}) as Record<string, unknown>;
    lines.push(
      [
        e.priority,
        fn,
        n(e.predicted_ms),
        n(e.slice_ms),
        n(ex.samples),
        n(ex.stddev_ms),
        e.provisional === true
          ? "provisional: its oldest open invocation's age, until it is learned"
          : String(ex.arithmetic ?? ""),
      ].join("\t"),
    );
  }
  lines.push(
    [
      policy.default.priority,
      "(default)",
      n(policy.default.predicted_ms),
      n(policy.default.slice_ms),
      "",
      "",
      "functions without an entry",
    ].join("\t"),
  );
  const tenants = rows.filter(([fn]) => /^\d+:/.test(fn)).length;
  if (tenants > 0)
    lines.push(
      `${tenants} function(s) keyed uid:name: registered by that uid, a caller that is not root (its own predictions, no boost below its floor)`,
    );
  lines.push(
    policy.band === undefined
      ? "level band: fixed (no band in the policy)"
      : `level band: remaining ${n(policy.band.lo_ms)} ms or less is the most boosted, over ${n(policy.band.hi_ms)} ms the most yielding`,
  );
  const learner = policy.learner as Record<string, unknown> | undefined;
  if (learner !== undefined) {
    lines.push(
      `window: ${n(learner.window_invocations)} invocations on ${n(learner.cores)} cores; utilization ${n(learner.utilization_pct)}%, overload factor ${n(learner.overload_factor)}; pending ${JSON.stringify(learner.pending)}, over the map size ${JSON.stringify(learner.overflow)}`,
    );
  }
  return `${lines.join("\n")}\n`;
}
