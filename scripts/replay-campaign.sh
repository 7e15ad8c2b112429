#!/usr/bin/env bash
# The measurement behind docs/results.md "The real path": every bundled
# workload, warm and fork workers, each replayed RUNS times against the host
# without alps (mode none) with alps reached through the control API
# (driver api) and by burst inference (driver sandbox), one directory per
# replay. Run it as root on an otherwise idle host; it takes about 3.5 min
# per replay (24 replays with the defaults). Then
#   node scripts/replay-campaign-table.mjs OUT
# prints the tables.
#
#   scripts/replay-campaign.sh OUT [RUNS] [extra alps replay flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/replay-campaign.sh OUT [RUNS] [flags...]}
RUNS=${2:-3}
shift $(( $# >= 2 ? 2 : 1 ))
WORKLOADS=${ALPS_CAMPAIGN_WORKLOADS:-azure-like huawei-like azure-heldout huawei-heldout}
WORKERS=${ALPS_CAMPAIGN_WORKERS:-warm fork}
DRIVERS=${ALPS_CAMPAIGN_DRIVERS:-api,sandbox}
mkdir -p "$OUT"
# Round-robin over the runs, so a campaign cut short still has every workload.
for run in $(seq 1 "$RUNS"); do
  for w in $WORKLOADS; do
    for k in $WORKERS; do
      dir="$OUT/$w-$k-r$run"
      if [ -f "$dir/summary.json" ]; then continue; fi
      echo "$(date -u +%FT%TZ) $w $k run $run: load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/campaign.log"
      node dist/cli.js replay --trace "workloads/$w.csv" --modes none,alps --driver "$DRIVERS" \
        --workers "$k" --out "$dir" "$@" > "$dir.log" 2>&1 \
        || { echo "replay failed: see $dir.log" | tee -a "$OUT/campaign.log"; continue; }
      echo "$(date -u +%FT%TZ) done: load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/campaign.log"
      cp /proc/loadavg "$dir/loadavg-after"
    done
  done
done
