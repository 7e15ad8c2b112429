#!/usr/bin/env node
// Overrun rules in the level rule (docs/results.md, "Overrun rules in the
// level rule (simulator only)"). Simulator only; deterministic. Reads dist/
// (npm run build first).
//
// Each row runs alps with the daemon learning online (its defaults, as `alps
// simulate --policy alps`) under one rule for the predicted remaining time of
// a burst past its prediction (src/sim/overrun.ts):
// - "none": the kernel's rule, max(predicted − used, 0);
// - "scale:K": K × (used − predicted) once past the prediction, every function;
// - "scale-unseen:K": the same for functions without an entry of their own;
// - "las-unseen": max(predicted − used, used) for those functions;
// - "regrow:M", "regrow-unseen:M": the prediction is taken M times larger
//   each time a burst reaches it.
// Each with the daemon's yield bound (6 predicted runs from the start), and
// with the bound measured in the size the overrun implies (liftFromSize B:
// B × (used + remaining) from the start; 0 = the rule's invocations never
// lifted). Cells: mean turnaround ÷ CFS's / shorter-half mean slowdown /
// longest-10 % p99 turnaround ÷ CFS's (the `vs_cfs.alps` figures of `alps
// simulate --compare cfs,alps --json`).
//
//   node scripts/overrun-rules.mjs TRACE... [--cores N]
import { compareRuns } from "../dist/commands/simulate-compare.js";
import { defaultConfig } from "../dist/frontend/config.js";
import { DaemonFeed } from "../dist/frontend/online.js";
import { simulate } from "../dist/sim/index.js";
import { parseOverrunRule } from "../dist/sim/overrun.js";
import { readTraceFile } from "../dist/trace/native.js";

const args = process.argv.slice(2);
const at = args.indexOf("--cores");
const cores = at >= 0 ? Number(args[at + 1]) : 2;
const files = args.filter((a, i) => !a.startsWith("--") && (at < 0 || i !== at + 1));
if (files.length === 0) {
  process.stderr.write("usage: overrun-rules.mjs TRACE... [--cores N]\n");
  process.exit(2);
}

const RULES = ["none", "scale:1", "scale:2", "scale:4", "scale:8"]
  .concat(["scale-unseen:1", "scale-unseen:2", "scale-unseen:4", "scale-unseen:8", "las-unseen"])
  .concat(["regrow:4", "regrow-unseen:2", "regrow-unseen:4", "regrow-unseen:10"])
  .map((rule) => ({ rule }));
for (const liftFromSize of [0, 1, 2, 3, 4, 6])
  for (const rule of [
    "scale:1",
    "scale-unseen:1",
    "las-unseen",
    "regrow-unseen:2",
    "regrow-unseen:3",
  ])
    RULES.push({ rule, liftFromSize });

const config = defaultConfig();
for (const file of files) {
  const trace = readTraceFile(file);
  const cfs = simulate(trace, { policy: "cfs", cores });
  for (const { rule, liftFromSize } of RULES) {
    const result = simulate(trace, {
      policy: "alps",
      cores,
      alps: {
        feed: new DaemonFeed(config, cores),
        strategy: config.strategy,
        idleFrom: config.idleFromNice,
        yieldBound: config.yieldBound,
        overrun: {
          rule: parseOverrunRule(rule),
          ...(liftFromSize === undefined ? {} : { liftFromSize }),
        },
      },
    });
    const c = compareRuns(file, cores, [
      { policy: "cfs", result: cfs },
      { policy: "alps", result },
    ]).vs_cfs.alps;
    const bound = liftFromSize === undefined ? "bound from start" : `liftFromSize ${liftFromSize}`;
    process.stdout.write(
      `${file}\t${rule}, ${bound}\t${c.mean_turnaround_ratio.toFixed(3)} / ${c.short_slowdown.toFixed(2)} / ${c.long_p99_ratio.toFixed(2)}\n`,
    );
  }
}
