// SPDX-License-Identifier: GPL-2.0
/* Loads probe.bpf.o and prints one line per event until SIGINT/SIGTERM:
 *   <W|S> <ts_ns> <pid> <cpu> <prio> <depth> then per level
 *   | vruntime deadline vlag slice weight on_rq delayed custom_slice
 *     rq_zero_vruntime rq_sum_w_vruntime rq_sum_weight curr_vruntime curr_weight curr_is_self
 * (unsigned as the kernel keeps them; weights scaled by 1024). It drains the
 * ring buffer every 50 ms rather than on each event, and at its end says how
 * many events the full buffer refused. */
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <linux/types.h>
#include <bpf/libbpf.h>
#include "probe.h"
#include "probe.skel.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static int on_event(void *ctx, void *data, size_t size) {
  (void)ctx; (void)size;
  const struct event *e = data;
  printf("%c %llu %u %u %u %u", e->kind == 1 ? 'W' : 'S', e->ts_ns, e->pid, e->cpu, e->prio, e->depth);
  for (unsigned i = 0; i < e->depth && i < LEVELS; i++) {
    const struct level *l = &e->level[i];
    printf(" | %llu %llu %llu %llu %llu %u %u %u %llu %lld %llu %llu %llu %u", l->vruntime, l->deadline,
           l->vlag, l->slice, l->weight, l->on_rq, l->delayed, l->custom_slice, l->rq_zero_vruntime,
           l->rq_sum_w_vruntime, l->rq_sum_weight, l->curr_vruntime, l->curr_weight, l->curr_is_self);
  }
  printf("\n");
  return 0;
}

int main(void) {
  struct probe_bpf *skel = probe_bpf__open_and_load();
  if (!skel) { fprintf(stderr, "eevdf-probe: could not load the BPF program\n"); return 1; }
  if (probe_bpf__attach(skel)) { fprintf(stderr, "eevdf-probe: could not attach\n"); probe_bpf__destroy(skel); return 1; }
  struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
  if (!rb) { fprintf(stderr, "eevdf-probe: no ring buffer\n"); probe_bpf__destroy(skel); return 1; }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  fprintf(stderr, "eevdf-probe: attached\n");
  /* The program submits without waking us (see probe.bpf.c): drain every 50 ms. */
  const struct timespec period = {0, 50 * 1000 * 1000};
  while (!stop) {
    ring_buffer__consume(rb);
    nanosleep(&period, NULL);
  }
  ring_buffer__consume(rb);
  fprintf(stderr, "eevdf-probe: %llu events dropped (ring buffer full)\n", (unsigned long long)skel->bss->dropped);
  ring_buffer__free(rb);
  probe_bpf__destroy(skel);
  return 0;
}
