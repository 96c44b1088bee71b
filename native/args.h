// Argument guards. TypeScript validates every argument with Node's own error codes before it
// reaches here; these only keep a direct call to the raw binding from undefined behaviour.
#pragma once

#include <napi.h>

#include <cmath>
#include <fcntl.h>
#include <optional>
#include <string>
#include <vector>

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

// A string that becomes a C path or key: an embedded NUL would silently cut it short.
inline bool ArgPath(const Napi::CallbackInfo& info, size_t i, const char* name, std::string& out) {
  if (!ArgString(info, i, name, out)) return false;
  if (out.find('\0') != std::string::npos) {
    ThrowTypeError(info.Env(), std::string("The \"") + name + "\" argument must not contain null bytes");
    return false;
  }
  return true;
}

inline bool ArgOptPath(const Napi::CallbackInfo& info, size_t i, const char* name,
                       std::optional<std::string>& out) {
  if (info[i].IsNull() || info[i].IsUndefined()) {
    out.reset();
    return true;
  }
  std::string s;
  if (!ArgPath(info, i, name, s)) return false;
  out = std::move(s);
  return true;
}

inline bool NumberArg(const Napi::CallbackInfo& info, size_t i, const char* name, double lo, double hi,
                      double& out) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) {
    ThrowTypeError(info.Env(), std::string("The \"") + name + "\" argument must be of type number");
    return false;
  }
  out = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(out) || std::floor(out) != out || out < lo || out > hi) {
    ThrowRangeError(info.Env(), std::string("The value of \"") + name + "\" is out of range");
    return false;
  }
  return true;
}

inline bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int& out) {
  double d;
  if (!NumberArg(info, i, name, -2147483648.0, 2147483647.0, d)) return false;
  out = static_cast<int>(d);
  return true;
}

inline bool ArgUint(const Napi::CallbackInfo& info, size_t i, const char* name, unsigned& out) {
  double d;
  if (!NumberArg(info, i, name, 0, 4294967295.0, d)) return false;
  out = static_cast<unsigned>(d);
  return true;
}

inline bool ArgUint64(const Napi::CallbackInfo& info, size_t i, const char* name, uint64_t& out) {
  double d;
  if (!NumberArg(info, i, name, 0, 9007199254740991.0, d)) return false;
  out = static_cast<uint64_t>(d);
  return true;
}

inline bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name, bool& out) {
  Napi::Value v = info[i];
  if (!v.IsBoolean()) {
    ThrowTypeError(info.Env(), std::string("The \"") + name + "\" argument must be of type boolean");
    return false;
  }
  out = v.As<Napi::Boolean>().Value();
  return true;
}

// An fd argument from a JS value: one of our handles (leased for the call) or a raw fd >= 0;
// null/undefined mean AT_FDCWD where `cwd_ok`.
inline bool FdFromValue(Napi::Env env, Napi::Value v, const char* name, bool cwd_ok, FdArg& out) {
  if ((v.IsNull() || v.IsUndefined()) && cwd_ok) {
    out.fd = AT_FDCWD;
    return true;
  }
  if (FdHandle* h = FdHandle::From(v)) {
    if (h->closed()) {
      ThrowTypeError(env, std::string("The \"") + name + "\" handle is closed");
      return false;
    }
    out.fd = h->fd();
    out.lease = FdLease(h);
    return true;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || std::floor(d) != d || d < 0 || d > 2147483647.0) {
      ThrowRangeError(env, std::string("The value of \"") + name + "\" is out of range");
      return false;
    }
    out.fd = static_cast<int>(d);
    return true;
  }
  ThrowTypeError(env, std::string("The \"") + name + "\" argument must be an fd handle or a number");
  return false;
}

inline bool ArgFd(const Napi::CallbackInfo& info, size_t i, const char* name, FdArg& out,
                  bool cwd_ok = false) {
  return FdFromValue(info.Env(), info[i], name, cwd_ok, out);
}

inline bool ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* name, std::vector<char>& out) {
  Napi::Value v = info[i];
  if (!v.IsBuffer()) {
    ThrowTypeError(info.Env(), std::string("The \"") + name + "\" argument must be a Buffer");
    return false;
  }
  Napi::Buffer<char> b = v.As<Napi::Buffer<char>>();
  out.assign(b.Data(), b.Data() + b.Length());
  return true;
}

}  // namespace ovl
