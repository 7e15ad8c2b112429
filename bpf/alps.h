/*
 * alps.h - the one header shared by the BPF program (alps.bpf.c) and the
 * native addon (native/src). Every struct that crosses the kernel/user
 * boundary is defined here once, with explicit-width fields and explicit
 * padding, so both compilers lay them out the same way. The TypeScript side
 * mirrors them in src/host/addon-types.ts; test/host/addon-constants reads
 * this file and checks every #define, enum member and struct layout there
 * one by one, and test/host/addon-layout compares sizes and offsets with the
 * compiled addon's structLayout().
 *
 * Include <linux/types.h> (user space) or vmlinux.h (BPF) before this file.
 */
#ifndef ALPS_H
#define ALPS_H

/* Nice levels of one band: -20..19 is at most 40 levels. */
#define ALPS_MAX_LEVELS 40
/* Function ids 1..ALPS_MAX_FNS-1; id 0 is the policy's default entry. */
#define ALPS_MAX_FNS 1024
/* Tracked tasks (tid -> state). A plain hash, never LRU: evicting a boosted
 * task silently would leave it boosted. Inserts past this are counted. */
#define ALPS_MAX_TASKS 16384
/* Sandboxes (cgroup v2 id -> function id). */
#define ALPS_MAX_CGROUPS 4096
/* Ring buffer bytes (power of two, multiple of the page size). */
#define ALPS_RINGBUF_BYTES (256 * 1024)

/* How a tracked task's level is chosen (src/contracts/levels.ts Strategy). */
enum alps_strategy {
	ALPS_STRATEGY_DYNAMIC = 0, /* log scale of predicted remaining time */
	ALPS_STRATEGY_STATIC = 1,  /* fixed level per function (rank) */
	ALPS_STRATEGY_RT = 2,      /* static level, applied as SCHED_FIFO by the actuator */
	ALPS_STRATEGY_OBSERVE = 3, /* cfs mode: count bursts, never change a level */
};

/* Single entry of the config map. The programs are attached before the
 * daemon first writes it: until then it is all zero, which puts every task
 * at level 0, and no task is tracked before the daemon fills the cgroup map
 * or registers one. The daemon rewrites it while the programs run whenever
 * the band changes; they read it on every event, so a new band reaches
 * running tasks at their next runtime update. */
struct alps_config {
	__u32 strategy;   /* enum alps_strategy */
	__u32 nr_levels;  /* levels in the band: nice_max - nice_min + 1 (<= ALPS_MAX_LEVELS) */
	__s32 nice_min;   /* most boosted nice level */
	__s32 nice_max;   /* level for the longest remaining time (may be > base: a yield) */
	__s32 base_nice;  /* level of a task past its slice (0) */
	__u32 _pad0;      /* explicit padding: keeps thresholds_ns 8-aligned */
	/* thresholds_ns[i]: the largest predicted remaining time (ns) that
	 * still earns level nice_min + i (levelThresholdsMs() of the TS side). */
	__u64 thresholds_ns[ALPS_MAX_LEVELS];
};

/* Policy map value, indexed by function id (0 = default entry). */
struct alps_policy {
	__u64 predicted_ns; /* predicted CPU of one uninterrupted run */
	__u64 slice_ns;     /* CPU a burst may use while boosted */
	__s32 static_level; /* the function's level under strategy static/rt */
	__u32 valid;        /* 1 when the entry was written; 0 -> use entry 0 */
};

/* Task flags. */
#define ALPS_TASK_EXPIRED    (1u << 0) /* EXPIRED posted for the current burst */
#define ALPS_TASK_REGISTERED (1u << 1) /* registered by tid, not found by cgroup */
/* The daemon counts the task as running its current burst (an event said so,
 * or it registered the task as running in a group): the burst's end must wake
 * it. Without it, a BLOCKED sample waits in the ring buffer for the daemon's
 * next wake-up. */
#define ALPS_TASK_SEEN_RUNNING (1u << 2)

/* Task map value, keyed by tid (__u32). */
struct alps_task {
	__u32 fn;             /* function id */
	__u32 flags;          /* ALPS_TASK_* */
	__u64 burst_start_ns; /* bpf_ktime_get_ns() when the current burst began */
	__u64 burst_used_ns;  /* CPU used in the current burst */
	__u64 total_ns;       /* CPU used since tracking began */
	__s32 level;          /* nice level last posted (what the actuator applied) */
	__u32 root;           /* tid of the invocation it belongs to (registered task
	                       * or its ancestor); 0 for tasks found by cgroup */
};

enum alps_event_type {
	ALPS_EV_LEVEL = 1,   /* level changed inside a burst, or inherited at fork */
	ALPS_EV_EXPIRED = 2, /* burst passed its slice: boost gone, level >= base_nice */
	ALPS_EV_BLOCKED = 3, /* burst ended by sleeping; cpu_ns = burst CPU */
	ALPS_EV_WOKE = 4,    /* new burst began with a different level */
	ALPS_EV_EXITED = 5,  /* task exited; cpu_ns = total CPU */
};

/* Ring buffer record. */
struct alps_event {
	__u32 type;  /* enum alps_event_type */
	__u32 tid;   /* task id */
	__u32 fn;    /* function id */
	__s32 level; /* level to apply (LEVEL/EXPIRED/WOKE), else the current one */
	__u64 cpu_ns; /* burst CPU (BLOCKED, LEVEL, EXPIRED) or total CPU (EXITED) */
	__u64 ts_ns;  /* bpf_ktime_get_ns() when posted (CLOCK_MONOTONIC) */
};

/* Counter indices of the per-CPU counters map, named in the same order by
 * COUNTER_NAMES in src/host/addon-types.ts (test/host/addon-constants). */
enum alps_counter {
	nr_runtime_updates = 0, /* sched_stat_runtime hits on tracked tasks */
	nr_events,              /* records posted to the ring buffer */
	nr_ringbuf_drops,       /* records lost because the ring buffer was full */
	nr_level_changes,       /* LEVEL events */
	nr_expired,             /* EXPIRED events */
	nr_blocked,             /* BLOCKED events (bursts ended) */
	nr_woke,                /* wake-ups of tracked tasks */
	nr_exited,              /* tracked tasks that exited */
	nr_forks_inherited,     /* children that inherited a function */
	nr_cgroup_matches,      /* tasks found through the cgroup map */
	nr_task_map_full,       /* tasks not tracked because the task map was full */
	nr_policy_default,      /* lookups that fell back to the default entry */
	nr_events_deferred,     /* records posted without waking the daemon (BPF_RB_NO_WAKEUP) */
	ALPS_NR_COUNTERS,
};

#endif /* ALPS_H */
