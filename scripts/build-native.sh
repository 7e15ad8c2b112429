#!/usr/bin/env bash
# Builds the kernel side of alps: the BPF object (bpf/alps.bpf.c) and the
# native addon (native/). It NEVER fails the overall build: alps mode is
# optional, so on any failure it records why in native/build/status.json
# ({"ok":false,"reason":"..."}) and exits 0; `alps doctor` reads that reason.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=native/build
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

# The addon first: node-gyp rebuild wipes native/build, so its log goes to
# a temporary file and is moved in afterwards.
GYPLOG=$(mktemp)
(cd native && $GYP rebuild $NODEDIR_ARG) >"$GYPLOG" 2>&1
GYPRC=$?
mkdir -p "$OUT"
mv -f "$GYPLOG" "$LOG"
[ $GYPRC -eq 0 ] || fail "native addon build failed (node-gyp; see $LOG: $(grep -m1 -E 'error' "$LOG" | cut -c1-200))"

bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$OUT/vmlinux.h" 2>>"$LOG" ||
  fail "bpftool could not dump /sys/kernel/btf/vmlinux (see $LOG)"
clang -O2 -g -Wall -target bpf -D__TARGET_ARCH_x86 -I"$OUT" -Ibpf -c bpf/alps.bpf.c -o "$OUT/alps.bpf.o" >>"$LOG" 2>&1 ||
  fail "clang could not compile bpf/alps.bpf.c (see $LOG)"

write_status true "built $OUT/Release/alps_native.node and $OUT/alps.bpf.o"
echo "build-native: ok"
