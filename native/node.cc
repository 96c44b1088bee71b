// Filesystem nodes: mknodat(2) (whiteouts are char devices 0/0) and statx(2) with the mount id.
#include <napi.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "args.h"
#include "calls.h"
#include "errors.h"
#include "statx_js.h"
#include "sys.h"
#include "worker.h"

namespace ovl {

int CallMknod(int dirfd, const std::string& path, unsigned mode, unsigned major, unsigned minor, SysError& err) {
  int rc = RawResult(mknodat(dirfd, path.c_str(), mode, makedev(major, minor)));
  if (err.Check(rc, "mknod")) err.path = path;
  return rc;
}

int CallStatx(int dirfd, const std::string& path, unsigned flags, unsigned mask, struct statx* st, SysError& err) {
  int rc = RawResult(statx(dirfd, path.c_str(), static_cast<int>(flags), mask, st));
  if (err.Check(rc, "statx") && !path.empty()) err.path = path;
  return rc;
}

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
    CallMknod(dir.fd, path, mode, major_no, minor_no, err);
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
    CallStatx(dir.fd, path, flags, mask, &st, err);
  }
  Napi::Value Result(Napi::Env env) { return StatxObject(env, st); }
};

// statxSync(dirfd, path, flags, mask[, out]): with `out`, a Float64Array of kStatxFields, the
// fields are written there in StatxObject's order (mountId and mountIdUnique NaN when the
// kernel filled neither mount id) and nothing is returned: TypeScript makes the object, which
// costs less than thirteen properties set from here (validation stats every layer).
constexpr size_t kStatxFields = 13;

Napi::Value StatxSync(const Napi::CallbackInfo& info) {
  if (info.Length() < 5 || info[4].IsUndefined()) return RunSync<StatxOp>(info);
  Napi::Env env = info.Env();
  Napi::Value out = info[4];
  if (!out.IsTypedArray() || out.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      out.As<Napi::Float64Array>().ElementLength() < kStatxFields) {
    ThrowTypeError(env, "The \"out\" argument must be a Float64Array of 13 elements");
    return env.Undefined();
  }
  StatxOp op;
  if (!op.Parse(info)) return env.Undefined();
  op.Run();
  if (op.err) {
    ThrowSysError(env, op.err);
    return env.Undefined();
  }
  const struct statx& st = op.st;
  bool has_id = (st.stx_mask & (STATX_MNT_ID | STATX_MNT_ID_UNIQUE)) != 0;
  const double fields[kStatxFields] = {
      static_cast<double>(st.stx_mask),      static_cast<double>(st.stx_mode),
      static_cast<double>(st.stx_nlink),     static_cast<double>(st.stx_uid),
      static_cast<double>(st.stx_gid),       static_cast<double>(st.stx_ino),
      static_cast<double>(st.stx_size),      static_cast<double>(st.stx_dev_major),
      static_cast<double>(st.stx_dev_minor), static_cast<double>(st.stx_rdev_major),
      static_cast<double>(st.stx_rdev_minor),
      has_id ? static_cast<double>(st.stx_mnt_id) : NAN,
      has_id ? ((st.stx_mask & STATX_MNT_ID_UNIQUE) != 0 ? 1.0 : 0.0) : NAN,
  };
  std::copy(fields, fields + kStatxFields, out.As<Napi::Float64Array>().Data());
  return env.Undefined();
}

}  // namespace

void InitNode(Napi::Env env, Napi::Object exports) {
  ExportOp<MknodOp>(env, exports);
  exports.Set(StatxOp::kName, Napi::Function::New(env, RunAsync<StatxOp>, StatxOp::kName));
  exports.Set("statxSync", Napi::Function::New<StatxSync>(env, "statxSync"));
}

}  // namespace ovl
