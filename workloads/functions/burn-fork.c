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
 * the dispatcher. The cost is the same in every mode.
 *
 * Processes are parked ahead of their invocation, as a sandbox's runtime
 * waits for a request: forked, on SCHED_OTHER nice 0, already inside their
 * sandbox, stopped. Moving a task into a cgroup waits for an RCU grace
 * period (8-16 ms on this kind of host when no other move happened just
 * before), longer than most invocations of the bundled traces; a platform
 * pays it when it starts a sandbox, not per request. When no parked process
 * is free, the replay parks one on the spot and counts a cold start.
 *
 * Protocol: text lines on fd 3, a socket to the replay. The zygote reads
 * commands; the zygote (both its threads) and every child write their lines
 * (one write(2) each, far below the socket buffer, so lines never
 * interleave) on the same socket.
 *
 *   replay -> zygote  P <id> <n> <cgroup.procs path> x n   park process <id>
 *   zygote -> replay  R <id> <pid>                         parked: placed, stopped
 *   replay -> zygote  G <id> <cpu_us> <block_us> <cap_ms>  run it
 *   replay -> zygote  H <id> <cpu_us> <block_us> <cap_ms>  hand it its demand,
 *                                                          left stopped: alps
 *                                                          continues it
 *   child  -> replay  D <id> <pid> <start_ns> <end_ns> <cpu_ns> <nice> <policy>
 *   any    -> replay  E <id> <message>                     it failed
 *
 * The zygote runs on SCHED_FIFO (set by the replay), so a fork never queues
 * behind the functions running. A parked child never needs a CPU inside its
 * sandbox before its invocation; the zygote places it while it is stopped:
 *
 * 1. The child, right after fork, still on the inherited SCHED_FIFO and in
 *    the zygote's cgroups, steps once through its start (rehearse(): its
 *    pages become its own) and stops itself (SIGSTOP): a few system calls
 *    and page faults, never queued behind the functions.
 * 2. The zygote sees the stop (waitpid WUNTRACED: the child is off the CPU
 *    for sure) and puts it on SCHED_OTHER nice 0 with sched_setattr (no
 *    flag: SCHED_RESET_ON_FORK cleared, as a sched_setscheduler by the task
 *    itself would). This comes before any move: with RT group scheduling
 *    (cpu.rt_runtime_us exists) a SCHED_FIFO task cannot join a v1 cpu
 *    cgroup that has no RT runtime, and sandboxes have none.
 * 3. The mover, a second thread of the zygote on its SCHED_FIFO level,
 *    writes the stopped child's pid into every cgroup.procs file given, in
 *    order (its sandbox: the v1 cpu cgroup on a hybrid host, then the cgroup
 *    v2 directory). A move waits for an RCU grace period; on the mover it
 *    does not hold up the main loop, which keeps answering G meanwhile (a
 *    fork still waits for a move in progress: both take the kernel's
 *    per-process cgroup lock). Moving a stopped task is allowed, and it
 *    stays stopped.
 * 4. Then the zygote reports R. A move a cgroup refuses is reported as E
 *    naming the file and the errno, and the child is killed and reaped.
 *
 * Before, the child demoted itself and wrote its own pid, then stopped:
 * from its first move on it ran at nice 0 in its sandbox's group, where the
 * other sandboxes' groups (boosted by alps to weights far above 1024) kept
 * it off the CPU for up to hundreds of ms, and an invocation whose process
 * was still parking waited for it: a harness artefact, and only with alps.
 *
 * At the invocation's arrival the replay registers the pid with alps, when
 * it does, and sends G: the zygote writes the invocation's demand into the
 * child's pipe and continues it (SIGCONT). A P that comes within 2 ms of a G
 * is held back until then (PARK_QUIET_NS, and never more than 10 ms), so the
 * continued child does not wait behind a fork.
 *
 * So the child runs inside its sandbox exactly once, from its invocation on:
 * alps's BPF side finds a sandbox's tasks when they wake up (or fork) in its
 * cgroup v2 directory, so it sees the invocation begin there (driver
 * sandbox), and not the parking (moving a stopped task wakes nothing). It
 * runs at nice 0 without alps and at its level with. Its first instruction
 * after the wake-up reads the clock, its own nice and scheduling policy
 * (what the replay checks: registered before the first instruction). It
 * then burns cpu_us of CPU on its thread CPU clock (read about every 100 us
 * of work, never in a tight loop: each read is a runtime update alps's BPF
 * program sees), sleeps block_us, reports D and exits.
 *
 * A worker runs the same invocation body in its own process, one per
 *   "W <id> <cpu_us> <block_us>" line on fd 3, answering each with a D line.
 *
 * Bounds, so nothing outlives a replay that went wrong: the child dies with
 * the zygote (PR_SET_PDEATHSIG), and once running after cap_ms of wall time
 * (alarm) and past its CPU demand plus 2 s (RLIMIT_CPU). The zygote exits at
 * end of file on fd 3, when the replay closes the socket or dies, after it
 * has killed and reaped every child still there (parked ones included).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
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

/* Reads the invocation's "<cpu_us> <block_us> <cap_ms>" from the pipe; 0 when it is there. */
static int read_demand(int fd, long *cpu_us, long *block_us, long *cap_ms) {
  char buf[96];
  size_t have = 0;
  for (;;) {
    ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    have += (size_t)r;
    if (memchr(buf, '\n', have) != NULL || have == sizeof(buf) - 1) break;
  }
  buf[have] = 0;
  return sscanf(buf, "%ld %ld %ld", cpu_us, block_us, cap_ms) == 3 && *cpu_us >= 0 &&
                 *block_us >= 0 && *cap_ms > 0
             ? 0
             : -1;
}

/* Steps through what the child does between its SIGCONT and its first
 * instruction, and what that instruction does, so their pages are its own
 * before it parks. A fresh fork shares the zygote's pages copy-on-write and
 * maps none of libc's code: every first write or first call faults. On this
 * kind of host (a paravirtualised guest) a fault costs 10-50 us; 8 of them
 * between the SIGCONT and the first instruction took 0.38 ms of CPU (median)
 * and up to several ms with preemptions, paid at the invocation's arrival.
 * A platform's sandbox has run its runtime's start-up before a request
 * comes, so its pages are in place; parking models that, and this is part
 * of parking, in every mode. */
static void rehearse(void) {
  volatile char stack[16384]; /* deeper than read_demand, invoke and say ever go */
  for (size_t i = 0; i < sizeof(stack); i += 512) stack[i] = 0;
  long a = 0, b = 0, c = 0;
  if (sscanf("1 2 3", "%ld %ld %ld", &a, &b, &c) != 3) return;
  char line[128];
  snprintf(line, sizeof(line), "D %ld %d %lld %lld %lld %d %d\n", a, (int)b, (long long)c, 0LL, 0LL,
           getpriority(PRIO_PROCESS, 0), sched_getscheduler(0));
  struct rlimit cpu;
  getrlimit(RLIMIT_CPU, &cpu);
  alarm(0); /* none is set: only the call's page */
  (void)now_ns(CLOCK_MONOTONIC);
  (void)now_ns(CLOCK_THREAD_CPUTIME_ID);
  work(1); /* writes `sink` */
}

/* The child, right after fork, still on the zygote's SCHED_FIFO and in its
 * cgroups: it rehearses its start (above) and stops itself. The zygote
 * places it while it is stopped (see the top), so it never needs a CPU
 * inside its sandbox before its invocation. */
static void child(long id, int demand_fd, pid_t zygote) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != zygote) _exit(5); /* the zygote died before the line above */
  /* Nothing of the zygote's but the channel and this pipe: the other parked
   * children's pipes stay theirs. */
  if (demand_fd > CHANNEL_FD + 1) close_range(CHANNEL_FD + 1, (unsigned)demand_fd - 1, 0);
  close_range((unsigned)demand_fd + 1, ~0U, 0);
  /* Should its group be orphaned all the same, the kernel's SIGHUP must
   * not kill a parked process (its SIGCONT only sends it to wait on the pipe). */
  signal(SIGHUP, SIG_IGN);
  rehearse();
  raise(SIGSTOP); /* the zygote places it, says R; G continues it */
  long cpu_us, block_us, cap_ms;
  if (read_demand(demand_fd, &cpu_us, &block_us, &cap_ms) != 0) {
    say("E %ld no invocation in its pipe\n", id);
    _exit(7);
  }
  close(demand_fd);
  alarm((unsigned)(cap_ms / 1000 + 1));
  struct rlimit cpu = {.rlim_cur = (rlim_t)(cpu_us / 1000000 + 2),
                       .rlim_max = (rlim_t)(cpu_us / 1000000 + 3)};
  setrlimit(RLIMIT_CPU, &cpu);
  invoke(id, cpu_us, block_us);
  _exit(0);
}

/* struct sched_attr as the kernel reads it (SCHED_ATTR_SIZE_VER0): glibc
 * before 2.41 has no sched_setattr(). */
struct sched_attr_v0 {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime, sched_deadline, sched_period;
};

/* SCHED_OTHER nice 0, with no flag (SCHED_RESET_ON_FORK cleared, as a
 * sched_setscheduler(SCHED_OTHER) by the task itself would): in one call, on
 * a stopped task. */
static int put_on_other(pid_t pid) {
  struct sched_attr_v0 attr = {.size = sizeof(attr), .sched_policy = SCHED_OTHER};
  return (int)syscall(SYS_sched_setattr, (int)pid, &attr, 0U);
}

/* A stopped child to place: the cgroup.procs files to write its pid to, in
 * order. Made by the main thread at P, handed to the mover when the child
 * has stopped, handed back with the outcome, freed by the main thread. */
struct move {
  struct move *next;
  long id;
  pid_t pid;
  int ncg;
  char *cgroups[MAX_CGROUPS];
  int failed_at; /* the cgroup that refused the pid, or -1 */
  int error;     /* its errno */
};

static void free_move(struct move *m) {
  if (m == NULL) return;
  for (int i = 0; i < m->ncg; i++) free(m->cgroups[i]);
  free(m);
}

/* The mover: one thread of the zygote, on the zygote's SCHED_FIFO (it
 * inherits the main thread's policy, priority and CPUs when it starts, at the
 * first P, after the replay has set them). A move into a cgroup waits for an
 * RCU grace period; on this thread it does not hold up the main loop, which
 * keeps forking and answering G meanwhile. Moves are done in the order the
 * children stopped; writers of cgroup.procs take one lock in the kernel, so
 * a second thread would not move faster. */
static pthread_mutex_t moves_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t moves_waiting = PTHREAD_COND_INITIALIZER;
static struct move *moves_head, *moves_tail;
static int moved_pipe[2] = {-1, -1}; /* mover -> main thread: finished moves (pointers) */
static int mover_running;
static int mover_busy; /* it holds a move (under moves_lock) */

static void *mover(void *unused) {
  (void)unused;
  for (;;) {
    pthread_mutex_lock(&moves_lock);
    while (moves_head == NULL) pthread_cond_wait(&moves_waiting, &moves_lock);
    struct move *m = moves_head;
    moves_head = m->next;
    if (moves_head == NULL) moves_tail = NULL;
    mover_busy = 1;
    pthread_mutex_unlock(&moves_lock);
    m->failed_at = -1;
    for (int i = 0; i < m->ncg; i++) {
      if (join_cgroup(m->cgroups[i], m->pid) != 0) {
        m->failed_at = i;
        m->error = errno;
        break;
      }
    }
    /* A pointer is far below PIPE_BUF: one atomic write. The main thread
     * reads them as it goes; should the pipe fill up, only this thread waits. */
    while (write(moved_pipe[1], &m, sizeof(m)) < 0 && errno == EINTR) {
    }
    pthread_mutex_lock(&moves_lock);
    mover_busy = 0;
    pthread_mutex_unlock(&moves_lock);
  }
  return NULL;
}

/* Starts the mover once; 0 when it runs. */
static int start_mover(void) {
  if (mover_running) return 0;
  if (pipe2(moved_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
  /* The mover's writes block when the pipe is full; the main thread's reads never do. */
  int flags = fcntl(moved_pipe[1], F_GETFL);
  fcntl(moved_pipe[1], F_SETFL, flags & ~O_NONBLOCK);
  pthread_t thread;
  /* Created with SIGCHLD blocked (the main thread's mask outside ppoll), so
   * the mover never takes the main loop's wake-up. */
  int err = pthread_create(&thread, NULL, mover, NULL);
  if (err != 0) {
    errno = err;
    return -1;
  }
  pthread_detach(thread);
  mover_running = 1;
  return 0;
}

static void queue_move(struct move *m) {
  m->next = NULL;
  pthread_mutex_lock(&moves_lock);
  if (moves_tail == NULL)
    moves_head = m;
  else
    moves_tail->next = m;
  moves_tail = m;
  pthread_cond_signal(&moves_waiting);
  pthread_mutex_unlock(&moves_lock);
}

/* Splits `line` at spaces into at most `max` fields; returns how many. */
static int split(char *line, char **fields, int max) {
  int n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(line, " ", &save); tok && n < max; tok = strtok_r(NULL, " ", &save))
    fields[n++] = tok;
  return n;
}

/* Processes forked and not yet reaped. A child that dies without its D
 * line (killed by its CPU or wall bound, a signal) is reported as E, so the
 * replay never waits for it forever. */
#define MAX_CHILDREN 65536
enum state {
  FORKED,  /* not stopped yet; `move` says where it goes */
  MOVING,  /* stopped, on SCHED_OTHER nice 0, its move with the mover */
  PARKED,  /* placed and stopped: R said */
  FAILED,  /* E said, killed: its death says nothing more */
};
static struct {
  pid_t pid;
  long id;
  int demand_fd; /* the write end of its pipe, until it is given its invocation */
  int handed;    /* 1: H gave it its demand, nobody has continued it yet;
                    -1: continued before its H came (alps was first) */
  enum state state;
  struct move *move; /* while FORKED */
} children[MAX_CHILDREN];
static int nchildren;
static volatile sig_atomic_t child_exited;

static void on_sigchld(int sig) {
  (void)sig;
  child_exited = 1;
}

/* Reported, killed; reaped by reap() like any other child, without a second E. */
static void fail_child(int i) {
  kill(children[i].pid, SIGKILL);
  children[i].state = FAILED;
  free_move(children[i].move);
  children[i].move = NULL;
}

/* Child i has stopped itself (still in the zygote's cgroups): put it on
 * SCHED_OTHER nice 0 (a SCHED_FIFO task cannot join a v1 cpu cgroup with
 * no RT runtime), then hand it to the mover. */
static void place(int i) {
  long id = children[i].id;
  pid_t pid = children[i].pid;
  if (put_on_other(pid) != 0) {
    say("E %ld cannot put pid %d on SCHED_OTHER nice 0: %s (errno %d)\n", id, (int)pid,
        strerror(errno), errno);
    fail_child(i);
    return;
  }
  struct move *m = children[i].move;
  if (m->ncg == 0) {
    say("R %ld %d\n", id, (int)pid);
    children[i].state = PARKED;
    free_move(m);
    children[i].move = NULL;
    return;
  }
  if (start_mover() != 0) {
    say("E %ld cannot start the mover thread: %s (errno %d)\n", id, strerror(errno), errno);
    fail_child(i);
    return;
  }
  m->pid = pid;
  children[i].move = NULL;
  children[i].state = MOVING;
  queue_move(m);
}

static int find_child(long id) {
  for (int i = 0; i < nchildren; i++)
    if (children[i].id == id) return i;
  return -1;
}

/* Moves the mover has finished: R when every cgroup took the pid, else E and
 * the child killed (reaped later by reap()). */
static void moved(void) {
  struct move *m;
  for (;;) {
    ssize_t r = read(moved_pipe[0], &m, sizeof(m));
    if (r < 0 && errno == EINTR) continue;
    if (r != (ssize_t)sizeof(m)) return; /* EAGAIN: none left */
    int i = find_child(m->id);
    /* A child that died while it was moved has been reported already. */
    if (i >= 0 && children[i].pid == m->pid && children[i].state == MOVING) {
      if (m->failed_at < 0) {
        say("R %ld %d\n", m->id, (int)m->pid);
        children[i].state = PARKED;
      } else {
        say("E %ld cannot join %s: %s (errno %d)\n", m->id, m->cgroups[m->failed_at],
            strerror(m->error), m->error);
        fail_child(i);
      }
    }
    free_move(m);
  }
}

static void continued(int i);

static void reap(void) {
  child_exited = 0;
  int status;
  for (pid_t pid = waitpid(-1, &status, WNOHANG | WUNTRACED | WCONTINUED); pid > 0;
       pid = waitpid(-1, &status, WNOHANG | WUNTRACED | WCONTINUED)) {
    for (int i = 0; i < nchildren; i++) {
      if (children[i].pid != pid) continue;
      if (WIFSTOPPED(status)) {
        /* Its own SIGSTOP, once; any later stop is someone else's. */
        if (children[i].state == FORKED) place(i);
        break;
      }
      if (WIFCONTINUED(status)) {
        if (children[i].handed == 1)
          continued(i);
        else if (children[i].state == PARKED && children[i].demand_fd >= 0)
          children[i].handed = -1; /* alps continued it before its H: it waits on its pipe */
        break;
      }
      if (children[i].handed == 1) continued(i); /* gone without a continue: nothing to wait for */
      if (children[i].state != FAILED && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        if (WIFSIGNALED(status))
          say("E %ld pid %d killed by signal %d\n", children[i].id, (int)pid, WTERMSIG(status));
        else
          say("E %ld pid %d exited %d\n", children[i].id, (int)pid, WEXITSTATUS(status));
      }
      /* A move in the mover's hands comes back to moved(), which frees it.
       * Such a child can only have been killed from outside while it was
       * moved; the mover may then write its pid after it was reaped, which
       * names another process only if the host's pids wrapped around
       * (pid_max) within that one move. The zygote never kills a child in
       * the mover's hands itself: fail_child() comes after the mover gave
       * it back, and end_all() waits for the mover before it reaps. */
      if (children[i].demand_fd >= 0) close(children[i].demand_fd);
      free_move(children[i].move);
      children[i] = children[--nchildren];
      break;
    }
  }
}

/* P <id> <n> <procs> x n: fork a process to park. */
static void park(char **f, int n, pid_t zygote) {
  long id = atol(f[1]);
  int ncg = atoi(f[2]);
  if (ncg < 0 || ncg > MAX_CGROUPS || n != 3 + ncg) {
    say("E %ld bad park command\n", id);
    return;
  }
  if (nchildren == MAX_CHILDREN) {
    say("E %ld more than %d processes at once\n", id, MAX_CHILDREN);
    return;
  }
  /* Where it goes, copied out of the command line (the buffer is reused) before the fork. */
  struct move *m = calloc(1, sizeof(*m));
  if (m == NULL) {
    say("E %ld cannot park: out of memory\n", id);
    return;
  }
  m->id = id;
  for (int i = 0; i < ncg; i++) {
    m->cgroups[i] = strdup(f[3 + i]);
    if (m->cgroups[i] == NULL) {
      free_move(m);
      say("E %ld cannot park: out of memory\n", id);
      return;
    }
    m->ncg = i + 1;
  }
  int demand[2];
  if (pipe(demand) != 0) {
    say("E %ld cannot park: %s\n", id, strerror(errno));
    free_move(m);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(demand[1]);
    child(id, demand[0], zygote);
  }
  close(demand[0]);
  if (pid < 0) {
    say("E %ld fork: %s\n", id, strerror(errno));
    close(demand[1]);
    free_move(m);
    return;
  }
  children[nchildren].pid = pid;
  children[nchildren].id = id;
  children[nchildren].demand_fd = demand[1];
  children[nchildren].state = FORKED;
  children[nchildren].move = m;
  children[nchildren].handed = 0;
  nchildren++;
}

/* G <id> <cpu_us> <block_us> <cap_ms>: the parked process runs its invocation.
 * H, the same fields: its demand is written but it is not continued; the
 * replay registers it with alps, which continues it once its level is in
 * place (the start request's resume). A child continued before its demand
 * is there waits on its pipe. */
static int go(char **f, int n, int cont) {
  long id = atol(f[1]);
  int i = find_child(id);
  if (n != 5 || i < 0 || children[i].state != PARKED || children[i].demand_fd < 0) {
    say("E %ld bad go command (no such parked process)\n", id);
    return -1;
  }
  char buf[96];
  int len = snprintf(buf, sizeof(buf), "%s %s %s\n", f[2], f[3], f[4]);
  /* A fresh pipe holds far more than one line: this write never blocks. */
  ssize_t w = write(children[i].demand_fd, buf, (size_t)len);
  close(children[i].demand_fd);
  children[i].demand_fd = -1;
  if (w != len || (cont && kill(children[i].pid, SIGCONT) != 0)) {
    say("E %ld cannot start pid %d: %s\n", id, (int)children[i].pid, strerror(errno));
    kill(children[i].pid, SIGKILL);
    return -1;
  }
  return i;
}

/* P commands held back after a G, in the order they came.
 *
 * The replay parks a sandbox's next process right after it continues the
 * current one (G, then P). A continued child wakes on the zygote's CPU, and a
 * fork with its placement is 0.3-1 ms of SCHED_FIFO work on this kind of
 * host: done at once, it runs first and the invocation waits behind it
 * (0.55 ms on average before the first instruction, traced). The process
 * parked is only needed when the sandbox is given back, so after a G the
 * zygote parks nothing for PARK_QUIET_NS: the continued child starts first
 * and a short invocation is done. A G is never held back, and a P never
 * longer than PARK_HOLD_MAX_NS, however close together the G's come.
 *
 * After an H the continue comes from alps, a registration's round trip
 * later (1-2 ms): the quiet time then starts when the child is continued
 * (waitpid reports WCONTINUED), and until then, while any child handed its
 * demand waits, P's are held (never longer than PARK_HOLD_MAX_NS). Counted
 * from the H instead, the quiet time ended about when alps continued the
 * child, and the next fork ran on SCHED_FIFO just as it wanted the CPU. */
#define PARK_QUIET_NS 2000000LL
#define PARK_HOLD_MAX_NS 10000000LL
struct held_park {
  char *line;
  long long held_at_ns; /* CLOCK_MONOTONIC */
  struct held_park *next;
};
static struct held_park *held_head, *held_tail;
static long long quiet_until_ns; /* CLOCK_MONOTONIC; P waits until then */
static int handed_waiting;       /* children H gave their demand, not continued yet */

/* Child i, handed its demand by H, was continued (or is gone): the quiet
 * time runs from now, unless another handed child still waits. */
static void continued(int i) {
  if (children[i].handed != 1) return;
  children[i].handed = 0;
  handed_waiting--;
  long long until = now_ns(CLOCK_MONOTONIC) + PARK_QUIET_NS;
  if (handed_waiting == 0 || until > quiet_until_ns) quiet_until_ns = until;
}

static void run_command(char *line, pid_t zygote);

/* When the oldest held-back P runs: at the end of the quiet time, or once
 * it has waited PARK_HOLD_MAX_NS. Only with one held. */
static long long held_due_ns(void) {
  long long cap = held_head->held_at_ns + PARK_HOLD_MAX_NS;
  return quiet_until_ns < cap ? quiet_until_ns : cap;
}

/* Runs the held-back P commands that are due. */
static void park_held(pid_t zygote) {
  while (held_head != NULL && now_ns(CLOCK_MONOTONIC) >= held_due_ns()) {
    struct held_park *h = held_head;
    held_head = h->next;
    if (held_head == NULL) held_tail = NULL;
    run_command(h->line, zygote);
    free(h->line);
    free(h);
  }
}

/* The replay is gone: what was held back is never parked. */
static void drop_held(void) {
  while (held_head != NULL) {
    struct held_park *h = held_head;
    held_head = h->next;
    free(h->line);
    free(h);
  }
  held_tail = NULL;
}

/* 1 when the P line was held back, 0 when it is to run now. */
static int hold_park(const char *line) {
  if (held_head == NULL && now_ns(CLOCK_MONOTONIC) >= quiet_until_ns) return 0;
  struct held_park *h = malloc(sizeof(*h));
  char *copy = strdup(line);
  if (h == NULL || copy == NULL) { /* no memory to hold it: parked now */
    free(h);
    free(copy);
    return 0;
  }
  h->line = copy;
  h->held_at_ns = now_ns(CLOCK_MONOTONIC);
  h->next = NULL;
  if (held_tail != NULL)
    held_tail->next = h;
  else
    held_head = h;
  held_tail = h;
  return 1;
}

static void run_command(char *line, pid_t zygote) {
  char *f[3 + MAX_CGROUPS];
  int n = split(line, f, 3 + MAX_CGROUPS);
  if (n >= 3 && strcmp(f[0], "P") == 0)
    park(f, n, zygote);
  else if (n >= 2 && strcmp(f[0], "G") == 0) {
    go(f, n, 1);
    quiet_until_ns = now_ns(CLOCK_MONOTONIC) + PARK_QUIET_NS;
  } else if (n >= 2 && strcmp(f[0], "H") == 0) {
    int i = go(f, n, 0);
    if (i >= 0 && children[i].handed == 0) {
      children[i].handed = 1;
      handed_waiting++;
      /* Held until it is continued (continued()), within PARK_HOLD_MAX_NS. */
      long long until = now_ns(CLOCK_MONOTONIC) + PARK_HOLD_MAX_NS;
      if (until > quiet_until_ns) quiet_until_ns = until;
    } else if (i >= 0) {
      /* Already continued: it runs from this demand on, as after a G. */
      quiet_until_ns = now_ns(CLOCK_MONOTONIC) + PARK_QUIET_NS;
    }
  } else
    say("E -1 bad command (%d fields)\n", n);
}

/* A line from the replay: a P is held back whole (split() cuts the line in
 * place) while the quiet time lasts or others wait before it. */
static void command(char *line, pid_t zygote) {
  if (line[0] == 'P' && line[1] == ' ' && hold_park(line)) return;
  run_command(line, zygote);
}

/* The replay is done: every child still here (parked ones, stopped) is
 * killed and reaped before the zygote exits, so the replay can remove their
 * sandboxes as soon as it sees the zygote gone. The mover is given nothing
 * more, and the move it may have in hand is waited for before any child is
 * reaped: a pid it writes is never one freed for another process. */
static int end_all(void) {
  drop_held();
  pthread_mutex_lock(&moves_lock);
  for (struct move *m = moves_head, *next; m != NULL; m = next) {
    next = m->next;
    free_move(m);
  }
  moves_head = moves_tail = NULL;
  pthread_mutex_unlock(&moves_lock);
  for (int i = 0; i < nchildren; i++) kill(children[i].pid, SIGKILL);
  /* Up to 10 s, asleep in poll() between looks: a move of a killed task ends at once. */
  for (int waited_ms = 0; mover_running && waited_ms < 10000; waited_ms += 10) {
    struct move *m;
    while (read(moved_pipe[0], &m, sizeof(m)) == (ssize_t)sizeof(m)) free_move(m);
    pthread_mutex_lock(&moves_lock);
    int busy = mover_busy;
    pthread_mutex_unlock(&moves_lock);
    if (!busy) break;
    struct pollfd done = {.fd = moved_pipe[0], .events = POLLIN};
    poll(&done, 1, 10);
  }
  for (int i = 0; i < nchildren; i++) {
    while (waitpid(children[i].pid, NULL, 0) < 0 && errno == EINTR) {
    }
    free_move(children[i].move);
  }
  nchildren = 0;
  return 0;
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
  /* Children are reaped here, and their stops seen (see reap()). SIGCHLD is
   * blocked except while waiting in ppoll(), so none slips between a check
   * and the wait. */
  struct sigaction chld = {0};
  chld.sa_handler = on_sigchld;
  sigemptyset(&chld.sa_mask);
  sigaction(SIGCHLD, &chld, NULL);
  sigset_t blocked, waiting;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGCHLD);
  sigprocmask(SIG_BLOCK, &blocked, &waiting);
  sigdelset(&waiting, SIGCHLD);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  /* A process group of its own (in the replay's session, the replay its
   * parent): a group with stopped members that has no parent outside it
   * gets SIGHUP and SIGCONT from the kernel (an orphaned process group), as
   * the replay's would under nohup or a shell that has exited. Here the
   * replay is that parent for as long as the zygote lives. */
  setpgid(0, 0);
  /* One pipe per parked process: as many as the host lets us. */
  struct rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  calibrate();
  pid_t self = getpid();
  static char buf[MAX_LINE];
  size_t have = 0;
  for (;;) {
    if (child_exited) reap();
    /* The channel, and the mover's finished moves once it runs (poll skips fd -1). */
    struct pollfd fds[2] = {{.fd = CHANNEL_FD, .events = POLLIN},
                            {.fd = moved_pipe[0], .events = POLLIN}};
    /* Asleep until a command, a finished move, or the time a held-back P
     * is due. */
    struct timespec quiet, *timeout = NULL;
    if (held_head != NULL) {
      long long left = held_due_ns() - now_ns(CLOCK_MONOTONIC);
      if (left < 0) left = 0;
      quiet.tv_sec = (time_t)(left / 1000000000LL);
      quiet.tv_nsec = (long)(left % 1000000000LL);
      timeout = &quiet;
    }
    int ready = ppoll(fds, 2, timeout, &waiting);
    park_held(self);
    if (ready <= 0) continue; /* EINTR: a child exited; 0: a held P was due */
    if (fds[1].revents & POLLIN) moved();
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t r = read(CHANNEL_FD, buf + have, sizeof(buf) - 1 - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return end_all(); /* the replay closed the socket */
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
