// Extended attributes: get/set/list/remove on a path (l*xattr, no-follow, unless `follow`)
// and on an fd (f*xattr). Values are bytes.
#include <napi.h>
#include <sys/xattr.h>

#include <cerrno>
#include <string>
#include <vector>

#include "args.h"
#include "calls.h"
#include "errors.h"
#include "fd.h"
#include "sys.h"
#include "worker.h"

namespace ovl {

int CallSetxattr(const std::string& path, const std::string& name, const void* value, size_t size, unsigned flags,
                 bool follow, SysError& err) {
  int f = static_cast<int>(flags);
  int rc = RawResult(follow ? setxattr(path.c_str(), name.c_str(), value, size, f)
                            : lsetxattr(path.c_str(), name.c_str(), value, size, f));
  if (err.Check(rc, follow ? "setxattr" : "lsetxattr")) {
    err.path = path;
    err.key = name;
  }
  return rc;
}

int CallRemovexattr(const std::string& path, const std::string& name, bool follow, SysError& err) {
  int rc = RawResult(follow ? removexattr(path.c_str(), name.c_str()) : lremovexattr(path.c_str(), name.c_str()));
  if (err.Check(rc, follow ? "removexattr" : "lremovexattr")) {
    err.path = path;
    err.key = name;
  }
  return rc;
}

namespace {

// A path or an fd: the two forms of every xattr call.
struct XattrTarget {
  std::string path;
  bool follow = false;
  FdArg fd;
  bool by_fd = false;

  bool ParsePath(const Napi::CallbackInfo& info, size_t i, size_t follow_i) {
    return ArgPath(info, i, "path", path) && ArgBool(info, follow_i, "follow", follow);
  }
  bool ParseFd(const Napi::CallbackInfo& info, size_t i) {
    by_fd = true;
    return ArgFd(info, i, "fd", fd);
  }
  void Name(SysError& err, const char* path_call, const char* lpath_call, const char* fd_call,
            const std::string* key) const {
    err.syscall = by_fd ? fd_call : (follow ? path_call : lpath_call);
    if (!by_fd) err.path = path;
    if (key) err.key = *key;
  }
};

// The size can change between the sizing call and the read (ERANGE): retry with the new size.
template <class Call>
int ReadSized(std::vector<char>& out, Call call) {
  for (;;) {
    ssize_t size = call(nullptr, 0);
    if (size < 0) return -errno;
    out.resize(static_cast<size_t>(size));
    if (size == 0) return 0;
    ssize_t got = call(out.data(), out.size());
    if (got >= 0) {
      out.resize(static_cast<size_t>(got));
      return 0;
    }
    if (errno != ERANGE) return -errno;
  }
}

template <bool kByFd>
struct GetOp {
  static constexpr const char* kName = kByFd ? "fgetxattr" : "getxattr";
  XattrTarget t;
  std::string name;
  std::vector<char> value;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) {
    if (kByFd) return t.ParseFd(info, 0) && ArgPath(info, 1, "name", name);
    return t.ParsePath(info, 0, 2) && ArgPath(info, 1, "name", name);
  }
  void Run() {
    int rc = ReadSized(value, [&](char* buf, size_t n) {
      if (t.by_fd) return fgetxattr(t.fd.fd, name.c_str(), buf, n);
      return t.follow ? getxattr(t.path.c_str(), name.c_str(), buf, n)
                      : lgetxattr(t.path.c_str(), name.c_str(), buf, n);
    });
    if (err.Check(rc, "")) t.Name(err, "getxattr", "lgetxattr", "fgetxattr", &name);
  }
  Napi::Value Result(Napi::Env env) { return Napi::Buffer<char>::Copy(env, value.data(), value.size()); }
};

// getxattr on a path that answers undefined where the attribute is absent (ENODATA) or the
// filesystem has no xattrs (ENOTSUP): readers of layers probe every directory and file for
// overlay.* attributes that are almost never there, and an error made and thrown for each
// costs several times the syscall. Any other failure is an error as getxattr's.
struct GetIfAnyOp {
  static constexpr const char* kName = "getxattrIfAny";
  XattrTarget t;
  std::string name;
  std::vector<char> value;
  bool absent = false;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) { return t.ParsePath(info, 0, 2) && ArgPath(info, 1, "name", name); }
  void Run() {
    int rc = ReadSized(value, [&](char* buf, size_t n) {
      return t.follow ? getxattr(t.path.c_str(), name.c_str(), buf, n) : lgetxattr(t.path.c_str(), name.c_str(), buf, n);
    });
    absent = rc == -ENODATA || rc == -ENOTSUP;
    if (!absent && err.Check(rc, "")) t.Name(err, "getxattr", "lgetxattr", "fgetxattr", &name);
  }
  Napi::Value Result(Napi::Env env) {
    return absent ? env.Undefined() : Napi::Value(Napi::Buffer<char>::Copy(env, value.data(), value.size()));
  }
};

template <bool kByFd>
struct SetOp {
  static constexpr const char* kName = kByFd ? "fsetxattr" : "setxattr";
  XattrTarget t;
  std::string name;
  std::vector<char> value;
  unsigned flags = 0;  // XATTR_CREATE / XATTR_REPLACE
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) {
    if (kByFd) {
      return t.ParseFd(info, 0) && ArgPath(info, 1, "name", name) && ArgBuffer(info, 2, "value", value) &&
             ArgUint(info, 3, "flags", flags);
    }
    return t.ParsePath(info, 0, 4) && ArgPath(info, 1, "name", name) && ArgBuffer(info, 2, "value", value) &&
           ArgUint(info, 3, "flags", flags);
  }
  void Run() {
    if (!t.by_fd) {
      CallSetxattr(t.path, name, value.data(), value.size(), flags, t.follow, err);
      return;
    }
    int rc = fsetxattr(t.fd.fd, name.c_str(), value.data(), value.size(), static_cast<int>(flags));
    if (err.Check(RawResult(rc), "")) t.Name(err, "setxattr", "lsetxattr", "fsetxattr", &name);
  }
  Napi::Value Result(Napi::Env env) { return env.Undefined(); }
};

template <bool kByFd>
struct ListOp {
  static constexpr const char* kName = kByFd ? "flistxattr" : "listxattr";
  XattrTarget t;
  std::vector<char> names;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) {
    if (kByFd) return t.ParseFd(info, 0);
    return t.ParsePath(info, 0, 1);
  }
  void Run() {
    int rc = ReadSized(names, [&](char* buf, size_t n) {
      if (t.by_fd) return flistxattr(t.fd.fd, buf, n);
      return t.follow ? listxattr(t.path.c_str(), buf, n) : llistxattr(t.path.c_str(), buf, n);
    });
    if (err.Check(rc, "")) t.Name(err, "listxattr", "llistxattr", "flistxattr", nullptr);
  }
  // The kernel returns NUL-separated names.
  Napi::Value Result(Napi::Env env) {
    Napi::Array out = Napi::Array::New(env);
    uint32_t n = 0;
    size_t start = 0;
    for (size_t i = 0; i < names.size(); i++) {
      if (names[i] != '\0') continue;
      if (i > start) out.Set(n++, Napi::String::New(env, names.data() + start, i - start));
      start = i + 1;
    }
    return out;
  }
};

template <bool kByFd>
struct RemoveOp {
  static constexpr const char* kName = kByFd ? "fremovexattr" : "removexattr";
  XattrTarget t;
  std::string name;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) {
    if (kByFd) return t.ParseFd(info, 0) && ArgPath(info, 1, "name", name);
    return t.ParsePath(info, 0, 2) && ArgPath(info, 1, "name", name);
  }
  void Run() {
    if (!t.by_fd) {
      CallRemovexattr(t.path, name, t.follow, err);
      return;
    }
    if (err.Check(RawResult(fremovexattr(t.fd.fd, name.c_str())), "")) t.Name(err, "removexattr", "lremovexattr", "fremovexattr", &name);
  }
  Napi::Value Result(Napi::Env env) { return env.Undefined(); }
};

}  // namespace

void InitXattr(Napi::Env env, Napi::Object exports) {
  ExportOp<GetOp<false>>(env, exports);
  ExportOp<GetOp<true>>(env, exports);
  ExportOp<GetIfAnyOp>(env, exports);
  ExportOp<SetOp<false>>(env, exports);
  ExportOp<SetOp<true>>(env, exports);
  ExportOp<ListOp<false>>(env, exports);
  ExportOp<ListOp<true>>(env, exports);
  ExportOp<RemoveOp<false>>(env, exports);
  ExportOp<RemoveOp<true>>(env, exports);
}

}  // namespace ovl
