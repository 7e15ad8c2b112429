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
    # The replay's own summary: the mean and the shorter half as every table reports them.
    node -e '
      const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const none = s.modes.none;
      console.log(`${process.argv[2]} rt-load, round ${process.argv[3]}: mean ${none.turnaround_ms.mean.toFixed(0)} ms, shorter half ${s.vs_baseline.none.short_slowdown.toFixed(2)} (${none.invocations} invocations)`);
    ' "$out/$v-$r/summary.json" "$v" "$r"
  done
done
