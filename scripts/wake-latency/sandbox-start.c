/*
 * How long a boosted sandbox's fresh process waits on the run queue: the
 * start of a fork-worker invocation under alps, without alps's daemon.
 *
 * Per round: fork a child that stops itself; put it on SCHED_OTHER nice 0 and
 * into the sandbox's cpu cgroup (v1 cpu.shares); then, as alps's
 * registration does, give it nice -20 (and optionally a sched_runtime slice
 * request) and the sandbox the weight of nice -20; SIGCONT it and time the
 * gap to its first instruction on CLOCK_MONOTONIC. The child then burns
 * BURN_MS of CPU and exits; the sandbox's weight goes back to 1024, as at an
 * invocation's end. This process may run on SCHED_FIFO, as the replay's
 * zygote does (scripts/wake-latency.sh).
 *
 *   sandbox-start CGROUP_DIR ROUNDS SLICE_NS BURN_MS
 *
 * Prints one line: mean, p50, p90, p99 and max of the gap, ms.
 */
#define _GNU_SOURCE
#include <linux/sched/types.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double thread_cpu_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void write_file(const char *dir, const char *name, const char *value) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (f == NULL || fputs(value, f) < 0 || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

static void set_fair(pid_t pid, int nice, unsigned long long slice_ns) {
  struct sched_attr a;
  memset(&a, 0, sizeof(a));
  a.size = sizeof(a);
  a.sched_policy = 0; /* SCHED_OTHER */
  a.sched_nice = nice;
  a.sched_runtime = slice_ns;
  if (syscall(SYS_sched_setattr, pid, &a, 0) != 0) {
    perror("sched_setattr");
    exit(1);
  }
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: sandbox-start CGROUP_DIR ROUNDS SLICE_NS BURN_MS\n");
    return 2;
  }
  const char *sandbox = argv[1];
  int rounds = atoi(argv[2]);
  unsigned long long slice_ns = strtoull(argv[3], NULL, 10);
  double burn_ms = atof(argv[4]);
  if (rounds < 1 || rounds > 100000 || !(burn_ms >= 0 && burn_ms <= 100)) {
    fprintf(stderr, "sandbox-start: ROUNDS 1..100000, BURN_MS 0..100\n");
    return 2;
  }
  double *gap = calloc((size_t)rounds, sizeof(double));
  if (gap == NULL) return 1;
  for (int i = 0; i < rounds; i++) {
    int pipefd[2];
    if (pipe(pipefd) != 0) return 1;
    pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) {
      close(pipefd[0]);
      raise(SIGSTOP);
      double first = mono_ms();
      if (write(pipefd[1], &first, sizeof(first)) != sizeof(first)) _exit(1);
      /* Bounded: BURN_MS of this thread's CPU, at most 100 ms. */
      double start = thread_cpu_ms();
      while (thread_cpu_ms() - start < burn_ms) {
      }
      _exit(0);
    }
    close(pipefd[1]);
    int status;
    if (waitpid(child, &status, WUNTRACED) != child || !WIFSTOPPED(status)) return 1;
    set_fair(child, 0, 0);
    char pid[32];
    snprintf(pid, sizeof(pid), "%d\n", (int)child);
    write_file(sandbox, "cgroup.procs", pid);
    set_fair(child, -20, slice_ns);
    write_file(sandbox, "cpu.shares", "88761\n");
    double sent = mono_ms();
    kill(child, SIGCONT);
    double first;
    if (read(pipefd[0], &first, sizeof(first)) != sizeof(first)) return 1;
    close(pipefd[0]);
    waitpid(child, &status, 0);
    write_file(sandbox, "cpu.shares", "1024\n");
    gap[i] = first - sent;
  }
  qsort(gap, (size_t)rounds, sizeof(double), by_value);
  double sum = 0;
  for (int i = 0; i < rounds; i++) sum += gap[i];
  printf("slice request %llu ns: start gap ms mean %.3f p50 %.3f p90 %.3f p99 %.3f max %.3f (%d rounds)\n",
         slice_ns, sum / rounds, gap[rounds / 2], gap[rounds * 9 / 10], gap[rounds * 99 / 100],
         gap[rounds - 1], rounds);
  free(gap);
  return 0;
}
