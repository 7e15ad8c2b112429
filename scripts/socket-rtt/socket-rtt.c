/*
 * socket-rtt: the round trip of a short request and its answer over a unix
 * stream socket, both ends asleep in between, as a registration's is: the
 * floor any registration over a socket pays on this host, whatever serves
 * it. docs/results.md ("How short a registration could be").
 *
 *   socket-rtt N GAP_MS RT_CLIENT [SOCKET_PATH]
 *
 * N requests GAP_MS apart. RT_CLIENT 1: the client runs at SCHED_FIFO 40
 * (as the replay's dispatcher), 0: at its inherited policy. Without
 * SOCKET_PATH it forks its own echo server at SCHED_FIFO 50 (as the
 * daemon); with it, it connects to a server already listening there. Prints
 * the p50 and p90 in microseconds. Nothing here spins: both ends block in
 * read(2), and the forked server ends at the client's EOF (or its alarm).
 */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void fifo(int priority)
{
	struct sched_param p = { .sched_priority = priority };

	if (sched_setscheduler(0, SCHED_FIFO, &p) != 0)
		perror("sched_setscheduler");
}

static void echo_server(int fd, int seconds)
{
	char buf[64];
	ssize_t got;

	fifo(50);
	alarm(seconds); /* a client that never closes cannot keep it */
	while ((got = read(fd, buf, sizeof buf)) > 0)
		if (write(fd, buf, got) != got)
			break;
	_exit(0);
}

int main(int argc, char **argv)
{
	int n, gap_ms, rt_client, fd, pair[2];
	pid_t server = -1;
	double *rtt;
	char buf[64];

	if (argc < 4 || (n = atoi(argv[1])) < 1 || (gap_ms = atoi(argv[2])) < 1) {
		fprintf(stderr, "usage: socket-rtt N GAP_MS RT_CLIENT [SOCKET_PATH]\n");
		return 2;
	}
	rt_client = atoi(argv[3]);
	if (argc > 4) {
		struct sockaddr_un addr = { .sun_family = AF_UNIX };

		strncpy(addr.sun_path, argv[4], sizeof addr.sun_path - 1);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
			perror(argv[4]);
			return 1;
		}
	} else {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) {
			perror("socketpair");
			return 1;
		}
		server = fork();
		if (server < 0) {
			perror("fork");
			return 1;
		}
		if (server == 0) {
			close(pair[0]);
			echo_server(pair[1], n * gap_ms / 1000 + 30);
		}
		close(pair[1]);
		fd = pair[0];
	}
	if (rt_client)
		fifo(40);
	rtt = calloc(n, sizeof *rtt);
	if (!rtt)
		return 1;
	for (int i = 0; i < n; i++) {
		double t0;

		usleep(gap_ms * 1000);
		t0 = now_us();
		if (write(fd, "S f 1234\n", 9) != 9 || read(fd, buf, sizeof buf) <= 0) {
			perror("round trip");
			return 1;
		}
		rtt[i] = now_us() - t0;
	}
	close(fd);
	if (server > 0)
		waitpid(server, NULL, 0);
	qsort(rtt, n, sizeof *rtt, by_value);
	printf("%s, %s client: %d round trips %d ms apart, p50 %.0f us, p90 %.0f us\n",
	       argc > 4 ? argv[4] : "C echo (SCHED_FIFO 50)", rt_client ? "SCHED_FIFO 40" : "fair-class", n,
	       gap_ms, rtt[n / 2], rtt[n * 9 / 10]);
	free(rtt);
	return 0;
}
