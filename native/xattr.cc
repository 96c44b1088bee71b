// Extended attributes: get/set/list/remove on a path (l*xattr, no-follow, unless `follow`)
// and on an fd (f*xattr). Values are bytes.
#include <sys/xattr.h>

#include <cerrno>
#include <string>
#include <vector>

#include "calls.h"
#include "errors.h"
#include "sys.h"

namespace ovl {

namespace {

// The syscall an error names: the form that was called.
const char* Name(const XattrTarget& t, const char* path_call, const char* lpath_call, const char* fd_call) {
  return t.path == nullptr ? fd_call : (t.follow ? path_call : lpath_call);
}

int Record(int rc, const XattrTarget& t, const char* syscall, const std::string* name, SysError& err) {
  if (err.Check(rc, syscall)) {
    if (t.path) err.path = *t.path;
    if (name) err.key = *name;
  }
  return rc;
}

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

}  // namespace

int CallGetxattr(const XattrTarget& t, const std::string& name, std::vector<char>& value, SysError& err) {
  int rc = ReadSized(value, [&](char* buf, size_t n) {
    if (!t.path) return fgetxattr(t.fd, name.c_str(), buf, n);
    return t.follow ? getxattr(t.path->c_str(), name.c_str(), buf, n) : lgetxattr(t.path->c_str(), name.c_str(), buf, n);
  });
  return Record(rc, t, Name(t, "getxattr", "lgetxattr", "fgetxattr"), &name, err);
}

int CallSetxattr(const XattrTarget& t, const std::string& name, const void* value, size_t size, unsigned flags,
                 SysError& err) {
  int f = static_cast<int>(flags);
  int rc = RawResult(!t.path    ? fsetxattr(t.fd, name.c_str(), value, size, f)
                     : t.follow ? setxattr(t.path->c_str(), name.c_str(), value, size, f)
                                : lsetxattr(t.path->c_str(), name.c_str(), value, size, f));
  return Record(rc, t, Name(t, "setxattr", "lsetxattr", "fsetxattr"), &name, err);
}

int CallListxattr(const XattrTarget& t, std::vector<char>& names, SysError& err) {
  int rc = ReadSized(names, [&](char* buf, size_t n) {
    if (!t.path) return flistxattr(t.fd, buf, n);
    return t.follow ? listxattr(t.path->c_str(), buf, n) : llistxattr(t.path->c_str(), buf, n);
  });
  return Record(rc, t, Name(t, "listxattr", "llistxattr", "flistxattr"), nullptr, err);
}

int CallXattrAt(int dirfd, const std::string& path, unsigned flags, uint64_t resolve, const std::string& name,
                const void* value, size_t size, unsigned xattr_flags, SysError& err) {
  int fd = CallOpenat2(dirfd, path, flags, 0, resolve, err);
  if (fd < 0) return fd;
  XattrTarget t{nullptr, fd, false};
  int rc = value != nullptr ? CallSetxattr(t, name, value, size, xattr_flags, err) : CallRemovexattr(t, name, err);
  if (rc < 0) err.path = path;
  SysClose(fd);
  return rc;
}

int CallRemovexattr(const XattrTarget& t, const std::string& name, SysError& err) {
  int rc = RawResult(!t.path    ? fremovexattr(t.fd, name.c_str())
                     : t.follow ? removexattr(t.path->c_str(), name.c_str())
                                : lremovexattr(t.path->c_str(), name.c_str()));
  return Record(rc, t, Name(t, "removexattr", "lremovexattr", "fremovexattr"), &name, err);
}

}  // namespace ovl
