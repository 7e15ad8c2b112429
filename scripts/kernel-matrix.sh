#!/usr/bin/env bash
# The kernel matrix (npm run test:kernels; docs/kernels.md): boots Debian's
# kernel packages under qemu (software emulation, TCG: no KVM here) with the
# host's own files as the guest's root (read-only 9p under a tmpfs overlay,
# the way virtme-style tools do it), so the guest runs this checkout's Node,
# build and tests without a disk image. In each guest: `alps doctor --json`,
# then the `guest` vitest project (test/guest/: BPF smoke test, a
# two-function run, the cgroup v2 weight test). Prints one line per kernel:
# version, mode chosen, what passed, what the kernel lacks.
#
#   scripts/kernel-matrix.sh [--kernels 6.1,6.12,5.10,host] [--ci]
#
# Kernels (default 6.1,6.12): 6.1 (Debian 12's), 6.12 (Debian's 6.12, on
# Debian 12 from its security suite), 5.10 (Debian 11's, fetched with apt
# state of its own in the cache; alps is expected to fall back to sfs there),
# an explicit package name (linux-image-…), or `host` (this machine's
# kernel, no VM; its BPF runs under the shared kernel lock
# /tmp/alps-kernel.lock; on a shared host its timing tests measure other
# people's load too). --ci: 6.1 only (what .ci/run runs).
#
# Everything it needs installs itself (root, Debian): qemu-system-x86 and
# busybox-static with apt-get, kernel packages with `apt-get download` and
# `dpkg-deb -x` into the cache (ALPS_KERNEL_CACHE, default .cache/kernels,
# git-ignored); nothing downloaded is ever committed. Results of each run go
# to ALPS_KERNEL_MATRIX_OUT (default .cache/kernel-matrix/<timestamp>).
#
# Exit status: non-zero when a guest did not boot or report, or on a kernel
# expected to run alps when alps mode, the BPF smoke test, the two-function
# run or the cgroup v2 weight test failed; on a kernel expected to fall back
# to sfs, when doctor picked anything else. ALPS_WEIGHT_TEST_REQUIRED=0
# reports the weight test without requiring it (it needs the actuator that
# writes sandbox cgroups' cpu.weight/cpu.idle).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
HERE=$ROOT/scripts/kernel-matrix

KERNELS=${ALPS_KERNELS:-6.1,6.12}
while [ $# -gt 0 ]; do
  case $1 in
    --kernels) KERNELS=$2; shift 2 ;;
    --kernels=*) KERNELS=${1#*=}; shift ;;
    --ci) KERNELS=6.1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "kernel-matrix: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

CACHE=${ALPS_KERNEL_CACHE:-$ROOT/.cache/kernels}
OUT=${ALPS_KERNEL_MATRIX_OUT:-$ROOT/.cache/kernel-matrix/$(date -u +%Y%m%dT%H%M%SZ)}
ACCEL=${ALPS_QEMU_ACCEL:-tcg}
# Two vCPUs: the competing burners are pinned to CPU 0 and the tests and
# daemon run on CPU 1, so the daemon's own work (slow under emulation) does
# not take CPU from the tasks whose shares are measured. Both vCPUs run on
# one host thread (tcg,thread=single): it costs this shared host one core,
# and multi-threaded TCG let one vCPU execute a stale int3 while the other
# live-patched the kernel's text to attach the tracepoints (6.12 oopsed in
# ttwu_do_activate; see docs/kernels.md).
SMP=${ALPS_GUEST_CPUS:-2}
MEM=${ALPS_GUEST_MEM:-2048}
TIMEOUT_S=${ALPS_GUEST_TIMEOUT_S:-900}
WEIGHT_REQUIRED=${ALPS_WEIGHT_TEST_REQUIRED:-1}
# ALPS_GUEST_FILTER: a vitest file filter for the guest tests (development only).
# Modules the Debian kernels keep outside their image that the guest needs
# before it has a root: virtio PCI, the 9p transport and filesystem, overlayfs.
MODULES="virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p overlay"

say() { echo "kernel-matrix: $*" >&2; }
die() { say "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (the guest's devices and the host row's BPF)"

# --- set-up: system packages, the build -------------------------------------
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need_pkgs+=(qemu-system-x86)
if ! { [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; }; then need_pkgs+=(busybox-static); fi
command -v xz >/dev/null 2>&1 || need_pkgs+=(xz-utils)
command -v taskset >/dev/null 2>&1 || need_pkgs+=(util-linux)
APT_UPDATED=0
apt_update() { [ $APT_UPDATED = 1 ] || { apt-get update -qq >/dev/null; APT_UPDATED=1; }; }
if [ ${#need_pkgs[@]} -gt 0 ]; then
  say "installing ${need_pkgs[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null ||
    die "apt-get install ${need_pkgs[*]} failed"
fi
if [ "${ALPS_KERNEL_MATRIX_SKIP_SETUP:-0}" != 1 ]; then
  bash scripts/setup.sh >&2
fi
[ -f dist/cli.js ] || die "dist/cli.js missing after the build"

mkdir -p "$CACHE" "$OUT"
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
FAILED=0

# --- kernels: resolve, fetch, unpack, initramfs ------------------------------
# apt options for kernel spec $1: none for this machine's own release; for
# another Debian release, sources derived from this machine's Debian sources
# (same mirrors and keyring, that release's suites) with lists and cache of
# their own under the kernel cache, so the machine's apt state is untouched.
APT_OPTS=()
apt_for() {
  APT_OPTS=()
  local suite
  case $1 in
    5.10) suite=bullseye ;;
    *) return 0 ;;
  esac
  local own d=$CACHE/apt-$suite
  own=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$own" ] || die "cannot tell this machine's Debian release (/etc/os-release)"
  mkdir -p "$d/sources.list.d" "$d/lists/partial" "$d/cache/archives/partial"
  : >"$d/sources.list"
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -q "debian" "$f" && grep -q "$own" "$f" || continue
    sed "s/\b$own\b/$suite/g" "$f" >"$d/sources.list.d/$(basename "$f")"
  done
  APT_OPTS=(-o "Dir::Etc::SourceList=$d/sources.list" -o "Dir::Etc::SourceParts=$d/sources.list.d"
    -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache")
  if [ ! -f "$d/updated" ] || [ -n "$(find "$d/updated" -mtime +1)" ]; then
    say "apt-get update for $suite (its own lists, in $d)"
    apt-get "${APT_OPTS[@]}" update -qq >/dev/null 2>&1 || die "apt-get update for $suite failed"
    touch "$d/updated"
  fi
}

# The mode alps is expected to pick on kernel spec $1, from what its BPF
# programs need (src/backend/kernel-features.ts): sched_switch's prev_state
# argument came in Linux 5.18, so older kernels fall back to sfs.
expected_mode() {
  case $1 in
    5.10) echo sfs ;;
    *) echo alps ;;
  esac
}

# Prints the Debian package that provides kernel spec $1 (highest version).
resolve_pkg() {
  local pattern
  case $1 in
    6.1) pattern='^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
    6.12) pattern='^linux-image-6\.12\.[0-9]+\+deb[0-9]+-amd64$' ;;
    5.10) pattern='^linux-image-5\.10\.0-[0-9]+-amd64$' ;;
    linux-image-*) pattern="^$(printf '%s' "$1" | sed 's/[.+]/\\&/g')\$" ;;
    *) return 1 ;;
  esac
  apt_for "$1"
  local found
  found=$(apt-cache "${APT_OPTS[@]}" search --names-only "$pattern" 2>/dev/null | awk '{print $1}' | sort -V | tail -1)
  if [ -z "$found" ] && [ ${#APT_OPTS[@]} = 0 ]; then
    apt_update
    found=$(apt-cache search --names-only "$pattern" 2>/dev/null | awk '{print $1}' | sort -V | tail -1)
  fi
  [ -n "$found" ] && echo "$found"
}

# Unpacks package $1 into $CACHE/$1 (kernel image, config, the modules above
# uncompressed, the initramfs) unless already there. Prints that directory.
prepare_kernel() {
  local pkg=$1 dir=$CACHE/$1
  if [ ! -f "$dir/ready" ]; then
    say "fetching $pkg"
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$dir.tmp/deb" "$dir.tmp/x"
    (cd "$dir.tmp/deb" && apt-get "${APT_OPTS[@]}" download "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
    dpkg-deb -x "$dir.tmp"/deb/*.deb "$dir.tmp/x"
    mkdir -p "$dir/modules"
    local vmlinuz
    vmlinuz=$(ls "$dir.tmp"/x/boot/vmlinuz-* | head -1)
    cp "$vmlinuz" "$dir/vmlinuz"
    cp "$dir.tmp"/x/boot/config-* "$dir/config"
    dpkg-deb -f "$dir.tmp"/deb/*.deb Version >"$dir/version"
    basename "$vmlinuz" | sed 's/^vmlinuz-//' >"$dir/release"
    local m f
    for m in $MODULES; do
      f=$(find "$dir.tmp/x/lib/modules" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -1)
      [ -n "$f" ] || continue # built into this kernel
      case $f in
        *.xz) xz -dc "$f" >"$dir/modules/$m.ko" ;;
        *.zst) zstd -qdc "$f" >"$dir/modules/$m.ko" ;;
        *) cp "$f" "$dir/modules/$m.ko" ;;
      esac
    done
    rm -rf "$dir.tmp"
    touch "$dir/ready"
  fi
  if [ ! -f "$dir/initrd.gz" ] || [ "$HERE/init" -nt "$dir/initrd.gz" ]; then
    local stage=$dir/initrd.stage
    rm -rf "$stage"
    mkdir -p "$stage/bin" "$stage/dev" "$stage/modules"
    cp /bin/busybox "$stage/bin/busybox"
    mknod "$stage/dev/console" c 5 1
    cp "$HERE/init" "$stage/init"
    cp "$dir"/modules/*.ko "$stage/modules/" 2>/dev/null || true
    (cd "$stage" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 >"../initrd.gz.tmp")
    mv "$dir/initrd.gz.tmp" "$dir/initrd.gz"
    rm -rf "$stage"
  fi
  echo "$dir"
}

# Boots kernel dir $1 with results into $2. Returns qemu's status.
boot_guest() {
  local kdir=$1 out=$2
  local append="console=ttyS0 loglevel=4 panic=-1 rdinit=/init"
  append+=" alps.guest=$HERE/guest.sh alps.project=$ROOT alps.out=$out alps.steps=doctor,tests"
  [ -n "${ALPS_GUEST_FILTER:-}" ] && append+=" alps.filter=$ALPS_GUEST_FILTER"
  local cpu=max
  [ "$ACCEL" = kvm ] && cpu=host
  local accel=$ACCEL
  [ "$ACCEL" = tcg ] && accel=tcg,thread=single
  timeout "$TIMEOUT_S" qemu-system-x86_64 -machine q35 -accel "$accel" -cpu "$cpu" \
    -smp "$SMP" -m "$MEM" -display none -monitor none -serial "file:$out/console.log" -no-reboot -nic none \
    -kernel "$kdir/vmlinuz" -initrd "$kdir/initrd.gz" -append "$append" \
    -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
    -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
    -fsdev "local,id=out,path=$out,security_model=none" \
    -device virtio-9p-pci,fsdev=out,mount_tag=out \
    </dev/null >"$out/qemu.log" 2>&1
}

# The host row: the same steps on this machine's kernel, no VM. Its BPF is
# the host's, so the tests hold the shared kernel lock.
run_host() {
  local out=$1 t0 t1
  : >"$out/result.env"
  echo "kernel=$(uname -r)" >>"$out/result.env"
  echo "cgroup=$(stat -fc %T /sys/fs/cgroup | sed 's/cgroup2fs/v2/;s/tmpfs/v1 or hybrid/')" >>"$out/result.env"
  echo "cpus=$(nproc)" >>"$out/result.env"
  t0=$(date +%s.%N)
  local rc=0
  node dist/cli.js doctor --json >"$out/doctor.json" 2>"$out/doctor.log" || rc=$?
  echo "doctor_rc=$rc" >>"$out/result.env"
  t1=$(date +%s.%N)
  echo "doctor_s=$(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}')" >>"$out/result.env"
  t0=$(date +%s.%N)
  rc=0
  ALPS_KERNEL_FACTS=$out/facts.json CI= flock /tmp/alps-kernel.lock \
    node_modules/.bin/vitest run --project guest --reporter=default --reporter=json \
    --outputFile.json="$out/vitest.json" >"$out/tests.log" 2>&1 || rc=$?
  echo "tests_rc=$rc" >>"$out/result.env"
  t1=$(date +%s.%N)
  echo "tests_s=$(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}')" >>"$out/result.env"
}

IFS=, read -r -a specs <<<"$KERNELS"
for spec in "${specs[@]}"; do
  label=$spec
  dir=$OUT/$label
  mkdir -p "$dir"
  if [ "$spec" = host ]; then
    say "host kernel $(uname -r): doctor and the guest tests, no VM"
    run_host "$dir"
    origin="this host, no VM"
    wall=""
  else
    pkg=$(resolve_pkg "$spec") || pkg=""
    if [ -z "$pkg" ]; then
      line="kernel $spec: not available from this machine's apt sources"
      echo "$line" | tee -a "$SUMMARY"
      FAILED=1
      continue
    fi
    apt_for "$spec" # in this shell: prepare_kernel downloads with the same sources
    kdir=$(prepare_kernel "$pkg")
    say "booting $pkg ($(cat "$kdir/version")) under qemu ($ACCEL, $SMP cpu): console in $dir/console.log"
    t0=$(date +%s.%N)
    qemu_rc=0
    boot_guest "$kdir" "$dir" || qemu_rc=$?
    [ $qemu_rc = 0 ] || say "qemu exited with status $qemu_rc (see $dir/qemu.log and $dir/console.log)"
    t1=$(date +%s.%N)
    wall=$(echo "$t0 $t1" | awk '{printf "%.0f", $2 - $1}')
    origin="Debian $pkg $(cat "$kdir/version"), qemu $ACCEL, $SMP cpu, ${wall} s wall"
  fi
  line=$(node "$HERE/summary.mjs" "$dir" "$origin" "$WEIGHT_REQUIRED" "$(expected_mode "$spec")") || FAILED=1
  echo "$line" | tee -a "$SUMMARY"
done
say "results in $OUT (summary.txt, and per kernel: console.log, doctor.json, vitest.json, facts.json)"
exit $FAILED
