/*
 * rt-load - a real-time CPU load shaped like the alps daemon's in a replay:
 * BURN_US of CPU at SCHED_FIFO 50 (the daemon's level), then asleep PERIOD_US,
 * for SECONDS. Used by scripts/rt-load.sh to measure what that much CPU at
 * real-time priority costs the host without alps (docs/results.md, "The
 * daemon's own CPU, as load").
 *
 *   rt-load BURN_US PERIOD_US SECONDS
 *
 * Bounded: each burst by RLIMIT_RTTIME (the kernel sends SIGXCPU, then
 * SIGKILL, past it), the whole run by RLIMIT_CPU, and the wall time by
 * SECONDS. The kernel's RT throttling stays as it is. SIGTERM or SIGINT ends
 * it early; it prints the CPU it used either way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static volatile sig_atomic_t stop;
static void on_stop(int sig) {
  (void)sig;
  stop = 1;
}

static long long now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long arg(const char *text, long lo, long hi, const char *name) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno != 0 || *end != 0 || v < lo || v > hi) {
    fprintf(stderr, "rt-load: %s must be an integer in [%ld, %ld], got '%s'\n", name, lo, hi, text);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: rt-load BURN_US PERIOD_US SECONDS\n");
    return 2;
  }
  long burn_us = arg(argv[1], 1, 10000, "BURN_US");
  long period_us = arg(argv[2], 100, 1000000, "PERIOD_US");
  long seconds = arg(argv[3], 1, 3600, "SECONDS");
  /* One burst may run 10 ms over its length; the whole run its share plus 1 s. */
  struct rlimit rt = {.rlim_cur = (rlim_t)burn_us + 10000, .rlim_max = (rlim_t)burn_us + 20000};
  long cpu_s = (long)((double)seconds * (double)burn_us / (double)(burn_us + period_us)) + 1;
  struct rlimit cpu = {.rlim_cur = (rlim_t)cpu_s, .rlim_max = (rlim_t)cpu_s + 1};
  if (setrlimit(RLIMIT_RTTIME, &rt) != 0 || setrlimit(RLIMIT_CPU, &cpu) != 0) {
    perror("rt-load: setrlimit");
    return 1;
  }
  struct sigaction sa = {.sa_handler = on_stop};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  struct sched_param sp = {.sched_priority = 50};
  if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0) {
    perror("rt-load: SCHED_FIFO");
    return 1;
  }
  long long end = now_ns(CLOCK_MONOTONIC) + seconds * 1000000000LL;
  long long used = 0;
  long bursts = 0;
  while (!stop && now_ns(CLOCK_MONOTONIC) < end) {
    long long c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    while (now_ns(CLOCK_THREAD_CPUTIME_ID) - c0 < burn_us * 1000LL) {
    }
    used += now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
    bursts++;
    struct timespec nap = {.tv_sec = period_us / 1000000, .tv_nsec = (period_us % 1000000) * 1000L};
    nanosleep(&nap, NULL); /* a signal ends the nap early; the loop checks stop */
  }
  fprintf(stderr, "rt-load: %ld bursts, %.0f ms of CPU\n", bursts, (double)used / 1e6);
  return 0;
}
