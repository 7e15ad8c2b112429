#!/usr/bin/env bash
# Where a running alps daemon's time goes on the control API's path: starts
# `alps daemon --mode alps` with scripts/daemon-timing.mjs preloaded, replays
# the first SECONDS of WORKLOAD against it (--socket, driver api, mode alps
# only), stops the daemon and prints its per-call timings beside the
# registration round trip the replay's dispatcher measured.
# docs/results.md, "What a registration is made of". Root, a built tree.
#
#   scripts/daemon-timing.sh [WORKLOAD] [SECONDS] [WORKERS]
#
# WORKLOAD is a bundled workload (azure-like), WORKERS fork or warm. The
# daemon is the only thing it ends, by pid.
set -euo pipefail
W=${1:-azure-like}
SECONDS_CUT=${2:-30}
WORKERS=${3:-fork}
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "daemon-timing: needs root" >&2; exit 1; }
[ -x dist/cli.js ] || { echo "daemon-timing: run npm run build first" >&2; exit 1; }
dir=$(mktemp -d)
daemon=""
cleanup() {
  if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then
    kill -TERM "$daemon" 2>/dev/null || true
    wait "$daemon" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
ALPS_TIMING_OUT="$dir/timing.json" node --import ./scripts/daemon-timing.mjs dist/cli.js daemon \
  --mode alps --socket "$dir/alps.sock" --state-dir "$dir/state" --metrics-port 0 \
  >"$dir/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 1 300); do
  [ -S "$dir/alps.sock" ] && break
  kill -0 "$daemon" 2>/dev/null || { cat "$dir/daemon.log" >&2; exit 1; }
  sleep 0.1
done
[ -S "$dir/alps.sock" ] || { echo "daemon-timing: the daemon did not open its socket" >&2; exit 1; }
node dist/cli.js replay --trace "workloads/$W.csv" --modes alps --socket "$dir/alps.sock" \
  --workers "$WORKERS" --time-limit-s "$SECONDS_CUT" --out "$dir/replay" --json >"$dir/summary.json"
# The daemon's CPU over its life (every thread; its start-up included).
cpu_ms=$(awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000 / hz}' "/proc/$daemon/stat")
kill -TERM "$daemon"
wait "$daemon" || true
daemon=""
node -e '
const [timing, csv] = process.argv.slice(1, 3).map((f) => require("fs").readFileSync(f, "utf8"));
const rows = csv.trim().split("\n");
const col = rows[0].split(",").indexOf("register_ms");
const reg = rows.slice(1).map((r) => Number(r.split(",")[col])).filter(Number.isFinite).sort((a, b) => a - b);
console.log(`registration round trip at the dispatcher: ${reg.length} invocations, p50 ${Math.round(reg[reg.length >> 1] * 1000)} us`);
console.log(`daemon CPU over its life (every thread, start-up included): ${process.argv[3]} ms`);
console.log("in the daemon:        calls   p50 us  mean us  total ms");
for (const [name, t] of Object.entries(JSON.parse(timing)))
  console.log(`${name.padEnd(34)} ${String(t.calls).padStart(6)} ${String(t.p50_us).padStart(8)} ${String(t.mean_us).padStart(8)} ${String(t.total_ms).padStart(9)}`);
' "$dir/timing.json" "$dir/replay/alps.csv" "$cpu_ms"
