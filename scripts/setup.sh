#!/usr/bin/env bash
# Idempotent set-up run before `npm start`, `npm test` and `npm run bench`:
# system packages for the BPF build (when root on Debian), npm dependencies
# when missing or older than the lockfile, then the build. A second run on a
# set-up tree does nothing but a quick incremental build.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/system-deps.sh

if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

bash scripts/build.sh
