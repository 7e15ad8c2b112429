/* SPDX-License-Identifier: GPL-2.0 */
/* The event the probe's BPF program writes and its loader prints: one definition for both sides. */
#ifndef EEVDF_PROBE_H
#define EEVDF_PROBE_H

#define LEVELS 3

struct level {
  __u64 vruntime, deadline, vlag, slice, weight;
  __u8 on_rq, delayed, custom_slice, pad;
  __u64 rq_zero_vruntime;
  __s64 rq_sum_w_vruntime;
  __u64 rq_sum_weight;
  __u64 curr_vruntime, curr_weight;
  __u32 curr_is_self, pad2;
};

struct event {
  __u64 ts_ns;
  __u32 pid, cpu, prio, depth;
  __u32 kind; /* 1: boosted wake-up, 2: switched in */
  __u32 pad;
  struct level level[LEVELS];
};

#endif
