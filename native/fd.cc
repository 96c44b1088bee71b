#include "fd.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/syscall.h>

#include "args.h"
#include "calls.h"
#include "errors.h"
#include "sys.h"

namespace ovl {

int CallOpen(int dirfd, const std::string& path, unsigned flags, unsigned mode, SysError& err) {
  int rc = RawResult(openat(dirfd, path.c_str(), static_cast<int>(flags) | O_CLOEXEC, mode));
  if (err.Check(rc, "open")) err.path = path;
  return rc;
}

int CallReadFile(const std::string& path, std::vector<char>& out, SysError& err) {
  int fd = RawResult(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (err.Check(fd, "open")) {
    err.path = path;
    return fd;
  }
  out.assign(4096, 0);
  size_t used = 0;
  for (;;) {
    if (used == out.size()) out.resize(out.size() * 2);
    int n = SysRead(fd, out.data() + used, out.size() - used);
    if (n < 0) {
      SysClose(fd);
      err.Check(n, "read");
      err.path = path;
      return n;
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  out.resize(used);
  SysClose(fd);
  return 0;
}

int CallOpenat2(int dirfd, const std::string& path, unsigned flags, unsigned mode, uint64_t resolve, SysError& err) {
  int rc = SysOpenat2(dirfd, path.c_str(), flags | O_CLOEXEC, mode, resolve);
  if (err.Check(rc, "openat2")) err.path = path;
  return rc;
}

int CallFlock(int fd, unsigned operation, SysError& err) {
  int rc;
  do rc = RawResult(flock(fd, static_cast<int>(operation)));
  while (rc == -EINTR);
  err.Check(rc, "flock");
  return rc;
}

int CallLseek(int fd, int64_t offset, unsigned whence, int64_t& result, SysError& err) {
  off_t r = lseek(fd, static_cast<off_t>(offset), static_cast<int>(whence));
  if (r < 0) {
    int rc = -errno;
    err.Check(rc, "lseek");
    return rc;
  }
  result = r;
  return 0;
}

namespace {

// Distinguishes our handles from any other wrapped object passed where a handle is expected.
constexpr napi_type_tag kFdHandleTag = {0x6f766c66645f6861ULL, 0x6e646c655f763031ULL};

}  // namespace

Napi::Function FdHandle::Define(Napi::Env env) {
  return DefineClass(env, "FdHandle",
                     {
                         InstanceMethod<&FdHandle::Close>("close"),
                         InstanceAccessor<&FdHandle::GetFd>("fd"),
                         InstanceAccessor<&FdHandle::GetKind>("kind"),
                         InstanceAccessor<&FdHandle::GetClosed>("closed"),
                     });
}

Napi::Value FdHandle::Wrap(Napi::Env env, int fd, const char* kind) {
  std::shared_ptr<AddonState> state = GetState(env);
  if (!state) {
    SysClose(fd);
    return env.Undefined();
  }
  Napi::Object obj =
      state->handle_ctor.New({Napi::Number::New(env, fd), Napi::String::New(env, kind)});
  // Empty without a pending exception when the environment is shutting down (JS can no longer
  // run): the fd would otherwise be owned by nobody.
  if (obj.IsEmpty() || env.IsExceptionPending()) {
    SysClose(fd);
    return env.Undefined();
  }
  return obj;
}

FdHandle* FdHandle::From(Napi::Value value) {
  if (!value.IsObject()) return nullptr;
  Napi::Object obj = value.As<Napi::Object>();
  if (!obj.CheckTypeTag(&kFdHandleTag)) return nullptr;
  return Unwrap(obj);
}

FdHandle::FdHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdHandle>(info) {
  Napi::Env env = info.Env();
  int fd;
  std::string kind;
  if (!ArgInt(info, 0, "fd", fd) || !ArgString(info, 1, "kind", kind)) return;
  if (fd < 0) {
    ThrowRangeError(env, "The \"fd\" argument must be >= 0. Received " + std::to_string(fd));
    return;
  }
  info.This().As<Napi::Object>().TypeTag(&kFdHandleTag);
  fd_ = fd;
  closed_ = false;
  kind_ = std::move(kind);
  state_ = GetState(env);
  state_->live.insert(this);
}

FdHandle::~FdHandle() {
  if (!state_) return;
  state_->live.erase(this);
  // A lease holds a strong reference, so a finalized handle has no call in flight.
  if (fd_ >= 0) {
    SysClose(fd_);
    fd_ = -1;
    state_->leaked_fds++;
  }
}

int FdHandle::ReleaseFd() {
  int fd = fd_;
  fd_ = -1;
  return fd < 0 ? 0 : SysClose(fd);
}

void FdHandle::Release() {
  if (--inflight_ == 0 && closed_) ReleaseFd();
}

void FdHandle::CloseForTeardown() {
  closed_ = true;
  ReleaseFd();
}

// handle.close(): close(2) once; later calls do nothing (idempotent, as [Symbol.dispose] needs).
Napi::Value FdHandle::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return env.Undefined();
  closed_ = true;
  if (inflight_ > 0) return env.Undefined();
  SysError err;
  if (err.Check(ReleaseFd(), "close")) ThrowSysError(env, err);
  return env.Undefined();
}

Napi::Value FdHandle::GetFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), closed_ ? -1 : fd_);
}

Napi::Value FdHandle::GetKind(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), kind_);
}

Napi::Value FdHandle::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), closed_);
}

FdLease::FdLease(FdHandle* handle) : handle_(handle), ref_(Napi::Persistent(handle->Value())) {
  handle_->Acquire();
}

FdLease::FdLease(FdLease&& other) noexcept
    : handle_(other.handle_), ref_(std::move(other.ref_)) {
  other.handle_ = nullptr;
}

FdLease& FdLease::operator=(FdLease&& other) noexcept {
  if (this != &other) {
    Reset();
    handle_ = other.handle_;
    ref_ = std::move(other.ref_);
    other.handle_ = nullptr;
  }
  return *this;
}

FdLease::~FdLease() { Reset(); }

void FdLease::Reset() {
  if (handle_) handle_->Release();
  handle_ = nullptr;
  ref_.Reset();
}

namespace {

// adoptFd(fd, kind): take ownership of an fd opened elsewhere (e.g. fs.openSync).
Napi::Value AdoptFd(const Napi::CallbackInfo& info) {
  int fd;
  std::string kind = "file";
  if (!ArgInt(info, 0, "fd", fd)) return info.Env().Undefined();
  if (info.Length() > 1 && !ArgString(info, 1, "kind", kind)) return info.Env().Undefined();
  if (fd < 0) {
    ThrowRangeError(info.Env(), "The \"fd\" argument must be >= 0. Received " + std::to_string(fd));
    return info.Env().Undefined();
  }
  return FdHandle::Wrap(info.Env(), fd, kind.c_str());
}

Napi::Value LeakedFdCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(GetState(info.Env())->leaked_fds));
}

}  // namespace

void InitFd(Napi::Env env, Napi::Object exports) {
  std::shared_ptr<AddonState> state = GetState(env);
  Napi::Function ctor = FdHandle::Define(env);
  state->handle_ctor = Napi::Persistent(ctor);
  exports.Set("FdHandle", ctor);
  exports.Set("adoptFd", Napi::Function::New<AdoptFd>(env, "adoptFd"));
  exports.Set("leakedFdCount", Napi::Function::New<LeakedFdCount>(env, "leakedFdCount"));
}

}  // namespace ovl
