/*
 * line-floor: a line-protocol server that does no work, in C.
 *
 * It answers every start ("S fn pid") with "201 <n> <pid>" and every end
 * ("E id") with "200 <id> 0 none", and nothing else happens: no pid rule,
 * no record, no level, no map. The daemon-cost benchmark drives it with the
 * same client, workers and rates as the daemon (src/bench/daemon-cost.ts),
 * so its CPU per invocation is the floor that waking a native process twice
 * per invocation costs on this host, beside the daemon's own and beside a
 * Node server that does no work either (src/bench/line-floor-server.ts).
 *
 * One thread, poll() over the listening socket, up to MAX_CLIENTS
 * connections and its standard input; it prints "ready" once it listens and
 * ends when its standard input closes (the benchmark ended or died), so it
 * never outlives what started it. It never raises its own priority.
 *
 *   line-floor SOCKET_PATH
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define LINE_MAX_BYTES 4096

struct client {
  int fd;
  size_t used;
  char line[LINE_MAX_BYTES];
};

static struct client clients[MAX_CLIENTS];
static unsigned long next_id = 1;

/* Writes all of `len` bytes, or gives up on the connection (-1). */
static int send_all(int fd, const char *text, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, text, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    text += n;
    len -= (size_t)n;
  }
  return 0;
}

/* The answer to one request line (without its LF). */
static int answer(int fd, const char *line) {
  char out[160];
  int len;
  if (line[0] == 'S' && line[1] == ' ') {
    const char *pid = strrchr(line + 2, ' ');
    len = snprintf(out, sizeof out, "201 %lu %ld\n", next_id++, pid == NULL ? 0L : atol(pid + 1));
  } else if (line[0] == 'E' && line[1] == ' ') {
    len = snprintf(out, sizeof out, "200 %.*s 0 none\n", (int)strcspn(line + 2, " "), line + 2);
  } else {
    len = snprintf(out, sizeof out, "400 bad_request not a start or an end\n");
  }
  return send_all(fd, out, (size_t)len);
}

/* Reads what arrived and answers each complete line; -1 when the connection is done. */
static int serve(struct client *c) {
  ssize_t n = read(c->fd, c->line + c->used, sizeof c->line - c->used);
  if (n < 0 && errno == EINTR) return 0;
  if (n <= 0) return -1;
  c->used += (size_t)n;
  size_t start = 0;
  for (size_t i = 0; i < c->used; i++) {
    if (c->line[i] != '\n') continue;
    c->line[i] = '\0';
    if (i > start && answer(c->fd, c->line + start) < 0) return -1;
    start = i + 1;
  }
  if (start == 0 && c->used == sizeof c->line) return -1; /* a line too long: drop the client */
  memmove(c->line, c->line + start, c->used - start);
  c->used -= start;
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: line-floor SOCKET_PATH\n");
    return 2;
  }
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(argv[1]) >= sizeof addr.sun_path) {
    fprintf(stderr, "line-floor: socket path too long\n");
    return 2;
  }
  strcpy(addr.sun_path, argv[1]);
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  unlink(argv[1]);
  if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 ||
      listen(listener, 16) < 0) {
    fprintf(stderr, "line-floor: cannot listen on %s: %s\n", argv[1], strerror(errno));
    return 3;
  }
  for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;
  printf("ready\n");
  fflush(stdout);
  struct pollfd fds[MAX_CLIENTS + 2];
  for (;;) {
    fds[0] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
    fds[1] = (struct pollfd){.fd = listener, .events = POLLIN};
    for (int i = 0; i < MAX_CLIENTS; i++) fds[i + 2] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
    if (poll(fds, MAX_CLIENTS + 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents != 0) {
      char drain[256];
      if (read(STDIN_FILENO, drain, sizeof drain) <= 0) break; /* whoever started it is gone */
    }
    if (fds[1].revents & POLLIN) {
      int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
      int slot = -1;
      for (int i = 0; i < MAX_CLIENTS && fd >= 0; i++)
        if (clients[i].fd < 0) {
          slot = i;
          break;
        }
      if (slot < 0 && fd >= 0) close(fd);
      if (slot >= 0) clients[slot] = (struct client){.fd = fd, .used = 0};
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
      if (clients[i].fd < 0 || fds[i + 2].revents == 0) continue;
      if (serve(&clients[i]) < 0) {
        close(clients[i].fd);
        clients[i].fd = -1;
      }
    }
  }
  unlink(argv[1]);
  return 0;
}
