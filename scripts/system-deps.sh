#!/usr/bin/env bash
# Debian packages alps needs beyond Node: clang/llvm, libbpf-dev and bpftool
# build the BPF programs and the native addon; chromium renders the replay
# report in tests; prometheus gives the tests a real Prometheus server and
# promtool (test/kernel/metrics-prometheus.test.ts, test/deploy/); stress-ng
# loads both cores beside the kernel tests, to show they hold on a busy host
# (docs/testing.md).
# `system-deps.sh build` installs only the build packages (npm pack's
# prepack). Installs only what is missing, only as root on a system with
# apt-get, and never fails the set-up: without them alps still builds and
# runs in SFS mode, and `alps doctor` says why alps mode is unavailable.
# ALPS_SKIP_SYSTEM_DEPS=1 skips this step.
set -uo pipefail
[ "${ALPS_SKIP_SYSTEM_DEPS:-0}" = "1" ] && exit 0
command -v apt-get >/dev/null 2>&1 || exit 0
[ "$(id -u)" = "0" ] || exit 0

missing=()
command -v clang >/dev/null 2>&1 || missing+=(clang)
command -v llvm-strip >/dev/null 2>&1 || missing+=(llvm)
command -v bpftool >/dev/null 2>&1 || missing+=(bpftool)
[ -f /usr/include/bpf/libbpf.h ] || missing+=(libbpf-dev)
[ -f /usr/include/libelf.h ] || missing+=(libelf-dev)
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if [ "${1:-all}" != "build" ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v stress-ng >/dev/null 2>&1 || missing+=(stress-ng)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/tmp/alps-apt.log 2>&1; then
  echo "setup: warning: apt-get install failed (see /tmp/alps-apt.log); continuing without: ${missing[*]}" >&2
fi
# Debian's prometheus package enables a server on :9090 at boot; the tests
# start their own, so on a systemd host the packaged one is switched off again.
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
  systemctl disable --now prometheus.service >>/tmp/alps-apt.log 2>&1 || true
fi
exit 0
