#include "errors.h"

#include <cstring>

#include "addon.h"

namespace ovl {

namespace {

Napi::Object RawErrorObject(Napi::Env env, const SysError& err) {
  Napi::Object raw = Napi::Object::New(env);
  raw.Set("errno", Napi::Number::New(env, err.code));
  raw.Set("syscall", Napi::String::New(env, err.syscall));
  if (err.path) raw.Set("path", Napi::String::New(env, *err.path));
  if (err.dest) raw.Set("dest", Napi::String::New(env, *err.dest));
  if (err.key) raw.Set("key", Napi::String::New(env, *err.key));
  if (err.kernel_messages) {
    Napi::Array list = Napi::Array::New(env, err.kernel_messages->size());
    for (size_t i = 0; i < err.kernel_messages->size(); i++) {
      list.Set(static_cast<uint32_t>(i), Napi::String::New(env, (*err.kernel_messages)[i]));
    }
    raw.Set("kernelMessages", list);
  }
  if (err.step >= 0) raw.Set("step", Napi::Number::New(env, err.step));
  return raw;
}

}  // namespace

Napi::Value MakeError(Napi::Env env, const SysError& err) {
  Napi::Object raw = RawErrorObject(env, err);
  std::shared_ptr<AddonState> state = GetState(env);
  if (state && !state->error_factory.IsEmpty()) {
    Napi::Value made = state->error_factory.Call({raw});
    if (!env.IsExceptionPending()) return made;
    return env.GetAndClearPendingException().Value();
  }
  // Before the factory is registered (the raw binding used directly): same fields, plain text.
  std::string message = std::string(strerrorname_np(err.code) ? strerrorname_np(err.code) : "E?") +
                        ": " + strerror(err.code) + ", " + err.syscall;
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Array keys = raw.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    Napi::Value k = keys.Get(i);
    error.Value().Set(k, raw.Get(k));
  }
  error.Value().Set("errno", Napi::Number::New(env, -err.code));
  return error.Value();
}

void ThrowSysError(Napi::Env env, const SysError& err) {
  Napi::Value error = MakeError(env, err);
  if (!env.IsExceptionPending()) Napi::Error(env, error).ThrowAsJavaScriptException();
}

void ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
}

void ThrowRangeError(Napi::Env env, const std::string& message) {
  Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
}

}  // namespace ovl
