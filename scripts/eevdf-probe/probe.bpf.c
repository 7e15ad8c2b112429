// SPDX-License-Identifier: GPL-2.0
/*
 * What EEVDF saw when a boosted function process woke, and whom it picked
 * instead (scripts/eevdf-probe.sh; docs/results.md, "Long slices for what
 * alps does not boost"). A development probe: it changes nothing.
 *
 * At sched_wakeup of a process named burn-* (the replay's function bodies)
 * whose priority is a boost (nice < 0), and at every sched_switch to a
 * fair-class burn-* process, it copies the entity's state at each level of
 * its hierarchy (the task, its sandbox group, the replay's group): vruntime,
 * deadline, lag, slice, weight, and the run queue it sits on (its weighted
 * vruntime sum and weight, its zero point, the running entity). Eligibility
 * and lag are computed from these afterwards, as the kernel does.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#include "probe.h"

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 26);
} events SEC(".maps");

/* Events the full ring buffer refused: the loader prints the count at its end. */
__u64 dropped = 0;

static __always_inline int is_function(struct task_struct *p) {
  char comm[16];
  bpf_probe_read_kernel_str(comm, sizeof(comm), p->comm);
  return comm[0] == 'b' && comm[1] == 'u' && comm[2] == 'r' && comm[3] == 'n' && comm[4] == '-';
}

static __always_inline void record(__u32 kind, struct task_struct *p) {
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    __sync_fetch_and_add(&dropped, 1);
    return;
  }
  __builtin_memset(e, 0, sizeof(*e));
  e->ts_ns = bpf_ktime_get_ns();
  e->pid = p->pid;
  e->cpu = bpf_get_smp_processor_id();
  e->prio = p->prio;
  e->kind = kind;
  struct sched_entity *se = &p->se;
  for (int i = 0; i < LEVELS && se; i++) {
    struct level *l = &e->level[i];
    l->vruntime = BPF_CORE_READ(se, vruntime);
    l->deadline = BPF_CORE_READ(se, deadline);
    l->vlag = BPF_CORE_READ(se, vlag);
    l->slice = BPF_CORE_READ(se, slice);
    l->weight = BPF_CORE_READ(se, load.weight);
    l->on_rq = BPF_CORE_READ(se, on_rq);
    l->delayed = BPF_CORE_READ(se, sched_delayed);
    l->custom_slice = BPF_CORE_READ(se, custom_slice);
    struct cfs_rq *rq = BPF_CORE_READ(se, cfs_rq);
    if (rq) {
      l->rq_zero_vruntime = BPF_CORE_READ(rq, zero_vruntime);
      l->rq_sum_w_vruntime = BPF_CORE_READ(rq, sum_w_vruntime);
      l->rq_sum_weight = BPF_CORE_READ(rq, sum_weight);
      struct sched_entity *curr = BPF_CORE_READ(rq, curr);
      if (curr) {
        l->curr_vruntime = BPF_CORE_READ(curr, vruntime);
        l->curr_weight = BPF_CORE_READ(curr, load.weight);
        l->curr_is_self = curr == se;
      }
    }
    e->depth = i + 1;
    se = BPF_CORE_READ(se, parent);
  }
  /* No wake-up per event: the loader drains the buffer on a timer. Waking it
   * each time made it preempt the functions it watches, and each of those
   * switches back was one more event. */
  bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(probe_wakeup, struct task_struct *p) {
  /* A boost: nice -20..-1 (prio 100..119), fair class. */
  if (p->prio >= 100 && p->prio < 120 && is_function(p)) record(1, p);
  return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(probe_switch, bool preempt, struct task_struct *prev, struct task_struct *next) {
  /* The replay's zygote and parked children run SCHED_FIFO (policy 1): not the fair class. */
  if (next->policy != 1 && is_function(next)) record(2, next);
  return 0;
}
