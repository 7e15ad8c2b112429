// SPDX-License-Identifier: GPL-2.0
/*
 * alps.bpf.c - the kernel half of alps.
 *
 * What it decides: for every task that belongs to a function sandbox, the
 * nice level it should run at *now*. A task's level comes from its
 * function's policy entry (predicted run, slice) and the CPU it has used in
 * its current burst (wake-up to block): under strategy dynamic the predicted
 * remaining time (predicted - used) is mapped on a log scale onto the nice
 * band (short remaining -> negative nice, a boost; long remaining ->
 * positive nice, a yield); under static/rt it is the
 * function's fixed level. Once a burst has used its slice the prediction was
 * wrong: the task loses its boost (never below nice 0) until it blocks.
 *
 * Why here: the kernel already accounts every nanosecond of CPU a task runs
 * (sched_stat_runtime), so it knows *when* a threshold is crossed to within
 * one runtime update. User space only applies the change (setpriority /
 * sched_setattr on that tid): a BPF tracing program cannot change a task's
 * weight itself, and keeping the syscalls in the daemon keeps every change
 * recorded (the touched-task list) and reversible.
 *
 * What it must never do:
 *  - be expensive on sched_stat_runtime: it fires on every runtime update,
 *    also on every read of a CPU-time clock (1.5M/s measured here). One hash
 *    lookup for the task, two array lookups, a few compares; untracked tasks
 *    leave after the first lookup. The ring buffer is touched only when the
 *    level changes.
 *  - track a task that is not in a registered sandbox or registered by tid
 *    (safety invariant 1): the only ways in are the cgroup map, the daemon's
 *    explicit registration and inheritance from a tracked parent.
 *  - evict a tracked task silently: the task map is a plain hash; a full map
 *    is counted (nr_task_map_full) and the daemon reports it.
 *  - lose events silently: a full ring buffer is counted (nr_ringbuf_drops).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "alps.h"

char LICENSE[] SEC("license") = "GPL";

#define TASK_RUNNING 0

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct alps_config);
} config_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ALPS_MAX_FNS);
	__type(key, __u32);
	__type(value, struct alps_policy);
} policy_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ALPS_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, __u32);
} cgroup_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ALPS_MAX_TASKS);
	__type(key, __u32);
	__type(value, struct alps_task);
} task_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, ALPS_RINGBUF_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ALPS_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counter_map SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counter_map, &idx);

	if (c)
		(*c)++;
}

static __always_inline struct alps_policy *policy_for(__u32 fn)
{
	struct alps_policy *p = bpf_map_lookup_elem(&policy_map, &fn);
	__u32 zero = 0;

	if (p && p->valid)
		return p;
	count(nr_policy_default);
	return bpf_map_lookup_elem(&policy_map, &zero);
}

/* The level a task of policy `pol` has after `used` ns of its burst. Mirrors
 * dynamicLevel()/staticLevel() of src/contracts/levels.ts. */
static __always_inline __s32 level_for(const struct alps_config *cfg, const struct alps_policy *pol, __u64 used)
{
	__u64 remaining;
	__s32 level = cfg->nice_max;
	__u32 i;

	if (cfg->strategy == ALPS_STRATEGY_OBSERVE)
		return cfg->base_nice;
	if (cfg->strategy != ALPS_STRATEGY_DYNAMIC)
		return used >= pol->slice_ns ? cfg->base_nice : pol->static_level;
	remaining = pol->predicted_ns > used ? pol->predicted_ns - used : 0;
	for (i = 0; i < ALPS_MAX_LEVELS; i++) {
		if (i >= cfg->nr_levels)
			break;
		if (remaining <= cfg->thresholds_ns[i]) {
			level = cfg->nice_min + (__s32)i;
			break;
		}
	}
	/* Past the slice the boost is gone; a task still far from its
	 * predicted end keeps yielding (a level above base). */
	if (used >= pol->slice_ns && level < cfg->base_nice)
		level = cfg->base_nice;
	return level;
}

/* Posts one event. `wake` says whether the daemon must see it at once:
 * every level change must (it is applied before the task runs on), and so
 * must a burst's end when the daemon counts the task as running (a group's
 * weight follows its running members). Other bursts' ends (the learner's
 * samples) and exits are needed only eventually: they wait in the ring
 * buffer, unannounced, and the daemon drains them at its next wake-up (a
 * request, a level event, its tick) and at an invocation's start and end.
 * That spares the daemon a wake-up per invocation at low rates. */
static __always_inline void post_event(__u32 type, __u32 tid, struct alps_task *t, __u64 cpu_ns, bool wake)
{
	struct alps_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(nr_ringbuf_drops);
		return;
	}
	e->type = type;
	e->tid = tid;
	e->fn = t->fn;
	e->level = t->level;
	e->cpu_ns = cpu_ns;
	e->ts_ns = bpf_ktime_get_ns();
	/* The daemon counts a task as running from a WOKE, or from any level
	 * posted with CPU in its burst (the rule of #onEvents). */
	if (type == ALPS_EV_WOKE || (type != ALPS_EV_BLOCKED && type != ALPS_EV_EXITED && cpu_ns > 0))
		t->flags |= ALPS_TASK_SEEN_RUNNING;
	/* Held-back records must never crowd out a level change: once a
	 * quarter of the ring is unread (about 1600 records), this one wakes
	 * the daemon whatever it is. */
	if (!wake && bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > ALPS_RINGBUF_BYTES / 4)
		wake = true;
	/* Forced, not adaptive: the adaptive heuristic skips the wake-up while
	 * an earlier record is unconsumed, and that record may be a deferred
	 * one the daemon was never told about. */
	if (wake) {
		bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	} else {
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
		count(nr_events_deferred);
	}
	count(nr_events);
}

static __always_inline void post(__u32 type, __u32 tid, struct alps_task *t, __u64 cpu_ns)
{
	post_event(type, tid, t, cpu_ns, true);
}

/* A burst ended (the task blocked or exits): a sample for the learner, and
 * the end of "running" for the daemon, which needs it at once only when it
 * counts the task as running. */
static __always_inline void post_blocked(__u32 tid, struct alps_task *t)
{
	post_event(ALPS_EV_BLOCKED, tid, t, t->burst_used_ns, (t->flags & ALPS_TASK_SEEN_RUNNING) != 0);
	t->flags &= ~ALPS_TASK_SEEN_RUNNING;
}

static __always_inline __u64 cgroup_of(struct task_struct *p)
{
	return BPF_CORE_READ(p, cgroups, dfl_cgrp, kn, id);
}

/* Starts tracking `p` for function `fn` of invocation `root` (fresh burst, base level). */
static __always_inline struct alps_task *track(struct task_struct *p, __u32 fn, __u32 root)
{
	struct alps_task t = {};
	__u32 tid = BPF_CORE_READ(p, pid);

	t.fn = fn;
	t.root = root;
	t.burst_start_ns = bpf_ktime_get_ns();
	t.level = 0;
	if (bpf_map_update_elem(&task_map, &tid, &t, BPF_NOEXIST) && !bpf_map_lookup_elem(&task_map, &tid)) {
		count(nr_task_map_full);
		return NULL;
	}
	return bpf_map_lookup_elem(&task_map, &tid);
}

/* A new burst starts at used = 0: its level is known before it runs. Posts
 * it as `type` when it differs from the task's; returns whether it did. */
static __always_inline bool post_burst_level(__u32 type, __u32 tid, struct alps_task *t)
{
	__u32 zero = 0;
	struct alps_config *cfg = bpf_map_lookup_elem(&config_map, &zero);
	struct alps_policy *pol = policy_for(t->fn);
	__s32 level;

	if (!cfg || !pol)
		return false;
	level = level_for(cfg, pol, 0);
	if (level == t->level)
		return false;
	t->level = level;
	post(type, tid, t, 0);
	return true;
}

SEC("tp_btf/sched_stat_runtime")
int BPF_PROG(alps_runtime, struct task_struct *p, __u64 runtime)
{
	__u32 tid = p->pid, zero = 0;
	struct alps_task *t = bpf_map_lookup_elem(&task_map, &tid);
	struct alps_config *cfg;
	struct alps_policy *pol;
	__s32 level;

	if (!t)
		return 0;
	t->burst_used_ns += runtime;
	t->total_ns += runtime;
	count(nr_runtime_updates);
	cfg = bpf_map_lookup_elem(&config_map, &zero);
	if (!cfg || cfg->strategy == ALPS_STRATEGY_OBSERVE)
		return 0;
	/* Past the slice and at base: stays there until it blocks. A task
	 * past its slice that still yields moves down to base as it runs. */
	if ((t->flags & ALPS_TASK_EXPIRED) && t->level <= cfg->base_nice)
		return 0;
	pol = policy_for(t->fn);
	if (!pol)
		return 0;
	level = level_for(cfg, pol, t->burst_used_ns);
	if (t->burst_used_ns >= pol->slice_ns && !(t->flags & ALPS_TASK_EXPIRED)) {
		t->flags |= ALPS_TASK_EXPIRED;
		t->level = level;
		count(nr_expired);
		post(ALPS_EV_EXPIRED, tid, t, t->burst_used_ns);
		return 0;
	}
	if (level != t->level) {
		t->level = level;
		count(nr_level_changes);
		post(ALPS_EV_LEVEL, tid, t, t->burst_used_ns);
	}
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(alps_switch, bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state)
{
	__u32 tid = prev->pid;
	struct alps_task *t;

	/* Preempted or yielding tasks are still runnable: same burst. A task
	 * preempted between setting a sleep state and calling schedule() has a
	 * non-zero prev_state but stays queued, so `preempt` is checked too. */
	if (preempt || prev_state == TASK_RUNNING)
		return 0;
	t = bpf_map_lookup_elem(&task_map, &tid);
	if (!t)
		return 0;
	count(nr_blocked);
	post_blocked(tid, t);
	t->burst_used_ns = 0;
	t->flags &= ~ALPS_TASK_EXPIRED;
	/* The next burst's starting level is known now: post it while the task
	 * sleeps, so the daemon has applied it before the wake-up and the new
	 * burst is boosted from its first instruction. */
	if (post_burst_level(ALPS_EV_LEVEL, tid, t))
		count(nr_level_changes);
	return 0;
}

/* A wake-up starts a new burst; it is also where a task that entered a
 * sandbox cgroup without forking (moved by the daemon) is first seen. */
static __always_inline int on_wakeup(struct task_struct *p)
{
	__u32 tid = p->pid;
	struct alps_task *t = bpf_map_lookup_elem(&task_map, &tid);

	if (!t) {
		__u64 cg = cgroup_of(p);
		__u32 *fn = bpf_map_lookup_elem(&cgroup_map, &cg);

		if (!fn)
			return 0;
		t = track(p, *fn, 0);
		if (!t)
			return 0;
		count(nr_cgroup_matches);
	}
	count(nr_woke);
	t->burst_start_ns = bpf_ktime_get_ns();
	t->burst_used_ns = 0;
	t->flags &= ~ALPS_TASK_EXPIRED;
	post_burst_level(ALPS_EV_WOKE, tid, t);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(alps_wakeup, struct task_struct *p)
{
	return on_wakeup(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(alps_wakeup_new, struct task_struct *p)
{
	return on_wakeup(p);
}

/* Children (processes and threads) inherit the parent's function. A boosted
 * parent's child starts at level 0: the actuator sets SCHED_RESET_ON_FORK on
 * every task it changes, and the kernel resets a negative nice to 0 in the
 * child; the child's first wake-up posts its own level. A yielding parent's
 * positive nice is not reset but inherited, so the child starts at the
 * parent's level and that is posted: the daemon then knows it changed the
 * child too and restores it with the invocation. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(alps_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptid = parent->pid, ctid = child->pid, zero = 0;
	struct alps_task *pt = bpf_map_lookup_elem(&task_map, &ptid);
	struct alps_config *cfg;
	struct alps_task *ct;
	__s32 inherited = 0;
	__u32 fn, root = 0;

	if (pt) {
		fn = pt->fn;
		root = pt->root;
		cfg = bpf_map_lookup_elem(&config_map, &zero);
		if (cfg && pt->level > cfg->base_nice)
			inherited = pt->level;
	} else {
		__u64 cg = cgroup_of(child);
		__u32 *cfn = bpf_map_lookup_elem(&cgroup_map, &cg);

		if (!cfn)
			return 0;
		fn = *cfn;
		count(nr_cgroup_matches);
	}
	ct = track(child, fn, root);
	if (!ct)
		return 0;
	count(nr_forks_inherited);
	if (inherited) {
		ct->level = inherited;
		post(ALPS_EV_LEVEL, ctid, ct, 0);
	}
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(alps_exit, struct task_struct *p)
{
	__u32 tid = p->pid;
	struct alps_task *t = bpf_map_lookup_elem(&task_map, &tid);

	if (!t)
		return 0;
	count(nr_exited);
	/* Exiting ends the last burst too: post it as a sample before the exit
	 * (the final switch-out happens after the entry is gone). */
	if (t->burst_used_ns > 0) {
		count(nr_blocked);
		post_blocked(tid, t);
	}
	/* An exit waits for the next wake-up too: what it tells (forget the
	 * task, an invocation's task is gone) is needed when the daemon next
	 * acts, and every request and tick drains the ring buffer first. A task
	 * the daemon counts as running (no burst posted above) wakes it. */
	post_event(ALPS_EV_EXITED, tid, t, t->total_ns, (t->flags & ALPS_TASK_SEEN_RUNNING) != 0);
	bpf_map_delete_elem(&task_map, &tid);
	return 0;
}
