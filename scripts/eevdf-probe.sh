#!/usr/bin/env bash
# Runs a command with a development probe of the fair scheduler attached:
# at each boosted wake-up of a replay function process (burn-*) and each
# switch to one, the EEVDF state of its entities (task, sandbox group, the
# replay's group) goes to OUT. scripts/eevdf-waits.mjs reads it. The probe
# changes nothing; it ends with the command. Root, BTF, clang, bpftool, libbpf.
# docs/results.md, "Long slices for what alps does not boost".
#
#   scripts/eevdf-probe.sh OUT -- COMMAND...
#   e.g. scripts/eevdf-probe.sh /tmp/probe.txt -- node dist/cli.js replay \
#          --trace workloads/azure-like.csv --modes alps --workers fork --time-limit-s 40 --out /tmp/r
set -euo pipefail
out=${1:?usage: eevdf-probe.sh OUT -- COMMAND...}
shift
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "eevdf-probe: no command to run" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "eevdf-probe: needs root" >&2; exit 1; }
here=$(cd "$(dirname "$0")/eevdf-probe" && pwd)
build=$(mktemp -d)
probe=
cleanup() {
  [ -n "$probe" ] && kill "$probe" 2>/dev/null && wait "$probe" 2>/dev/null || true
  rm -rf "$build"
}
trap cleanup EXIT
bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$build/vmlinux.h"
clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -I"$build" -I"$here" -c "$here/probe.bpf.c" -o "$build/probe.bpf.o"
bpftool gen skeleton "$build/probe.bpf.o" name probe_bpf >"$build/probe.skel.h"
cc -O2 -Wall -I"$build" -I"$here" -o "$build/probe" "$here/probe.c" -lbpf -lelf -lz
"$build/probe" >"$out" &
probe=$!
sleep 0.5
"$@"
