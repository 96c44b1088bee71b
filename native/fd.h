// fd handle objects: the JS owner of an fd returned by fsopen, fsmount, open_tree or open.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "addon.h"

namespace ovl {

class FdHandle : public Napi::ObjectWrap<FdHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  // Wraps `fd` in a new handle that owns it. On failure closes `fd` and leaves an exception pending.
  static Napi::Value Wrap(Napi::Env env, int fd, const char* kind);
  // The handle behind `value`, or nullptr if it is not one of ours (checked by type tag).
  static FdHandle* From(Napi::Value value);

  explicit FdHandle(const Napi::CallbackInfo& info);
  ~FdHandle() override;

  int fd() const { return fd_; }
  bool closed() const { return closed_; }
  const std::string& kind() const { return kind_; }

  // An async call that uses this fd on the thread pool holds a lease: close() during the call
  // marks the handle closed at once but releases the fd only when the last lease ends, so the
  // number can never be reused under a running syscall.
  void Acquire() { inflight_++; }
  void Release();
  // Called by the environment's cleanup hook: closes without counting a leak.
  void CloseForTeardown();

 private:
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetKind(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  int ReleaseFd();

  int fd_ = -1;
  bool closed_ = true;
  int inflight_ = 0;
  std::string kind_;
  std::shared_ptr<AddonState> state_;
};

// Keeps a handle (and its JS object) alive and its fd valid for the duration of a call.
class FdLease {
 public:
  FdLease() = default;
  explicit FdLease(FdHandle* handle);
  FdLease(FdLease&& other) noexcept;
  FdLease& operator=(FdLease&& other) noexcept;
  FdLease(const FdLease&) = delete;
  FdLease& operator=(const FdLease&) = delete;
  ~FdLease();

 private:
  void Reset();
  FdHandle* handle_ = nullptr;
  Napi::ObjectReference ref_;
};

// An fd argument: a handle (leased) or a raw non-negative number owned by the caller.
struct FdArg {
  int fd = -1;
  std::string kind;  // the handle's kind; empty for a raw number
  FdLease lease;
};

void InitFd(Napi::Env env, Napi::Object exports);

}  // namespace ovl
