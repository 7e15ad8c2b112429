#!/usr/bin/env bash
# Runs before `npm pack` and `npm publish`. The tarball carries what was
# built here, not sources to compile on the user's machine: dist/ (the
# compiled TypeScript), the native addon and the BPF object (docs/install.md
# says why and how to rebuild them on a host). So: set up and build (the
# build's Debian packages, then scripts/setup.sh), then refuse to pack
# without the addon and the BPF object, which would give an alps that can
# only run SFS mode.
# ALPS_PACK_WITHOUT_NATIVE=1 packs anyway (the tarball's status.json then
# says why, and `alps doctor` repeats it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh build # not the test-only packages
ALPS_SKIP_SYSTEM_DEPS=1 bash scripts/setup.sh
if grep -q '"ok":true' native/build/status.json 2>/dev/null &&
  [ -f native/build/Release/alps_native.node ] && [ -f native/build/alps.bpf.o ]; then
  exit 0
fi
reason=$(cat native/build/status.json 2>/dev/null || echo "native/build/status.json missing")
if [ "${ALPS_PACK_WITHOUT_NATIVE:-0}" = "1" ]; then
  echo "prepack: warning: packing without the native addon and BPF object: $reason" >&2
  exit 0
fi
echo "prepack: the native addon or the BPF object was not built: $reason" >&2
echo "prepack: install the build dependencies (scripts/system-deps.sh) or set ALPS_PACK_WITHOUT_NATIVE=1" >&2
exit 1
