// Per-environment state of the addon (one per main thread or worker thread that loads it).
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <unordered_set>

namespace ovl {

class FdHandle;

struct AddonState {
  // Builds the Node-shaped error from a raw failure; registered from TypeScript
  // (src/errors.ts) so the message text lives in one place.
  Napi::FunctionReference error_factory;
  Napi::FunctionReference handle_ctor;
  // fds closed by a finalizer because their handle was garbage-collected while open.
  uint64_t leaked_fds = 0;
  // Open handles, closed by the environment's cleanup hook (worker exit, process exit).
  std::unordered_set<FdHandle*> live;
};

// Handles keep the state alive with a shared_ptr, so a finalizer that runs after the
// environment's instance data is gone never touches freed memory.
std::shared_ptr<AddonState> GetState(Napi::Env env);

}  // namespace ovl
