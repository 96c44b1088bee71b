// Argument guards. TypeScript validates every argument with Node's own error codes before it
// reaches here; these only keep a direct call to the raw binding from undefined behaviour.
#pragma once

#include <napi.h>

#include <cmath>
#include <fcntl.h>
#include <string>

#include "errors.h"
#include "fd.h"

namespace ovl {

inline bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* name, std::string& out) {
  Napi::Value v = info[i];
  if (!v.IsString()) {
    ThrowTypeError(info.Env(), std::string("The \"") + name + "\" argument must be of type string");
    return false;
  }
  out = v.As<Napi::String>().Utf8Value();
  return true;
}

inline bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int& out) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) {
    ThrowTypeError(info.Env(), std::string("The \"") + name + "\" argument must be of type number");
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < -2147483648.0 || d > 2147483647.0) {
    ThrowRangeError(info.Env(), std::string("The value of \"") + name + "\" is out of range");
    return false;
  }
  out = static_cast<int>(d);
  return true;
}

// An fd operand from a JS value: one of our handles or a raw fd >= 0. A handle is leased (kept
// open and alive) when `lease`: for a call that runs after this one returns.
inline bool FdFromValue(Napi::Env env, Napi::Value v, const std::string& name, FdArg& out, bool lease = true) {
  if (FdHandle* h = FdHandle::From(v)) {
    if (h->closed()) {
      ThrowTypeError(env, "The \"" + name + "\" handle is closed");
      return false;
    }
    out.fd = h->fd();
    out.kind = h->kind();
    if (lease) out.lease = FdLease(h);
    return true;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || std::floor(d) != d || d < 0 || d > 2147483647.0) {
      ThrowRangeError(env, "The value of \"" + name + "\" is out of range");
      return false;
    }
    out.fd = static_cast<int>(d);
    return true;
  }
  ThrowTypeError(env, "The \"" + name + "\" argument must be an fd handle or a number");
  return false;
}

}  // namespace ovl
