// mount(2), umount2(2), and mount(2) from a directory on a private-cwd thread.
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>

#include <optional>
#include <string>

#include "calls.h"
#include "errors.h"
#include "sys.h"

namespace ovl {

namespace {

int Mount(const LegacyMountArgs& a, SysError& err) {
  int rc = RawResult(mount(a.source ? a.source->c_str() : nullptr, a.target.c_str(),
                           a.fstype ? a.fstype->c_str() : nullptr, a.flags, a.data ? a.data->c_str() : nullptr));
  if (err.Check(rc, "mount")) {
    if (a.source) err.path = *a.source;
    err.dest = a.target;
  }
  return rc;
}

// Relative layer paths in the data string are resolved against the cwd of the calling thread.
// cwd is per process unless a thread unshares CLONE_FS, and a libuv pool thread must never be
// left with another cwd, so this runs on a fresh thread that unshares, fchdir()s and exits.
// (pthread rather than std::thread: with C++ exceptions off a failed std::thread aborts.)
struct InDirJob {
  int dirfd;
  const LegacyMountArgs* args;
  SysError* err;
};

void* RunInDir(void* p) {
  auto* job = static_cast<InDirJob*>(p);
  if (job->err->Check(RawResult(unshare(CLONE_FS)), "unshare")) return nullptr;
  if (job->err->Check(RawResult(fchdir(job->dirfd)), "fchdir")) return nullptr;
  Mount(*job->args, *job->err);
  return nullptr;
}

}  // namespace

int CallMount(const LegacyMountArgs& a, int cwd, SysError& err) {
  if (cwd < 0) return Mount(a, err);
  InDirJob job{cwd, &a, &err};
  pthread_t thread;
  int rc = pthread_create(&thread, nullptr, RunInDir, &job);
  if (rc != 0) {
    err.Check(-rc, "pthread_create");
    return -rc;
  }
  pthread_join(thread, nullptr);
  return err ? -err.code : 0;
}

int CallUmount2(const std::string& target, unsigned flags, SysError& err) {
  int rc = RawResult(umount2(target.c_str(), static_cast<int>(flags)));
  if (err.Check(rc, "umount2")) err.path = target;
  return rc;
}

}  // namespace ovl
