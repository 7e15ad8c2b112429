#!/usr/bin/env bash
# A request and its answer over a unix socket, both ends asleep in between:
# a C echo and a bare Node echo, each at SCHED_FIFO 50 (as the daemon), to a
# SCHED_FIFO 40 client (as the replay's dispatcher) and to a fair-class one.
# docs/results.md ("How short a registration could be"). Root (SCHED_FIFO),
# cc, node. Everything it starts ends by itself or is ended here, by pid.
#
#   scripts/socket-rtt.sh [N] [GAP_MS]
set -euo pipefail
N=${1:-150}
GAP=${2:-100}
[ "$(id -u)" = 0 ] || { echo "socket-rtt: needs root (SCHED_FIFO)" >&2; exit 1; }
here=$(cd "$(dirname "$0")/socket-rtt" && pwd)
dir=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
cc -O2 -Wall -o "$dir/socket-rtt" "$here/socket-rtt.c"
"$dir/socket-rtt" "$N" "$GAP" 1
"$dir/socket-rtt" "$N" "$GAP" 0
seconds=$(( 2 * N * GAP / 1000 + 20 ))
chrt -f 50 node "$here/echo-server.mjs" "$dir/echo.sock" "$seconds" > "$dir/server.out" &
server=$!
for _ in $(seq 1 100); do grep -q listening "$dir/server.out" 2>/dev/null && break; sleep 0.05; done
sleep 5 # past Node's start-up compiling
"$dir/socket-rtt" "$N" "$GAP" 1 "$dir/echo.sock"
"$dir/socket-rtt" "$N" "$GAP" 0 "$dir/echo.sock"
