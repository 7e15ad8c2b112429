// BpfHandle: one opened, loaded and attached alps BPF object, its maps, and
// the ring-buffer event pump. Events reach JavaScript through uv_poll on
// libbpf's epoll fd, on the Node event loop: no thread, no busy polling.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <cstring>
#include <vector>
#include <linux/types.h>
#include "alps.h"
#include "util.h"

namespace alps {

static const char* kMapNames[] = {"config_map", "policy_map", "cgroup_map", "task_map", "events", "counter_map"};

class BpfHandle : public Napi::ObjectWrap<BpfHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "BpfHandle",
                       {
                           InstanceMethod("setConfig", &BpfHandle::SetConfig),
                           InstanceMethod("setPolicy", &BpfHandle::SetPolicy),
                           InstanceMethod("clearPolicy", &BpfHandle::ClearPolicy),
                           InstanceMethod("setCgroup", &BpfHandle::SetCgroup),
                           InstanceMethod("deleteCgroup", &BpfHandle::DeleteCgroup),
                           InstanceMethod("registerTask", &BpfHandle::RegisterTask),
                           InstanceMethod("unregisterTask", &BpfHandle::UnregisterTask),
                           InstanceMethod("readTask", &BpfHandle::ReadTask),
                           InstanceMethod("taskIds", &BpfHandle::TaskIds),
                           InstanceMethod("tasksOfRoot", &BpfHandle::TasksOfRoot),
                           InstanceMethod("counters", &BpfHandle::Counters),
                           InstanceMethod("counter", &BpfHandle::Counter),
                           InstanceMethod("startEvents", &BpfHandle::StartEvents),
                           InstanceMethod("stopEvents", &BpfHandle::StopEvents),
                           InstanceMethod("drainEvents", &BpfHandle::DrainEvents),
                           InstanceMethod("close", &BpfHandle::Close),
                       });
  }

  // new BpfHandle(objectPath): opens, loads and attaches every program.
  explicit BpfHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfHandle>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "objectPath must be a string");
    std::string path = info[0].As<Napi::String>().Utf8Value();
    obj_ = bpf_object__open_file(path.c_str(), nullptr);
    if (!obj_) {
      int err = errno;
      obj_ = nullptr;
      ThrowErrno(env, "bpf_object__open_file(" + path + ")", err);
    }
    // The verifier gives up with EAGAIN when a signal is pending, and libbpf
    // retries only a few times: a process sampled by a profiler (SIGPROF
    // at 1 kHz, node --cpu-prof) or busy with timers' signals failed to
    // load. Signals wait, pending, until the load is done.
    sigset_t all, before;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &before);
    int rc = bpf_object__load(obj_);
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
    if (rc != 0) {
      Release();
      ThrowErrno(env, "bpf_object__load", -rc);
    }
    for (size_t i = 0; i < sizeof(kMapNames) / sizeof(kMapNames[0]); i++) {
      int fd = bpf_object__find_map_fd_by_name(obj_, kMapNames[i]);
      if (fd < 0) {
        Release();
        throw Napi::Error::New(env, std::string("BPF object has no map ") + kMapNames[i]);
      }
      fds_[i] = fd;
    }
    struct bpf_program* prog;
    bpf_object__for_each_program(prog, obj_) {
      struct bpf_link* link = bpf_program__attach(prog);
      if (!link) {
        int err = errno;
        std::string name = bpf_program__name(prog);
        Release();
        ThrowErrno(env, "bpf_program__attach(" + name + ")", err);
      }
      links_.push_back(link);
    }
  }

  ~BpfHandle() override { Release(); }

 private:
  enum { kConfig, kPolicy, kCgroup, kTask, kEvents, kCounters };
  // Entries per batched map read (a hash bucket never holds more).
  static constexpr __u32 kBatchEntries = 4096;
  std::vector<__u32> batch_keys_;
  std::vector<struct alps_task> batch_values_;

  void RequireOpen(Napi::Env env) {
    if (!obj_) throw Napi::Error::New(env, "BPF handle is closed");
  }

  void Update(Napi::Env env, int which, const void* key, const void* value, const char* what) {
    RequireOpen(env);
    if (bpf_map_update_elem(fds_[which], key, value, BPF_ANY) != 0) ThrowErrno(env, what, errno);
  }

  // setConfig({strategy, niceMin, niceMax, baseNice, thresholdsNs: bigint[]})
  Napi::Value SetConfig(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = ArgObject(info, 0, "config");
    struct alps_config cfg;
    std::memset(&cfg, 0, sizeof(cfg));
    cfg.strategy = static_cast<__u32>(PropInt32(env, o, "strategy", 0, 3));
    cfg.nice_min = PropInt32(env, o, "niceMin", -20, 19);
    cfg.nice_max = PropInt32(env, o, "niceMax", -20, 19);
    cfg.base_nice = PropInt32(env, o, "baseNice", -20, 19);
    if (cfg.nice_max < cfg.nice_min) throw Napi::RangeError::New(env, "niceMax must be >= niceMin");
    Napi::Value tv = o.Get("thresholdsNs");
    if (!tv.IsArray()) throw Napi::TypeError::New(env, "thresholdsNs must be an array of bigint");
    Napi::Array t = tv.As<Napi::Array>();
    uint32_t levels = static_cast<uint32_t>(cfg.nice_max - cfg.nice_min + 1);
    if (t.Length() != levels || levels > ALPS_MAX_LEVELS) {
      throw Napi::RangeError::New(env, "thresholdsNs must have niceMax - niceMin + 1 entries (at most " +
                                           std::to_string(ALPS_MAX_LEVELS) + ")");
    }
    cfg.nr_levels = levels;
    for (uint32_t i = 0; i < levels; i++) {
      Napi::Value v = t.Get(i);
      if (!v.IsBigInt()) throw Napi::TypeError::New(env, "thresholdsNs[" + std::to_string(i) + "] must be a bigint");
      bool lossless = false;
      cfg.thresholds_ns[i] = v.As<Napi::BigInt>().Uint64Value(&lossless);
      if (!lossless) throw Napi::RangeError::New(env, "thresholdsNs[" + std::to_string(i) + "] out of range");
    }
    __u32 zero = 0;
    Update(env, kConfig, &zero, &cfg, "update config_map");
    return env.Undefined();
  }

  // setPolicy(fnId, {predictedNs, sliceNs, staticLevel})
  Napi::Value SetPolicy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    __u32 fn = static_cast<__u32>(ArgInt32(info, 0, "fnId", 0, ALPS_MAX_FNS - 1));
    Napi::Object o = ArgObject(info, 1, "policy");
    struct alps_policy p;
    std::memset(&p, 0, sizeof(p));
    p.predicted_ns = PropBigU64(env, o, "predictedNs");
    p.slice_ns = PropBigU64(env, o, "sliceNs");
    p.static_level = PropInt32(env, o, "staticLevel", -20, 19);
    p.valid = 1;
    Update(env, kPolicy, &fn, &p, "update policy_map");
    return env.Undefined();
  }

  // clearPolicy(fnId): the function falls back to the default entry (id 0).
  Napi::Value ClearPolicy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    __u32 fn = static_cast<__u32>(ArgInt32(info, 0, "fnId", 1, ALPS_MAX_FNS - 1));
    struct alps_policy p;
    std::memset(&p, 0, sizeof(p));
    Update(env, kPolicy, &fn, &p, "update policy_map");
    return env.Undefined();
  }

  // setCgroup(cgroupId: bigint, fnId)
  Napi::Value SetCgroup(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    __u64 cg = ArgBigU64(info, 0, "cgroupId");
    __u32 fn = static_cast<__u32>(ArgInt32(info, 1, "fnId", 0, ALPS_MAX_FNS - 1));
    Update(env, kCgroup, &cg, &fn, "update cgroup_map");
    return env.Undefined();
  }

  Napi::Value DeleteCgroup(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    __u64 cg = ArgBigU64(info, 0, "cgroupId");
    if (bpf_map_delete_elem(fds_[kCgroup], &cg) != 0 && errno != ENOENT) ThrowErrno(env, "delete cgroup_map", errno);
    return env.Undefined();
  }

  // registerTask(tid, fnId, level, root): tracks tid from now on as part of
  // invocation `root`, with a fresh burst whose level the caller has
  // already applied.
  Napi::Value RegisterTask(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    __u32 tid = static_cast<__u32>(ArgInt32(info, 0, "tid", 1, 0x3fffffff));
    __u32 fn = static_cast<__u32>(ArgInt32(info, 1, "fnId", 0, ALPS_MAX_FNS - 1));
    __s32 level = ArgInt32(info, 2, "level", -20, 19);
    __u32 root = static_cast<__u32>(ArgInt32(info, 3, "root", 0, 0x3fffffff));
    // Optional: ALPS_TASK_SEEN_RUNNING when the daemon counts the task as
    // running from now (its first burst's end must then wake the daemon).
    __u32 extra = info.Length() > 4 && !info[4].IsUndefined()
                      ? static_cast<__u32>(ArgInt32(info, 4, "flags", 0, ALPS_TASK_SEEN_RUNNING))
                      : 0;
    if (extra & ~ALPS_TASK_SEEN_RUNNING) throw Napi::RangeError::New(env, "flags: only ALPS_TASK_SEEN_RUNNING may be set");
    struct alps_task t;
    std::memset(&t, 0, sizeof(t));
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t.fn = fn;
    t.flags = ALPS_TASK_REGISTERED | extra;
    t.burst_start_ns = static_cast<__u64>(ts.tv_sec) * 1000000000ull + static_cast<__u64>(ts.tv_nsec);
    t.level = level;
    t.root = root;
    RequireOpen(env);
    if (bpf_map_update_elem(fds_[kTask], &tid, &t, BPF_ANY) != 0) ThrowErrno(env, "update task_map", errno);
    return env.Undefined();
  }

  // unregisterTask(tid): returns whether it was tracked.
  Napi::Value UnregisterTask(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    __u32 tid = static_cast<__u32>(ArgInt32(info, 0, "tid", 1, 0x3fffffff));
    if (bpf_map_delete_elem(fds_[kTask], &tid) != 0) {
      if (errno == ENOENT) return Napi::Boolean::New(env, false);
      ThrowErrno(env, "delete task_map", errno);
    }
    return Napi::Boolean::New(env, true);
  }

  // readTask(tid): the task's state, or null when untracked.
  Napi::Value ReadTask(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    __u32 tid = static_cast<__u32>(ArgInt32(info, 0, "tid", 1, 0x3fffffff));
    struct alps_task t;
    if (bpf_map_lookup_elem(fds_[kTask], &tid, &t) != 0) {
      if (errno == ENOENT) return env.Null();
      ThrowErrno(env, "lookup task_map", errno);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("fn", Napi::Number::New(env, t.fn));
    o.Set("flags", Napi::Number::New(env, t.flags));
    o.Set("burstStartNs", Napi::BigInt::New(env, static_cast<uint64_t>(t.burst_start_ns)));
    o.Set("burstUsedNs", Napi::BigInt::New(env, static_cast<uint64_t>(t.burst_used_ns)));
    o.Set("totalNs", Napi::BigInt::New(env, static_cast<uint64_t>(t.total_ns)));
    o.Set("level", Napi::Number::New(env, t.level));
    o.Set("root", Napi::Number::New(env, t.root));
    return o;
  }

  // taskIds(): every tracked tid (for close() to restore them all).
  Napi::Value TaskIds(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    Napi::Array out = Napi::Array::New(env);
    __u32 key, next;
    uint32_t n = 0;
    void* prev = nullptr;
    while (bpf_map_get_next_key(fds_[kTask], prev, &next) == 0) {
      out.Set(n++, Napi::Number::New(env, next));
      key = next;
      prev = &key;
    }
    return out;
  }

  // tasksOfRoot(root): every tid tracked as part of invocation `root`.
  // Every invocation end asks this, and the map also holds every thread of
  // every warm sandbox (tracked by cgroup), 200-2000 entries in a replay:
  // a key-by-key walk from JS cost 1.7 ms per end at 209 entries. Batched
  // lookups read the whole map in one or a few syscalls.
  Napi::Value TasksOfRoot(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    __u32 root = static_cast<__u32>(ArgInt32(info, 0, "root", 1, 0x3fffffff));
    if (batch_keys_.empty()) {
      batch_keys_.resize(kBatchEntries);
      batch_values_.resize(kBatchEntries);
    }
    Napi::Array out = Napi::Array::New(env);
    uint32_t n = 0;
    __u32 in_batch = 0, out_batch = 0;
    bool first = true;
    for (;;) {
      __u32 count = kBatchEntries;
      int rc = bpf_map_lookup_batch(fds_[kTask], first ? nullptr : &in_batch, &out_batch, batch_keys_.data(),
                                    batch_values_.data(), &count, nullptr);
      int err = rc == 0 ? 0 : errno;
      // ENOENT: the walk reached the end of the map; `count` entries were still read.
      if (rc != 0 && err != ENOENT) ThrowErrno(env, "lookup_batch task_map", err);
      for (__u32 i = 0; i < count; i++)
        if (batch_values_[i].root == root) out.Set(n++, Napi::Number::New(env, batch_keys_[i]));
      if (rc != 0) break;
      in_batch = out_batch;
      first = false;
    }
    return out;
  }

  // counter(index): one per-CPU counter summed, as a bigint: one syscall,
  // where counters() makes one per counter (asked on every invocation's
  // start and end, see bpf-backend.ts startInvocation and endInvocation).
  Napi::Value Counter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    __u32 idx = static_cast<__u32>(ArgInt32(info, 0, "index", 0, ALPS_NR_COUNTERS - 1));
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) ThrowErrno(env, "libbpf_num_possible_cpus", -ncpu);
    if (counter_values_.size() != static_cast<size_t>(ncpu)) counter_values_.resize(static_cast<size_t>(ncpu));
    if (bpf_map_lookup_elem(fds_[kCounters], &idx, counter_values_.data()) != 0) ThrowErrno(env, "lookup counter_map", errno);
    uint64_t sum = 0;
    for (__u64 v : counter_values_) sum += v;
    return Napi::BigInt::New(env, sum);
  }

  // counters(): per-CPU counters summed, as bigint[ALPS_NR_COUNTERS].
  Napi::Value Counters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) ThrowErrno(env, "libbpf_num_possible_cpus", -ncpu);
    std::vector<__u64> values(static_cast<size_t>(ncpu));
    Napi::Array out = Napi::Array::New(env, ALPS_NR_COUNTERS);
    for (__u32 i = 0; i < ALPS_NR_COUNTERS; i++) {
      if (bpf_map_lookup_elem(fds_[kCounters], &i, values.data()) != 0) ThrowErrno(env, "lookup counter_map", errno);
      uint64_t sum = 0;
      for (__u64 v : values) sum += v;
      out.Set(i, Napi::BigInt::New(env, sum));
    }
    return out;
  }

  // startEvents(callback): callback(events[]) is called on the event loop
  // with every record available when the ring buffer's fd became readable.
  Napi::Value StartEvents(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "callback must be a function");
    if (rb_) throw Napi::Error::New(env, "events already started");
    rb_ = ring_buffer__new(fds_[kEvents], &BpfHandle::OnSample, this, nullptr);
    if (!rb_) ThrowErrno(env, "ring_buffer__new", errno);
    callback_ = Napi::Persistent(info[0].As<Napi::Function>());
    env_ = env;
    poll_ = new uv_poll_t;
    poll_->data = this;
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    int rc = uv_poll_init(loop, poll_, ring_buffer__epoll_fd(rb_));
    if (rc == 0) rc = uv_poll_start(poll_, UV_READABLE, &BpfHandle::OnReadable);
    if (rc != 0) {
      StopPump();
      throw Napi::Error::New(env, std::string("uv_poll on the ring buffer failed: ") + uv_strerror(rc));
    }
    return env.Undefined();
  }

  Napi::Value StopEvents(const Napi::CallbackInfo& info) {
    StopPump();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  static int OnSample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<BpfHandle*>(ctx);
    if (size < sizeof(struct alps_event)) return 0;  // cannot happen: one record type
    struct alps_event ev;
    std::memcpy(&ev, data, sizeof(ev));
    self->pending_.push_back(ev);
    return 0;
  }

  // The records consumed so far as a JS array (pending_ emptied).
  Napi::Array TakePending(Napi::Env env) {
    Napi::Array arr = Napi::Array::New(env, pending_.size());
    for (size_t i = 0; i < pending_.size(); i++) {
      const struct alps_event& e = pending_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("type", Napi::Number::New(env, e.type));
      o.Set("tid", Napi::Number::New(env, e.tid));
      o.Set("fn", Napi::Number::New(env, e.fn));
      o.Set("level", Napi::Number::New(env, e.level));
      // Numbers, not bigints: CPU and monotonic time stay exact below 2^53 ns (104 days).
      o.Set("cpuNs", Napi::Number::New(env, static_cast<double>(e.cpu_ns)));
      o.Set("tsNs", Napi::Number::New(env, static_cast<double>(e.ts_ns)));
      arr.Set(static_cast<uint32_t>(i), o);
    }
    pending_.clear();
    return arr;
  }

  // drainEvents(): every record in the ring buffer now, returned (not passed
  // to the callback). Records the kernel posted without a wake-up
  // (BPF_RB_NO_WAKEUP) are read here; no syscall when there are none.
  Napi::Value DrainEvents(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!rb_) return Napi::Array::New(env, 0);
    if (ring_buffer__consume(rb_) < 0) ThrowErrno(env, "ring_buffer__consume", errno);
    return TakePending(env);
  }

  static void OnReadable(uv_poll_t* handle, int status, int /*events*/) {
    auto* self = static_cast<BpfHandle*>(handle->data);
    if (status < 0 || !self->rb_) return;
    ring_buffer__consume(self->rb_);
    if (self->pending_.empty()) return;
    Napi::Env env = self->env_;
    Napi::HandleScope scope(env);
    Napi::Array arr = self->TakePending(env);
    try {
      self->callback_.MakeCallback(env.Global(), {arr});
    } catch (const Napi::Error& e) {
      // An exception in the JS listener must not be swallowed: rethrow on
      // the loop as an uncaught exception.
      napi_fatal_exception(env, e.Value());
    }
  }

  void StopPump() {
    if (poll_) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (rb_) {
      ring_buffer__free(rb_);
      rb_ = nullptr;
    }
    if (!callback_.IsEmpty()) callback_.Reset();
    pending_.clear();
  }

  void Release() {
    StopPump();
    for (struct bpf_link* l : links_) bpf_link__destroy(l);
    links_.clear();
    if (obj_) bpf_object__close(obj_);
    obj_ = nullptr;
  }

  struct bpf_object* obj_ = nullptr;
  std::vector<struct bpf_link*> links_;
  int fds_[6] = {-1, -1, -1, -1, -1, -1};
  struct ring_buffer* rb_ = nullptr;
  std::vector<__u64> counter_values_;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference callback_;
  Napi::Env env_ = Napi::Env(nullptr);
  std::vector<struct alps_event> pending_;
};

void InitBpf(Napi::Env env, Napi::Object exports) {
  exports.Set("BpfHandle", BpfHandle::Define(env));
}

}  // namespace alps
