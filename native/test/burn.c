/*
 * burn - a CPU-bound function body for the kernel tests of alps.
 *
 *   burn <plan> <cap_ms>
 *
 * plan is a comma list of steps run in order:  b<ms> burn CPU, s<ms> sleep,
 * f<ms> fork a child that burns <ms> (waited for at the end),
 * t<ms> start a thread that burns <ms> (joined at the end).
 * cap_ms bounds the CPU time of each process (the main one with its threads,
 * and each forked child on its own): it exits with status 3 when reached, so
 * a test that goes wrong never leaves a spinning task behind. CPU time, not
 * wall time: a task alps makes yield (SCHED_IDLE) on a loaded host may wait
 * seconds for its few milliseconds of CPU, and that is the scheduler doing
 * what it was told, not a runaway.
 *
 * While burning, every ~100 us of CPU it samples its own thread's nice
 * (field 19 of /proc/thread-self/stat) and scheduling policy (field 41) and
 * prints a line whenever either changes, and at the start and end of each
 * step:  <who> <step> <thread_cpu_us> <nice> <policy> <monotonic_us>
 * It checks its CPU clock only every ~100 us of work (docs/architecture.md: polling a
 * CPU clock in a tight loop floods sched_stat_runtime).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long cap_ns;

static long long now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Fields 19 (nice) and 41 (policy) of one read of /proc/thread-self/stat. */
static void read_sched_once(int *nice, int *policy) {
  char buf[1024];
  int fd = open("/proc/thread-self/stat", O_RDONLY);
  ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
  if (fd >= 0) close(fd);
  *nice = 99;
  *policy = -1;
  if (n <= 0) return;
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* comm may contain spaces */
  if (!p) return;
  int field = 2;
  char *save = NULL;
  for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    field++;
    if (field == 19) *nice = atoi(tok);
    if (field == 41) { *policy = atoi(tok); break; }
  }
}

/* The task's nice and policy as one state. The kernel formats the stat file
 * without the run-queue lock, the nice some microseconds before the policy:
 * a change landing in between reads as the old nice beside the new policy
 * (seen: SCHED_IDLE -> nice 14 read once as SCHED_OTHER at nice 0). Two
 * reads that agree are one state; a change lands at most every few ms, so
 * a third read settles it. */
static void read_sched(int *nice, int *policy) {
  read_sched_once(nice, policy);
  for (int i = 0; i < 4; i++) {
    int again_nice, again_policy;
    read_sched_once(&again_nice, &again_policy);
    if (again_nice == *nice && again_policy == *policy) return;
    *nice = again_nice;
    *policy = again_policy;
  }
}

static void check_cap(void) {
  if (now_ns(CLOCK_PROCESS_CPUTIME_ID) > cap_ns) {
    printf("cap reached\n");
    fflush(stdout);
    _exit(3);
  }
}

/* One line, with the thread CPU time `cpu_ns` read by the caller. */
static void report_at(const char *who, int step, long long cpu_ns, int nice, int policy) {
  printf("%s %d %lld %d %d %lld\n", who, step, cpu_ns / 1000, nice, policy,
         now_ns(CLOCK_MONOTONIC) / 1000);
  fflush(stdout);
}

static void report(const char *who, int step, int nice, int policy) {
  report_at(who, step, now_ns(CLOCK_THREAD_CPUTIME_ID), nice, policy);
}

static volatile unsigned long sink;

static void burn(const char *who, int step, long ms) {
  int nice, policy, last_nice, last_policy;
  read_sched(&last_nice, &last_policy);
  /* The first line carries the very reading the end is counted from, so its
   * first and last lines span at least `ms` of CPU even where the guest's
   * CPU clock moves in ticks (software emulation). */
  long long start = now_ns(CLOCK_THREAD_CPUTIME_ID);
  long long end = start + ms * 1000000LL;
  report_at(who, step, start, last_nice, last_policy);
  while (now_ns(CLOCK_THREAD_CPUTIME_ID) < end) {
    for (int i = 0; i < 20000; i++) sink += i; /* ~100 us of work */
    read_sched(&nice, &policy);
    if (nice != last_nice || policy != last_policy) report(who, step, nice, policy);
    last_nice = nice;
    last_policy = policy;
    check_cap();
  }
  report(who, step, last_nice, last_policy);
}

struct thread_arg { long ms; int step; };

static void *thread_main(void *p) {
  struct thread_arg *a = p;
  burn("thread", a->step, a->ms);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: burn <plan> <cap_ms>\n");
    return 2;
  }
  cap_ns = atol(argv[2]) * 1000000LL;
  pthread_t threads[8];
  int nthreads = 0, nchildren = 0, step = 0;
  char *plan = strdup(argv[1]), *save = NULL;
  for (char *tok = strtok_r(plan, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    long ms = atol(tok + 1);
    step++;
    if (tok[0] == 'b') {
      burn("main", step, ms);
    } else if (tok[0] == 's') {
      int nice, policy;
      read_sched(&nice, &policy);
      report("main", step, nice, policy);
      usleep((useconds_t)(ms * 1000));
    } else if (tok[0] == 'f') {
      pid_t pid = fork();
      if (pid == 0) {
        burn("child", step, ms);
        _exit(0);
      }
      if (pid > 0) nchildren++;
    } else if (tok[0] == 't' && nthreads < 8) {
      struct thread_arg *a = malloc(sizeof(*a));
      a->ms = ms;
      a->step = step;
      if (pthread_create(&threads[nthreads], NULL, thread_main, a) == 0) nthreads++;
    } else {
      fprintf(stderr, "bad step %s\n", tok);
      return 2;
    }
  }
  for (int i = 0; i < nthreads; i++) pthread_join(threads[i], NULL);
  while (nchildren-- > 0) wait(NULL);
  printf("done\n");
  return 0;
}
