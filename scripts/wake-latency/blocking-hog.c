/*
 * A long function's stand-in: burns 3 ms of CPU, sleeps 1 ms, again, until
 * it has used LIMIT_S seconds of CPU (its bound), then exits.
 *
 *   blocking-hog LIMIT_S
 */
#include <stdlib.h>
#include <time.h>

static double cpu_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  double limit = argc > 1 ? atof(argv[1]) : 10;
  if (!(limit > 0 && limit <= 60)) return 2;
  while (cpu_s() < limit) {
    double start = cpu_s();
    while (cpu_s() - start < 0.003) {
    }
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL);
  }
  return 0;
}
