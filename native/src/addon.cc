// Entry point of the alps native addon: registers the syscall wrappers,
// the struct layout probe and the BPF object handle.
#include <cstring>
#include <linux/types.h>
#include "util.h"

namespace alps {

static const char* ErrnoName(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case E2BIG: return "E2BIG";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return nullptr;
  }
}

void ThrowErrno(Napi::Env env, const std::string& what, int err) {
  const char* name = ErrnoName(err);
  std::string code = name ? name : ("errno " + std::to_string(err));
  Napi::Error e = Napi::Error::New(env, what + " failed: " + code + " (" + std::strerror(err) + ")");
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, err));
  throw e;
}

int32_t ArgInt32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  }
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (v != static_cast<double>(static_cast<int64_t>(v)) || v < static_cast<double>(min) || v > static_cast<double>(max)) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be an integer in " + std::to_string(min) + ".." +
                                                std::to_string(max));
  }
  return static_cast<int32_t>(v);
}

static uint64_t ToBigU64(Napi::Env env, const Napi::Value& v, const char* name) {
  if (!v.IsBigInt()) throw Napi::TypeError::New(env, std::string(name) + " must be a bigint");
  bool lossless = false;
  uint64_t out = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(env, std::string(name) + " must fit in an unsigned 64-bit integer");
  return out;
}

uint64_t ArgBigU64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i) throw Napi::TypeError::New(info.Env(), std::string(name) + " is required");
  return ToBigU64(info.Env(), info[i], name);
}

uint64_t PropBigU64(Napi::Env env, const Napi::Object& o, const char* name) {
  return ToBigU64(env, o.Get(name), name);
}

int32_t PropInt32(Napi::Env env, const Napi::Object& o, const char* name, int64_t min, int64_t max) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d)) || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    throw Napi::RangeError::New(env, std::string(name) + " must be an integer in " + std::to_string(min) + ".." +
                                         std::to_string(max));
  }
  return static_cast<int32_t>(d);
}

Napi::Object ArgObject(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsObject()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be an object");
  }
  return info[i].As<Napi::Object>();
}

}  // namespace alps

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  alps::InitSyscalls(env, exports);
  alps::InitLayout(env, exports);
  alps::InitBpf(env, exports);
  return exports;
}

NODE_API_MODULE(alps_native, Init)
