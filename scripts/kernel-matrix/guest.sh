#!/bin/bash
# PID 1 of a kernel-matrix guest, on the host's root (read-only 9p under a
# tmpfs overlay; see init). Mounts what a worker host has, with cgroup v2
# only and the cpu controller enabled for children, then runs the steps the
# kernel command line names and writes each result into the output share,
# which scripts/kernel-matrix.sh reads back. Powers the guest off at the end,
# whatever happened.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
unset CI

arg() { sed -n "s/.*\\balps\\.$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
OUT=$(arg out)
PROJECT=$(arg project)
STEPS=$(arg steps)
FILTER=$(arg filter)
RESULT=$OUT/result.env
: >"$RESULT"
put() { echo "$1=$2" >>"$RESULT"; }
off() { sync; echo o >/proc/sysrq-trigger; sleep 30; }
trap off EXIT

put boot_s "$(uptime_s)"
put kernel "$(uname -r)"
# Fresh temporary directories, except one that holds the project or the
# output share (a checkout under /tmp): the overlay keeps those writable.
for d in /tmp /run /var/tmp /dev/shm; do
  case "$PROJECT/ $OUT/" in "$d"/* | *" $d"/*) continue ;; esac
  mkdir -p "$d" && mount -t tmpfs -o mode=1777 tmpfs "$d"
done
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
ip link set lo up

# Pure cgroup v2 with the cpu controller, as a v2 worker host has it.
if mount -t cgroup2 cgroup2 /sys/fs/cgroup && echo "+cpu" >/sys/fs/cgroup/cgroup.subtree_control; then
  put cgroup "v2 ($(cat /sys/fs/cgroup/cgroup.subtree_control))"
else
  put cgroup "v2 without the cpu controller"
fi
put cpus "$(nproc)"

cd "$PROJECT" || { put error "project $PROJECT missing in the guest"; exit 1; }
echo "guest: kernel $(uname -r) up at $(uptime_s)s; project $PROJECT; steps $STEPS"

step() { # name command...
  local name=$1 t0 t1 rc
  shift
  t0=$(uptime_s)
  "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  t1=$(uptime_s)
  put "${name}_rc" "$rc"
  put "${name}_s" "$(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}')"
  echo "guest: step $name exited $rc after $(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}')s"
}

case ",$STEPS," in *,doctor,*)
  step doctor sh -c "node dist/cli.js doctor --json >'$OUT/doctor.json'"
  node dist/cli.js doctor >"$OUT/doctor.txt" 2>&1
esac

case ",$STEPS," in *,tests,*)
  # One vitest run for every guest test (its start-up costs ~10 s here);
  # the JSON report says which passed, the facts file what was measured.
  export ALPS_KERNEL_FACTS=$OUT/facts.json
  # The tests' own processes (and the daemons they start) on the last CPU;
  # the tests pin the tasks they measure to CPU 0.
  pin=()
  [ "$(nproc)" -gt 1 ] && pin=(taskset -c "$(($(nproc) - 1))")
  step tests "${pin[@]}" node_modules/.bin/vitest run --project guest \
    --reporter=default --reporter=json --outputFile.json="$OUT/vitest.json" ${FILTER:+"$FILTER"}
esac
put done_s "$(uptime_s)"
