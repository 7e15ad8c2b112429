// Shared helpers of the addon: argument validation (TypeError/RangeError in
// JS) and errno-carrying errors (Error with .code = "ESRCH" etc.).
#pragma once
#include <napi.h>
#include <cerrno>
#include <cstdint>
#include <string>

namespace alps {

// Throws a JS Error whose .code is the errno name and .errno the number,
// like Node's own system errors, so TS can test err.code === "ESRCH".
[[noreturn]] void ThrowErrno(Napi::Env env, const std::string& what, int err);

int32_t ArgInt32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max);
uint64_t ArgBigU64(const Napi::CallbackInfo& info, size_t i, const char* name);
uint64_t PropBigU64(Napi::Env env, const Napi::Object& o, const char* name);
int32_t PropInt32(Napi::Env env, const Napi::Object& o, const char* name, int64_t min, int64_t max);
Napi::Object ArgObject(const Napi::CallbackInfo& info, size_t i, const char* name);

void InitSyscalls(Napi::Env env, Napi::Object exports);
void InitLayout(Napi::Env env, Napi::Object exports);
void InitBpf(Napi::Env env, Napi::Object exports);

}  // namespace alps
