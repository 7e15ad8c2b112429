// Scheduling syscalls on any tid: setpriority/getpriority,
// sched_setattr/sched_getattr (including the fair-class slice request in
// sched_runtime), sched_setaffinity/getaffinity. Errors carry the errno name.
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cstring>
#include <linux/types.h>
#include "util.h"

namespace alps {

// struct sched_attr of include/uapi/linux/sched/types.h (SCHED_ATTR_SIZE_VER1).
struct SchedAttr {
  __u32 size;
  __u32 sched_policy;
  __u64 sched_flags;
  __s32 sched_nice;
  __u32 sched_priority;
  __u64 sched_runtime;
  __u64 sched_deadline;
  __u64 sched_period;
  __u32 sched_util_min;
  __u32 sched_util_max;
};
static_assert(sizeof(SchedAttr) == 56, "struct sched_attr VER1 is 56 bytes");

static constexpr int kMaxTid = 0x3fffffff;  // PID_MAX_LIMIT is 4M; refuse nonsense, not large ids
static constexpr int kCpuBits = 1024;

static int Tid(const Napi::CallbackInfo& info) { return ArgInt32(info, 0, "tid", 0, kMaxTid); }

static Napi::Value SetNice(const Napi::CallbackInfo& info) {
  int tid = Tid(info);
  int nice = ArgInt32(info, 1, "nice", -20, 19);
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice) != 0) ThrowErrno(info.Env(), "setpriority(" + std::to_string(tid) + ")", errno);
  return info.Env().Undefined();
}

static Napi::Value GetNice(const Napi::CallbackInfo& info) {
  int tid = Tid(info);
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
  // -1 is a valid nice level: only errno tells a failure apart.
  if (nice == -1 && errno != 0) ThrowErrno(info.Env(), "getpriority(" + std::to_string(tid) + ")", errno);
  return Napi::Number::New(info.Env(), nice);
}

static Napi::Value SetAttr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = Tid(info);
  Napi::Object a = ArgObject(info, 1, "attr");
  SchedAttr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.sched_policy = static_cast<__u32>(PropInt32(env, a, "policy", 0, 7));
  attr.sched_flags = PropBigU64(env, a, "flags");
  attr.sched_nice = PropInt32(env, a, "nice", -20, 19);
  attr.sched_priority = static_cast<__u32>(PropInt32(env, a, "priority", 0, 99));
  attr.sched_runtime = PropBigU64(env, a, "runtimeNs");
  attr.sched_deadline = PropBigU64(env, a, "deadlineNs");
  attr.sched_period = PropBigU64(env, a, "periodNs");
  if (syscall(SYS_sched_setattr, tid, &attr, 0) != 0) ThrowErrno(env, "sched_setattr(" + std::to_string(tid) + ")", errno);
  return env.Undefined();
}

static Napi::Value GetAttr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = Tid(info);
  SchedAttr attr;
  std::memset(&attr, 0, sizeof(attr));
  if (syscall(SYS_sched_getattr, tid, &attr, sizeof(attr), 0) != 0) ThrowErrno(env, "sched_getattr(" + std::to_string(tid) + ")", errno);
  Napi::Object o = Napi::Object::New(env);
  o.Set("policy", Napi::Number::New(env, attr.sched_policy));
  o.Set("flags", Napi::BigInt::New(env, static_cast<uint64_t>(attr.sched_flags)));
  o.Set("nice", Napi::Number::New(env, attr.sched_nice));
  o.Set("priority", Napi::Number::New(env, attr.sched_priority));
  o.Set("runtimeNs", Napi::BigInt::New(env, static_cast<uint64_t>(attr.sched_runtime)));
  o.Set("deadlineNs", Napi::BigInt::New(env, static_cast<uint64_t>(attr.sched_deadline)));
  o.Set("periodNs", Napi::BigInt::New(env, static_cast<uint64_t>(attr.sched_period)));
  return o;
}

static Napi::Value SetAffinity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = Tid(info);
  if (info.Length() < 2 || !info[1].IsArray()) throw Napi::TypeError::New(env, "cpus must be an array of cpu numbers");
  Napi::Array cpus = info[1].As<Napi::Array>();
  cpu_set_t* set = CPU_ALLOC(kCpuBits);
  size_t bytes = CPU_ALLOC_SIZE(kCpuBits);
  CPU_ZERO_S(bytes, set);
  for (uint32_t i = 0; i < cpus.Length(); i++) {
    Napi::Value v = cpus.Get(i);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (d != static_cast<double>(static_cast<int>(d)) || d < 0 || d >= kCpuBits) {
      CPU_FREE(set);
      throw Napi::RangeError::New(env, "cpus[" + std::to_string(i) + "] must be an integer in 0.." + std::to_string(kCpuBits - 1));
    }
    CPU_SET_S(static_cast<int>(d), bytes, set);
  }
  int rc = sched_setaffinity(tid, bytes, set);
  int err = errno;
  CPU_FREE(set);
  if (rc != 0) ThrowErrno(env, "sched_setaffinity(" + std::to_string(tid) + ")", err);
  return env.Undefined();
}

static Napi::Value GetAffinity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = Tid(info);
  cpu_set_t* set = CPU_ALLOC(kCpuBits);
  size_t bytes = CPU_ALLOC_SIZE(kCpuBits);
  CPU_ZERO_S(bytes, set);
  if (sched_getaffinity(tid, bytes, set) != 0) {
    int err = errno;
    CPU_FREE(set);
    ThrowErrno(env, "sched_getaffinity(" + std::to_string(tid) + ")", err);
  }
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (int cpu = 0; cpu < kCpuBits; cpu++) {
    if (CPU_ISSET_S(cpu, bytes, set)) out.Set(n++, Napi::Number::New(env, cpu));
  }
  CPU_FREE(set);
  return out;
}

static Napi::Value MonotonicNs(const Napi::CallbackInfo& info) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec)));
}

void InitSyscalls(Napi::Env env, Napi::Object exports) {
  exports.Set("setNice", Napi::Function::New(env, SetNice, "setNice"));
  exports.Set("getNice", Napi::Function::New(env, GetNice, "getNice"));
  exports.Set("setAttr", Napi::Function::New(env, SetAttr, "setAttr"));
  exports.Set("getAttr", Napi::Function::New(env, GetAttr, "getAttr"));
  exports.Set("setAffinity", Napi::Function::New(env, SetAffinity, "setAffinity"));
  exports.Set("getAffinity", Napi::Function::New(env, GetAffinity, "getAffinity"));
  exports.Set("monotonicNs", Napi::Function::New(env, MonotonicNs, "monotonicNs"));
}

}  // namespace alps
