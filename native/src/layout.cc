// structLayout(): sizeof/offsetof of every struct shared through bpf/alps.h,
// so a test can compare them with the TypeScript definitions.
#include <cstddef>
#include <linux/types.h>
#include "alps.h"
#include "util.h"

namespace alps {

#define FIELD(obj, type, field) obj.Set(#field, Napi::Number::New(env, offsetof(type, field)))

static Napi::Object Entry(Napi::Env env, size_t size, Napi::Object offsets) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("size", Napi::Number::New(env, size));
  o.Set("offsets", offsets);
  return o;
}

static Napi::Value StructLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);

  Napi::Object cfg = Napi::Object::New(env);
  FIELD(cfg, struct alps_config, strategy);
  FIELD(cfg, struct alps_config, nr_levels);
  FIELD(cfg, struct alps_config, nice_min);
  FIELD(cfg, struct alps_config, nice_max);
  FIELD(cfg, struct alps_config, base_nice);
  FIELD(cfg, struct alps_config, thresholds_ns);
  out.Set("alps_config", Entry(env, sizeof(struct alps_config), cfg));

  Napi::Object pol = Napi::Object::New(env);
  FIELD(pol, struct alps_policy, predicted_ns);
  FIELD(pol, struct alps_policy, slice_ns);
  FIELD(pol, struct alps_policy, static_level);
  FIELD(pol, struct alps_policy, valid);
  out.Set("alps_policy", Entry(env, sizeof(struct alps_policy), pol));

  Napi::Object task = Napi::Object::New(env);
  FIELD(task, struct alps_task, fn);
  FIELD(task, struct alps_task, flags);
  FIELD(task, struct alps_task, burst_start_ns);
  FIELD(task, struct alps_task, burst_used_ns);
  FIELD(task, struct alps_task, total_ns);
  FIELD(task, struct alps_task, level);
  FIELD(task, struct alps_task, root);
  out.Set("alps_task", Entry(env, sizeof(struct alps_task), task));

  Napi::Object ev = Napi::Object::New(env);
  FIELD(ev, struct alps_event, type);
  FIELD(ev, struct alps_event, tid);
  FIELD(ev, struct alps_event, fn);
  FIELD(ev, struct alps_event, level);
  FIELD(ev, struct alps_event, cpu_ns);
  FIELD(ev, struct alps_event, ts_ns);
  out.Set("alps_event", Entry(env, sizeof(struct alps_event), ev));

  Napi::Object consts = Napi::Object::New(env);
  consts.Set("ALPS_MAX_LEVELS", Napi::Number::New(env, ALPS_MAX_LEVELS));
  consts.Set("ALPS_MAX_FNS", Napi::Number::New(env, ALPS_MAX_FNS));
  consts.Set("ALPS_MAX_TASKS", Napi::Number::New(env, ALPS_MAX_TASKS));
  consts.Set("ALPS_MAX_CGROUPS", Napi::Number::New(env, ALPS_MAX_CGROUPS));
  consts.Set("ALPS_NR_COUNTERS", Napi::Number::New(env, ALPS_NR_COUNTERS));
  out.Set("constants", consts);
  return out;
}

void InitLayout(Napi::Env env, Napi::Object exports) {
  exports.Set("structLayout", Napi::Function::New(env, StructLayout, "structLayout"));
}

}  // namespace alps
