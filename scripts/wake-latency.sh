#!/usr/bin/env bash
# How long a boosted sandbox's fresh process waits on the run queue with and
# without an EEVDF slice request of 0.1 ms (alps's --eevdf-slice shortest):
# docs/results.md, "A boosted start waits on the run queue". Root, a v1 cpu
# controller at /sys/fs/cgroup/cpu (as on this project's hosts), cc.
#
#   scripts/wake-latency.sh [ROUNDS] [PAIRS]
#
# Six long functions (blocking-hog: 3 ms of CPU, 1 ms asleep, 10 s of CPU at
# most each) run in six sandboxes at 1024 under one parent group, as a
# replay's sandboxes are; sandbox-start (SCHED_FIFO 80, as the replay's
# zygote) starts ROUNDS fresh processes in a seventh, boosted as alps boosts
# them, first without a slice request and then with 0.1 ms, PAIRS times.
# Everything it starts it ends, by pid, and it removes its cgroups.
set -euo pipefail
ROUNDS=${1:-200}
PAIRS=${2:-4}
CPU=/sys/fs/cgroup/cpu
[ "$(id -u)" = 0 ] || { echo "wake-latency: needs root" >&2; exit 1; }
[ -f "$CPU/cpu.shares" ] || { echo "wake-latency: no v1 cpu controller at $CPU" >&2; exit 1; }
here=$(cd "$(dirname "$0")/wake-latency" && pwd)
bin=$(mktemp -d)
parent="$CPU/alps-wake-$$"
hogs=()
cleanup() {
  for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${hogs[@]}"; do wait "$pid" 2>/dev/null || true; done
  for dir in "$parent"/*/; do [ -d "$dir" ] && rmdir "$dir" 2>/dev/null || true; done
  rmdir "$parent" 2>/dev/null || true
  rm -rf "$bin"
}
trap cleanup EXIT
cc -O2 -Wall -o "$bin/sandbox-start" "$here/sandbox-start.c"
cc -O2 -Wall -o "$bin/blocking-hog" "$here/blocking-hog.c"
mkdir "$parent" "$parent/start"
for i in 1 2 3 4 5 6; do
  mkdir "$parent/long$i"
  "$bin/blocking-hog" 10 &
  hogs+=($!)
  echo "$!" > "$parent/long$i/cgroup.procs"
done
sleep 0.2
for _ in $(seq 1 "$PAIRS"); do
  for slice in 0 100000; do
    timeout 60 chrt -f 80 "$bin/sandbox-start" "$parent/start" "$ROUNDS" "$slice" 1.5
  done
done
