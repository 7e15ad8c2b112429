#!/usr/bin/env bash
# Build everything: the BPF object and native addon (optional: a failure is
# recorded in native/build/status.json and reported by `alps doctor`), the
# replay's C helpers (optional), then the TypeScript (required).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-native.sh
bash scripts/build-helpers.sh
npx tsc -p tsconfig.build.json
chmod +x dist/cli.js
