// Filesystem nodes: mknodat(2) (whiteouts are char devices 0/0) and statx(2) with the mount id.
#include <napi.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <string>

#include "args.h"
#include "errors.h"
#include "statx_js.h"
#include "sys.h"
#include "worker.h"

namespace ovl {

namespace {

// mknod(path, mode, major, minor): mode carries the file type (S_IFCHR for a whiteout).
struct MknodOp {
  static constexpr const char* kName = "mknod";
  FdArg dir;
  std::string path;
  unsigned mode = 0, major_no = 0, minor_no = 0;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) {
    return ArgFd(info, 0, "dirfd", dir, true) && ArgPath(info, 1, "path", path) &&
           ArgUint(info, 2, "mode", mode) && ArgUint(info, 3, "major", major_no) &&
           ArgUint(info, 4, "minor", minor_no);
  }
  void Run() {
    int rc = RawResult(mknodat(dir.fd, path.c_str(), mode, makedev(major_no, minor_no)));
    if (err.Check(rc, "mknod")) err.path = path;
  }
  Napi::Value Result(Napi::Env env) { return env.Undefined(); }
};

// statx(dirfd, path, flags, mask): asks for STATX_MNT_ID (or STATX_MNT_ID_UNIQUE when in mask).
struct StatxOp {
  static constexpr const char* kName = "statx";
  FdArg dir;
  std::string path;
  unsigned flags = 0, mask = 0;
  struct statx st {};
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) {
    return ArgFd(info, 0, "dirfd", dir, true) && ArgPath(info, 1, "path", path) &&
           ArgUint(info, 2, "flags", flags) && ArgUint(info, 3, "mask", mask);
  }
  void Run() {
    int rc = RawResult(statx(dir.fd, path.c_str(), static_cast<int>(flags), mask, &st));
    if (err.Check(rc, "statx") && !path.empty()) err.path = path;
  }
  Napi::Value Result(Napi::Env env) { return StatxObject(env, st); }
};

}  // namespace

void InitNode(Napi::Env env, Napi::Object exports) {
  ExportOp<MknodOp>(env, exports);
  ExportOp<StatxOp>(env, exports);
}

}  // namespace ovl
