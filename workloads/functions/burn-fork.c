/*
 * burn-fork - the function body of `alps replay --workers fork`: a fresh
 * process per invocation, as on a platform that starts a process (or a
 * cold sandbox) per request.
 *
 *   burn-fork zygote [tag]
 *   burn-fork worker [tag]   (a warm worker, for the daemon-cost benchmark)
 *
 * The tag is ignored; it marks the process (and its forks) in /proc/<pid>/cmdline
 * as belonging to one replay, for cleanup checks.
 *
 * Why a forking zygote in C, and not the dispatcher spawning a process per
 * invocation: a Node runtime costs ~40 ms of CPU to start, far more than
 * most invocations of the bundled traces, so the replay would measure Node's
 * start-up. And spawning from the dispatcher (a ~100 MB Node process) costs
 * it ~2 ms per invocation on this host (libuv forks it, then waits for the
 * exec), on the real-time thread that times every arrival. This zygote is a
 * few hundred kB; a fork of it costs ~0.1-0.2 ms, and it happens here, off
 * the dispatcher. The cost is the same in every mode: the child starts on
 * SCHED_OTHER nice 0 (the zygote is SCHED_FIFO with SCHED_RESET_ON_FORK,
 * set by the replay), places itself and waits; only then does anything of
 * alps (registration) happen.
 *
 * Protocol: text lines on fd 3, a socket to the replay. The zygote reads
 * commands; every child writes its lines (one write(2) each, far below the
 * socket buffer, so lines never interleave) on the same socket.
 *
 *   replay -> zygote  F <id> <cpu_us> <block_us> <cap_ms> <n> <cgroup.procs path> x n
 *   child  -> replay  R <id> <pid>                         placed, waiting for SIGUSR1
 *   child  -> replay  D <id> <pid> <start_ns> <end_ns> <cpu_ns> <nice> <policy>
 *   any    -> replay  E <id> <message>                     the invocation failed
 *
 * The child writes its pid into every cgroup.procs file given (its sandbox:
 * a cgroup v2 directory, and the v1 cpu cgroup on a hybrid host), sleeps
 * once there (see child()), reports R,
 * and blocks in sigwaitinfo() until the replay sends SIGUSR1 (after it has
 * registered the pid with alps, when it does). Its first instruction after
 * the wake-up reads the clock, its own nice and scheduling policy (what the
 * replay checks: registered before the first instruction). It then burns
 * cpu_us of CPU on its thread CPU clock (read about every 100 us of work,
 * never in a tight loop: each read is a runtime update alps's BPF program
 * sees), sleeps block_us, reports D and exits.
 *
 * A worker runs the same invocation body in its own process, one per
 *   "W <id> <cpu_us> <block_us>" line on fd 3, answering each with a D line.
 *
 * Bounds, so nothing outlives a replay that went wrong: the child dies with
 * the zygote (PR_SET_PDEATHSIG), after cap_ms of wall time (alarm), and past
 * its CPU demand plus 2 s (RLIMIT_CPU). The zygote exits at end of file on
 * fd 3, when the replay closes the socket or dies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHANNEL_FD 3
#define MAX_LINE 8192
#define MAX_CGROUPS 4

static long long now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One write(2) per line: lines from many children never interleave. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n >= (int)sizeof(buf)) n = sizeof(buf) - 1;
  ssize_t off = 0;
  while (off < n) {
    ssize_t w = write(CHANNEL_FD, buf + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(4); /* the replay is gone */
    off += w;
  }
}

static volatile unsigned long sink;
/* Iterations of work() per microsecond of CPU, measured once by the zygote. */
static double iters_per_us = 100;

/* Integer work that touches no memory beyond a register. */
static void work(long iterations) {
  unsigned long x = sink;
  for (long i = 0; i < iterations; i++) x = x * 1103515245u + 12345u + (unsigned long)i;
  sink = x;
}

static void calibrate(void) {
  long long t0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
  work(2000000);
  long long took = now_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
  if (took > 0) iters_per_us = 2000000.0 * 1000.0 / (double)took;
}

/* One invocation: its first instruction reads the clock and its own level, then it burns and blocks. */
static void invoke(long id, long cpu_us, long block_us) {
  long long start = now_ns(CLOCK_MONOTONIC);
  long long cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
  int nice = getpriority(PRIO_PROCESS, 0); /* this thread's nice on Linux */
  int policy = sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;
  long long end_cpu = cpu0 + cpu_us * 1000LL;
  /* Chunks of ~100 us, smaller near the end so a 0.1 ms invocation is not rounded up. */
  for (long long now = cpu0; now < end_cpu; now = now_ns(CLOCK_THREAD_CPUTIME_ID)) {
    long long left_us = (end_cpu - now) / 1000 + 1;
    work((long)(iters_per_us * (double)(left_us < 100 ? left_us : 100)));
  }
  long long used = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  if (block_us > 0) {
    struct timespec ts = {.tv_sec = block_us / 1000000, .tv_nsec = (block_us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
  }
  long long end = now_ns(CLOCK_MONOTONIC);
  say("D %ld %d %lld %lld %lld %d %d\n", id, (int)getpid(), start, end, used, nice, policy);
}

static int join_cgroup(const char *procs, pid_t pid) {
  int fd = open(procs, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[32];
  int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
  ssize_t w = write(fd, buf, (size_t)n);
  int saved = errno;
  close(fd);
  errno = saved;
  return w == n ? 0 : -1;
}

static void child(long id, long cpu_us, long block_us, long cap_ms, int ncg, char **cgroups,
                  pid_t zygote) {
  pid_t pid = getpid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != zygote) _exit(5); /* the zygote died before the line above */
  alarm((unsigned)(cap_ms / 1000 + 1));
  struct rlimit cpu = {.rlim_cur = (rlim_t)(cpu_us / 1000000 + 2),
                       .rlim_max = (rlim_t)(cpu_us / 1000000 + 3)};
  setrlimit(RLIMIT_CPU, &cpu);
  for (int i = 0; i < ncg; i++) {
    if (join_cgroup(cgroups[i], pid) != 0) {
      say("E %ld cannot join %s: %s\n", id, cgroups[i], strerror(errno));
      _exit(6);
    }
  }
  /* Sleep once inside the sandbox before saying so. alps's BPF side finds a
   * sandbox's tasks when they wake up (or fork) in its cgroup; a process moved
   * in that never sleeps before it runs the function would go unseen if the
   * go signal arrived before sigwaitinfo() blocked (driver sandbox missed a
   * third of the invocations that way). A 1 ns sleep with 1 ns of timer slack
   * costs a few microseconds, the same in every mode. */
  prctl(PR_SET_TIMERSLACK, 1UL);
  struct timespec nap = {.tv_sec = 0, .tv_nsec = 1};
  nanosleep(&nap, NULL);
  sigset_t go;
  sigemptyset(&go);
  sigaddset(&go, SIGUSR1);
  say("R %ld %d\n", id, (int)pid);
  while (sigwaitinfo(&go, NULL) < 0) {
    if (errno != EINTR) {
      say("E %ld sigwaitinfo: %s\n", id, strerror(errno));
      _exit(7);
    }
  }
  invoke(id, cpu_us, block_us);
  _exit(0);
}

/* Splits `line` at spaces into at most `max` fields; returns how many. */
static int split(char *line, char **fields, int max) {
  int n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(line, " ", &save); tok && n < max; tok = strtok_r(NULL, " ", &save))
    fields[n++] = tok;
  return n;
}

/* Invocations forked and not yet reaped: a child that dies without its D
 * line (killed by its CPU or wall bound, a signal) is reported as E, so the
 * replay never waits for it forever. */
#define MAX_CHILDREN 65536
static struct { pid_t pid; long id; } children[MAX_CHILDREN];
static int nchildren;
static volatile sig_atomic_t child_exited;

static void on_sigchld(int sig) {
  (void)sig;
  child_exited = 1;
}

static void reap(void) {
  child_exited = 0;
  int status;
  for (pid_t pid = waitpid(-1, &status, WNOHANG); pid > 0; pid = waitpid(-1, &status, WNOHANG)) {
    for (int i = 0; i < nchildren; i++) {
      if (children[i].pid != pid) continue;
      if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        if (WIFSIGNALED(status))
          say("E %ld pid %d killed by signal %d\n", children[i].id, (int)pid, WTERMSIG(status));
        else
          say("E %ld pid %d exited %d\n", children[i].id, (int)pid, WEXITSTATUS(status));
      }
      children[i] = children[--nchildren];
      break;
    }
  }
}

static void command(char *line, pid_t zygote) {
  char *f[6 + MAX_CGROUPS];
  int n = split(line, f, 6 + MAX_CGROUPS);
  if (n < 6 || strcmp(f[0], "F") != 0) {
    say("E -1 bad command (%d fields)\n", n);
    return;
  }
  long id = atol(f[1]), cpu_us = atol(f[2]), block_us = atol(f[3]), cap_ms = atol(f[4]);
  int ncg = atoi(f[5]);
  if (ncg < 0 || ncg > MAX_CGROUPS || n != 6 + ncg || cpu_us < 0 || block_us < 0 || cap_ms <= 0) {
    say("E %ld bad fork command\n", id);
    return;
  }
  if (nchildren == MAX_CHILDREN) {
    say("E %ld more than %d invocations at once\n", id, MAX_CHILDREN);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) child(id, cpu_us, block_us, cap_ms, ncg, f + 6, zygote);
  if (pid < 0) {
    say("E %ld fork: %s\n", id, strerror(errno));
    return;
  }
  children[nchildren].pid = pid;
  children[nchildren].id = id;
  nchildren++;
}

/* A warm worker: one invocation per "W <id> <cpu_us> <block_us>" line, in this process. */
static int warm_worker(void) {
  static char buf[MAX_LINE];
  size_t have = 0;
  for (;;) {
    ssize_t r = read(CHANNEL_FD, buf + have, sizeof(buf) - 1 - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0;
    have += (size_t)r;
    buf[have] = 0;
    char *start = buf;
    for (char *nl = strchr(start, '\n'); nl; nl = strchr(start, '\n')) {
      *nl = 0;
      char *f[4];
      if (split(start, f, 4) == 4 && strcmp(f[0], "W") == 0)
        invoke(atol(f[1]), atol(f[2]), atol(f[3]));
      else
        say("E -1 bad worker command\n");
      start = nl + 1;
    }
    have = (size_t)(buf + have - start);
    memmove(buf, start, have);
    if (have == sizeof(buf) - 1) have = 0;
  }
}

int main(int argc, char **argv) {
  /* A second argument (the replay's --alps-replay=<pid> tag) is only there to be seen in cmdline. */
  int zygote = (argc == 2 || argc == 3) && strcmp(argv[1], "zygote") == 0;
  int worker = (argc == 2 || argc == 3) && strcmp(argv[1], "worker") == 0;
  if (!zygote && !worker) {
    fprintf(stderr, "usage: burn-fork zygote|worker [tag]   (driven on fd 3 by alps replay / npm run bench)\n");
    return 2;
  }
  if (worker) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    calibrate();
    return warm_worker();
  }
  /* Children are reaped here (see reap()). SIGCHLD is blocked except while
   * waiting in ppoll(), so no exit slips between a check and the wait. */
  struct sigaction chld = {0};
  chld.sa_handler = on_sigchld;
  sigemptyset(&chld.sa_mask);
  sigaction(SIGCHLD, &chld, NULL);
  /* SIGUSR1 stays blocked (inherited) so a child can wait for it. */
  sigset_t blocked, waiting;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGUSR1);
  sigaddset(&blocked, SIGCHLD);
  sigprocmask(SIG_BLOCK, &blocked, &waiting);
  sigaddset(&waiting, SIGUSR1);
  sigdelset(&waiting, SIGCHLD);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  calibrate();
  pid_t self = getpid();
  static char buf[MAX_LINE];
  size_t have = 0;
  for (;;) {
    if (child_exited) reap();
    struct pollfd channel = {.fd = CHANNEL_FD, .events = POLLIN};
    if (ppoll(&channel, 1, NULL, &waiting) < 0) continue; /* EINTR: a child exited */
    ssize_t r = read(CHANNEL_FD, buf + have, sizeof(buf) - 1 - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0; /* the replay closed the socket */
    have += (size_t)r;
    buf[have] = 0;
    char *start = buf;
    for (char *nl = strchr(start, '\n'); nl; nl = strchr(start, '\n')) {
      *nl = 0;
      command(start, self);
      start = nl + 1;
    }
    have = (size_t)(buf + have - start);
    memmove(buf, start, have);
    if (have == sizeof(buf) - 1) {
      say("E -1 command line too long\n");
      have = 0;
    }
  }
}
