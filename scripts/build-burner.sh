#!/usr/bin/env bash
# Builds the fork-worker function body of `alps replay --workers fork`
# (workloads/functions/burn-fork.c) into native/build/burn-fork. Like the
# native build it never fails the overall build: without a C compiler the
# replay's fork workers are unavailable, and `alps replay --workers fork`
# says so and why.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${ALPS_NATIVE_OUT:-native/build}
SRC=workloads/functions/burn-fork.c
BIN=$OUT/burn-fork
mkdir -p "$OUT"
if [ -x "$BIN" ] && [ "$BIN" -nt "$SRC" ]; then
  exit 0
fi
CC=$(command -v cc || command -v gcc || command -v clang || true)
if [ -z "$CC" ]; then
  echo "build-burner: no C compiler (cc, gcc or clang): alps replay --workers fork is unavailable" >&2
  exit 0
fi
# Built beside and renamed into place: a replay running now never sees half a binary.
if "$CC" -O1 -Wall -pthread -o "$BIN.tmp" "$SRC" 2>"$OUT/build-burner.log"; then
  mv -f "$BIN.tmp" "$BIN"
  echo "build-burner: ok"
else
  rm -f "$BIN.tmp"
  echo "build-burner: $CC could not compile $SRC (see $OUT/build-burner.log): alps replay --workers fork is unavailable" >&2
fi
exit 0
