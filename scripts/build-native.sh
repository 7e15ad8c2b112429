#!/usr/bin/env bash
# Placeholder until the kernel side lands: records that no addon was built.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p native/build
echo '{"ok":false,"reason":"native addon not part of this build yet"}' > native/build/status.json
exit 0
