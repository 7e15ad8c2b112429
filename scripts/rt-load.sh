#!/usr/bin/env bash
# What CPU at real-time priority, as much as the alps daemon uses in a
# replay, costs the host without alps: replays of WORKLOAD with fork
# workers and --modes none (no daemon, no BPF program), alternately
# without and with rt-load beside them, ROUNDS times each; prints each
# replay's mean turnaround and the shorter half's mean slowdown.
# docs/results.md, "The daemon's own CPU, as load". Root, cc, a built tree.
#
#   scripts/rt-load.sh [WORKLOAD] [ROUNDS] [BURN_US] [PERIOD_US] [SECONDS]
#
# The defaults (200 us every 5 ms, about 38 ms of CPU a second) match the
# daemon's 35-41 ms a second measured in 30 s replays of the bundled
# workloads. Everything it starts it ends, by pid.
set -euo pipefail
W=${1:-azure-like}
ROUNDS=${2:-3}
BURN_US=${3:-200}
PERIOD_US=${4:-5000}
SECONDS_CUT=${5:-30}
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "rt-load: needs root" >&2; exit 1; }
[ -x dist/cli.js ] || { echo "rt-load: run npm run build first" >&2; exit 1; }
bin=$(mktemp -d)
out=$(mktemp -d)
load=""
cleanup() {
  if [ -n "$load" ]; then kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true; fi
  rm -rf "$bin" "$out"
}
trap cleanup EXIT
cc -O2 -Wall -o "$bin/rt-load" scripts/rt-load/rt-load.c
for r in $(seq 1 "$ROUNDS"); do
  for v in without with; do
    if [ "$v" = with ]; then
      "$bin/rt-load" "$BURN_US" "$PERIOD_US" $((SECONDS_CUT * 3)) &
      load=$!
    fi
    node dist/cli.js replay --trace "workloads/$W.csv" --modes none --workers fork \
      --time-limit-s "$SECONDS_CUT" --out "$out/$v-$r" --json > /dev/null
    if [ -n "$load" ]; then kill "$load" 2>/dev/null || true; wait "$load" || true; load=""; fi
    node -e '
      const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
      const head = rows.shift().split(",");
      const col = (n) => head.indexOf(n);
      const inv = rows.map((l) => l.split(",")).map((f) => ({
        d: Number(f[col("duration_ms")]), t: Number(f[col("turnaround_ms")]) }));
      const mean = inv.reduce((s, x) => s + x.t, 0) / inv.length;
      const half = [...inv].sort((a, b) => a.d - b.d).slice(0, Math.floor(inv.length / 2));
      const slow = half.reduce((s, x) => s + x.t / x.d, 0) / half.length;
      console.log(`${process.argv[2]} rt-load, round ${process.argv[3]}: mean ${mean.toFixed(0)} ms, shorter half ${slow.toFixed(2)} (${inv.length} invocations)`);
    ' "$out/$v-$r/none.csv" "$v" "$r"
  done
done
