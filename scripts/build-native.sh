#!/usr/bin/env bash
# Builds the kernel side of alps: the BPF object (bpf/alps.bpf.c) and the
# native addon (native/). It NEVER fails the overall build: alps mode is
# optional, so on any failure it records why in native/build/status.json
# ({"ok":false,"reason":"..."}) and exits 0; `alps doctor` reads that reason.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# ALPS_NATIVE_OUT: build elsewhere (the test that strips clang from PATH uses it,
# so it never clobbers the real build other processes are using).
OUT=${ALPS_NATIVE_OUT:-native/build}
STATUS=$OUT/status.json
LOG=$OUT/build-native.log

write_status() { # ok reason
  mkdir -p "$OUT"
  local reason=${2//\\/\\\\}
  reason=${reason//\"/\\\"}
  printf '{"ok":%s,"reason":"%s","built_at":"%s"}\n' "$1" "$reason" "$(date -u +%FT%TZ)" >"$STATUS"
}

fail() {
  write_status false "$1"
  echo "build-native: alps mode unavailable: $1" >&2
  exit 0
}

need() { # tool package
  command -v "$1" >/dev/null 2>&1 || fail "$1 not found (install $2)"
}

need clang "clang"
need bpftool "bpftool (linux-tools / bpftool package)"
need pkg-config "pkg-config"
pkg-config --exists libbpf 2>/dev/null || fail "libbpf not found by pkg-config (install libbpf-dev)"
[ -r /sys/kernel/btf/vmlinux ] || fail "/sys/kernel/btf/vmlinux missing: kernel built without BTF (CONFIG_DEBUG_INFO_BTF)"
need node "node"

# node-gyp: the one npm bundles (offline) unless a local one is installed.
GYP=""
if [ -x node_modules/.bin/node-gyp ]; then
  GYP="$ROOT/node_modules/.bin/node-gyp"
else
  NPM_ROOT=$(npm root -g 2>/dev/null)
  [ -f "$NPM_ROOT/npm/node_modules/node-gyp/bin/node-gyp.js" ] && GYP="node $NPM_ROOT/npm/node_modules/node-gyp/bin/node-gyp.js"
fi
[ -n "$GYP" ] || fail "node-gyp not found (neither node_modules/.bin nor npm's bundled copy)"
[ -d node_modules/node-addon-api ] || fail "node-addon-api not installed (run npm ci)"

# Local Node headers when the distro ships them, so no download is needed.
NODEDIR_ARG=""
[ -f /usr/include/node/node_api.h ] && NODEDIR_ARG="--nodedir=/usr"

# Several builds may run at once (npm test/bench/start each run setup):
# one at a time, and nothing is rebuilt when the outputs are newer than
# every source, so a running daemon or test never sees a half-built tree.
mkdir -p "$OUT/Release"
exec 9>"$OUT/.build.lock"
flock 9 || fail "could not lock $OUT/.build.lock"
NODE_FILE=$OUT/Release/alps_native.node
OBJ=$OUT/alps.bpf.o
if [ -f "$NODE_FILE" ] && [ -f "$OBJ" ] && grep -q '"ok":true' "$STATUS" 2>/dev/null &&
  [ -z "$(find bpf native/src native/binding.gyp scripts/build-native.sh -newer "$NODE_FILE" -print -quit)" ] &&
  [ -z "$(find bpf native/src -newer "$OBJ" -print -quit)" ]; then
  echo "build-native: up to date"
  exit 0
fi

# The addon is built in a staging tree (node-gyp rebuild wipes its build
# dir) and renamed into place, which is atomic for readers.
STAGE=$OUT/stage
rm -rf "$STAGE"
mkdir -p "$STAGE/native"
cp -r native/binding.gyp native/src "$STAGE/native/"
ln -s "$ROOT/bpf" "$STAGE/bpf"
ln -s "$ROOT/node_modules" "$STAGE/node_modules"
(cd "$STAGE/native" && $GYP rebuild $NODEDIR_ARG) >"$LOG" 2>&1 ||
  fail "native addon build failed (node-gyp; see $LOG: $(grep -m1 -E 'error' "$LOG" | cut -c1-200))"

bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$STAGE/vmlinux.h" 2>>"$LOG" ||
  fail "bpftool could not dump /sys/kernel/btf/vmlinux (see $LOG)"
clang -O2 -g -Wall -target bpf -D__TARGET_ARCH_x86 -I"$STAGE" -Ibpf -c bpf/alps.bpf.c -o "$STAGE/alps.bpf.o" >>"$LOG" 2>&1 ||
  fail "clang could not compile bpf/alps.bpf.c (see $LOG)"

mv -f "$STAGE/vmlinux.h" "$OUT/vmlinux.h"
mv -f "$STAGE/alps.bpf.o" "$OBJ"
mv -f "$STAGE/native/build/Release/alps_native.node" "$NODE_FILE"
rm -rf "$STAGE"
write_status true "built $OUT/Release/alps_native.node and $OUT/alps.bpf.o"
echo "build-native: ok"
