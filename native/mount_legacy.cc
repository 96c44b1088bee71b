// mount(2), umount2(2), and mount(2) from a directory on a private-cwd thread.
#include <napi.h>
#include <sched.h>
#include <sys/mount.h>

#include <optional>
#include <string>
#include <pthread.h>

#include "args.h"
#include "calls.h"
#include "errors.h"
#include "legacy.h"
#include "sys.h"
#include "worker.h"

namespace ovl {

int LegacyMount(const LegacyMountArgs& a, SysError& err) {
  int rc = RawResult(mount(a.source ? a.source->c_str() : nullptr, a.target.c_str(),
                           a.fstype ? a.fstype->c_str() : nullptr, a.flags,
                           a.data ? a.data->c_str() : nullptr));
  if (err.Check(rc, "mount")) {
    if (a.source) err.path = *a.source;
    err.dest = a.target;
  }
  return rc;
}

int CallUmount2(const std::string& target, unsigned flags, SysError& err) {
  int rc = RawResult(umount2(target.c_str(), static_cast<int>(flags)));
  if (err.Check(rc, "umount2")) err.path = target;
  return rc;
}

// Relative layer paths in the data string are resolved against the cwd of the calling thread.
// cwd is per process unless a thread unshares CLONE_FS, and a libuv pool thread must never be
// left with another cwd, so this runs on a fresh thread that unshares, fchdir()s and exits.
// (pthread rather than std::thread: with C++ exceptions off a failed std::thread aborts.)
namespace {
struct InDirJob {
  int dirfd;
  const LegacyMountArgs* args;
  SysError* err;
};
void* RunInDir(void* p) {
  auto* job = static_cast<InDirJob*>(p);
  if (job->err->Check(RawResult(unshare(CLONE_FS)), "unshare")) return nullptr;
  if (job->err->Check(RawResult(fchdir(job->dirfd)), "fchdir")) return nullptr;
  LegacyMount(*job->args, *job->err);
  return nullptr;
}
}  // namespace

int LegacyMountInDir(int dirfd, const LegacyMountArgs& a, SysError& err) {
  InDirJob job{dirfd, &a, &err};
  pthread_t thread;
  int rc = pthread_create(&thread, nullptr, RunInDir, &job);
  if (rc != 0) {
    err.Check(-rc, "pthread_create");
    return -rc;
  }
  pthread_join(thread, nullptr);
  return err ? -err.code : 0;
}

namespace {

bool ParseMountArgs(const Napi::CallbackInfo& info, size_t first, LegacyMountArgs& a) {
  return ArgOptPath(info, first, "source", a.source) && ArgPath(info, first + 1, "target", a.target) &&
         ArgOptPath(info, first + 2, "fstype", a.fstype) && ArgUint(info, first + 3, "flags", a.flags) &&
         ArgOptPath(info, first + 4, "data", a.data);
}

// mount(source, target, fstype, flags, data): every MS_* flag, including MS_BIND/MS_REC,
// MS_REMOUNT and the propagation flags, passed through unchanged.
struct MountOp {
  static constexpr const char* kName = "mount";
  LegacyMountArgs args;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) { return ParseMountArgs(info, 0, args); }
  void Run() { LegacyMount(args, err); }
  Napi::Value Result(Napi::Env env) { return env.Undefined(); }
};

// mountInDir(dirfd, source, target, fstype, flags, data): mount(2) with the cwd at dirfd.
struct MountInDirOp {
  static constexpr const char* kName = "mountInDir";
  FdArg dir;
  LegacyMountArgs args;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) {
    return ArgFd(info, 0, "dirfd", dir) && ParseMountArgs(info, 1, args);
  }
  void Run() { LegacyMountInDir(dir.fd, args, err); }
  Napi::Value Result(Napi::Env env) { return env.Undefined(); }
};

// umount2(target, flags): MNT_FORCE, MNT_DETACH, MNT_EXPIRE, UMOUNT_NOFOLLOW.
struct Umount2Op {
  static constexpr const char* kName = "umount2";
  std::string target;
  unsigned flags = 0;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) {
    return ArgPath(info, 0, "target", target) && ArgUint(info, 1, "flags", flags);
  }
  void Run() {
    CallUmount2(target, flags, err);
  }
  Napi::Value Result(Napi::Env env) { return env.Undefined(); }
};

}  // namespace

void InitMountLegacy(Napi::Env env, Napi::Object exports) {
  ExportOp<MountOp>(env, exports);
  ExportOp<MountInDirOp>(env, exports);
  ExportOp<Umount2Op>(env, exports);
}

}  // namespace ovl
