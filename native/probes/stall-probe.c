/*
 * stall-probe: how long one CPU could not run its most urgent task.
 *
 * Pinned to CPU at SCHED_FIFO 99 (reset on fork), the probe sleeps
 * PERIOD_US at a time on CLOCK_MONOTONIC and reports every wake-up that came
 * more than THRESHOLD_MS late. Nothing on the host outranks it, so such a
 * delay is time the CPU was not scheduling at all: the hypervisor had taken
 * the virtual CPU away, or the kernel ran that long without preempting.
 * `alps replay` runs one per CPU beside every mode and reports what they saw
 * (src/replay/stall-probe.ts), so a run the host stood still in says so.
 *
 * Output, one line each, times on CLOCK_MONOTONIC in ns:
 *   S <cpu> <woke_ns> <late_ns>     a stall, seen on waking at woke_ns
 *   E <cpu> <wakeups> <cpu_ns>      at the end: its wake-ups and its own CPU time
 *   X <reason>                      it could not run (exit status 3), or it
 *                                   stopped past its CPU bound (exit status 4)
 * It ends when its standard input closes (the replay ended or died). Its CPU
 * is bounded: past MAX_CPU_PERCENT of the wall time since it started (plus
 * 50 ms of slack for its start) it stops. Each wake-up costs it tens of µs
 * on a VM, so the bound is far above its use unless it runs away.
 *
 *   stall-probe CPU PERIOD_US THRESHOLD_MS MAX_CPU_PERCENT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int refuse(const char *what) {
  printf("X %s: %s\n", what, strerror(errno));
  return 3;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: stall-probe CPU PERIOD_US THRESHOLD_MS MAX_CPU_PERCENT\n");
    return 2;
  }
  int cpu = atoi(argv[1]);
  long period_us = atol(argv[2]);
  double threshold_ms = atof(argv[3]);
  double max_cpu_percent = atof(argv[4]);
  if (cpu < 0 || cpu >= CPU_SETSIZE || period_us < 100 || period_us > 1000000 ||
      !(threshold_ms > 0) || !(max_cpu_percent > 0 && max_cpu_percent <= 100)) {
    fprintf(stderr,
            "stall-probe: CPU 0..%d, PERIOD_US 100..1000000, THRESHOLD_MS > 0, MAX_CPU_PERCENT 0..100\n",
            CPU_SETSIZE - 1);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* A parent that died must not leave a write to a closed pipe killing us mid-line. */
  signal(SIGPIPE, SIG_IGN);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) return refuse("sched_setaffinity");
  struct sched_param param = {.sched_priority = 99};
  if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &param) != 0)
    return refuse("sched_setscheduler(SCHED_FIFO 99)");
  long long period_ns = period_us * 1000LL;
  long long threshold_ns = (long long)(threshold_ms * 1e6);
  long long started = now_ns(CLOCK_MONOTONIC);
  long long wakeups = 0;
  struct pollfd in = {.fd = STDIN_FILENO, .events = POLLIN};
  struct timespec timeout = {.tv_sec = period_ns / 1000000000LL, .tv_nsec = period_ns % 1000000000LL};
  for (;;) {
    long long before = now_ns(CLOCK_MONOTONIC);
    int ready = ppoll(&in, 1, &timeout, NULL);
    long long woke = now_ns(CLOCK_MONOTONIC);
    wakeups++;
    long long used = now_ns(CLOCK_THREAD_CPUTIME_ID);
    if (used > (long long)((woke - started) * (max_cpu_percent / 100)) + 50000000LL) {
      printf("X past its CPU bound: %lld ns of CPU in %lld ns\n", used, woke - started);
      return 4;
    }
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0) {
      char buf[256];
      /* EOF or an error on stdin: the replay is gone or done. Input is otherwise ignored. */
      if ((in.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0 || read(STDIN_FILENO, buf, sizeof(buf)) <= 0)
        break;
      continue;
    }
    long long late = woke - before - period_ns;
    if (late > threshold_ns) printf("S %d %lld %lld\n", cpu, woke, late);
  }
  printf("E %d %lld %lld\n", cpu, wakeups, now_ns(CLOCK_THREAD_CPUTIME_ID));
  return 0;
}
