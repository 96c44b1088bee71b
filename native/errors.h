// One raw failure record per failed syscall, turned into a JS error in one place.
#pragma once

#include <napi.h>

#include <optional>
#include <string>
#include <vector>

namespace ovl {

struct SysError {
  int code = 0;  // positive errno; 0 means success
  const char* syscall = "";
  std::optional<std::string> path;
  std::optional<std::string> dest;
  std::optional<std::string> key;
  // Set for calls made on an fs context: what the kernel queued in its message log.
  std::optional<std::vector<std::string>> kernel_messages;
  int step = -1;  // index of the failing step in a batched call

  explicit operator bool() const { return code != 0; }

  // Records a failure from a raw call's -errno result. Returns true when `rc` is a failure.
  bool Check(int rc, const char* name) {
    if (rc >= 0) return false;
    code = -rc;
    syscall = name;
    return true;
  }
};

// The C library's symbolic name for an errno ("ENOENT"), or nullptr when it has none or cannot
// say: strerrorname_np is glibc 2.32+ only, so musl and older glibc builds always get nullptr and
// the TypeScript side falls back to its own table, then to `E<n>`.
const char* ErrnoNameOrNull(int code);

// The error object: the factory registered from TypeScript when there is one, else a plain
// Error carrying the same properties.
Napi::Value MakeError(Napi::Env env, const SysError& err);
void ThrowSysError(Napi::Env env, const SysError& err);

// Argument problems that TypeScript normally catches first; here only as a backstop.
void ThrowTypeError(Napi::Env env, const std::string& message);
void ThrowRangeError(Napi::Env env, const std::string& message);

}  // namespace ovl
