#!/usr/bin/env bash
# Builds the replay's and the benchmark's C helpers into native/build:
#   burn-fork    the fork-worker function body of `alps replay --workers fork`
#                (workloads/functions/burn-fork.c);
#   stall-probe  the real-time probe a replay runs on each CPU to see the
#                host stand still (native/probes/stall-probe.c);
#   line-floor   the daemon-cost benchmark's line server that does no work
#                (native/probes/line-floor.c).
# Like the native build it never fails the overall build: without a C
# compiler the replay says which of them it lacks, and why.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${ALPS_NATIVE_OUT:-native/build}
mkdir -p "$OUT"
CC=$(command -v cc || command -v gcc || command -v clang || true)

# build NAME SRC WITHOUT: WITHOUT is what the replay lacks when NAME cannot be built.
build() {
  local name=$1 src=$2 without=$3 bin=$OUT/$1
  if [ -x "$bin" ] && [ "$bin" -nt "$src" ]; then
    return 0
  fi
  if [ -z "$CC" ]; then
    echo "build-helpers: no C compiler (cc, gcc or clang): $without" >&2
    return 0
  fi
  # Built beside and renamed into place: a replay running now never sees half a binary.
  if "$CC" -O1 -Wall -pthread -o "$bin.tmp" "$src" 2>"$OUT/build-$name.log"; then
    mv -f "$bin.tmp" "$bin"
    echo "build-helpers: $name ok"
  else
    rm -f "$bin.tmp"
    echo "build-helpers: $CC could not compile $src (see $OUT/build-$name.log): $without" >&2
  fi
}

build burn-fork workloads/functions/burn-fork.c "alps replay --workers fork is unavailable"
build stall-probe native/probes/stall-probe.c "alps replay runs without its stall probes"
build line-floor native/probes/line-floor.c "the daemon-cost benchmark measures no C floor"
exit 0
