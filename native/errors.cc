#include "errors.h"

#include <cstring>

#include "addon.h"

namespace ovl {

const char* ErrnoNameOrNull(int code) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  return strerrorname_np(code);
#else
  (void)code;
  return nullptr;
#endif
}

namespace {

// The failure's fields on `o`, errno positive (the factory's input; the fallback negates it).
void SetFields(Napi::Env env, Napi::Object o, const SysError& err) {
  o.Set("errno", Napi::Number::New(env, err.code));
  o.Set("syscall", Napi::String::New(env, err.syscall));
  if (err.path) o.Set("path", Napi::String::New(env, *err.path));
  if (err.dest) o.Set("dest", Napi::String::New(env, *err.dest));
  if (err.key) o.Set("key", Napi::String::New(env, *err.key));
  if (err.kernel_messages) {
    Napi::Array list = Napi::Array::New(env, err.kernel_messages->size());
    for (size_t i = 0; i < err.kernel_messages->size(); i++) {
      list.Set(static_cast<uint32_t>(i), Napi::String::New(env, (*err.kernel_messages)[i]));
    }
    o.Set("kernelMessages", list);
  }
  if (err.step >= 0) o.Set("step", Napi::Number::New(env, err.step));
}

}  // namespace

Napi::Value MakeError(Napi::Env env, const SysError& err) {
  std::shared_ptr<AddonState> state = GetState(env);
  if (state && !state->error_factory.IsEmpty()) {
    Napi::Object raw = Napi::Object::New(env);
    SetFields(env, raw, err);
    Napi::Value made = state->error_factory.Call({raw});
    if (!env.IsExceptionPending()) return made;
    return env.GetAndClearPendingException().Value();
  }
  // Before the factory is registered (the raw binding used directly): same fields, plain text.
  // Set directly rather than copied from a raw object: while an environment shuts down,
  // enumerating properties fails and yields an empty array node-addon-api cannot even size.
  const char* name = ErrnoNameOrNull(err.code);
  std::string message = name ? std::string(name) : std::string("E").append(std::to_string(err.code));
  message.append(": ").append(strerror(err.code)).append(", ").append(err.syscall);
  Napi::Error error = Napi::Error::New(env, message);
  SetFields(env, error.Value(), err);
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
