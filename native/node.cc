// Filesystem nodes: mknodat(2) (whiteouts are char devices 0/0), statx(2) with the mount id,
// and realpath(3) (validation resolves every layer's path in the same batch as its statx).
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <climits>
#include <cstdlib>
#include <string>

#include "calls.h"
#include "errors.h"
#include "sys.h"

namespace ovl {

int CallMknod(int dirfd, const std::string& path, unsigned mode, unsigned major, unsigned minor, SysError& err) {
  int rc = RawResult(mknodat(dirfd, path.c_str(), mode, makedev(major, minor)));
  if (err.Check(rc, "mknod")) err.path = path;
  return rc;
}

int CallStatx(int dirfd, const std::string& path, unsigned flags, unsigned mask, StatxBuf* st, SysError& err) {
  int rc = SysStatx(dirfd, path.c_str(), static_cast<int>(flags), mask, st);
  if (err.Check(rc, "statx") && !path.empty()) err.path = path;
  return rc;
}

int CallRealpath(const std::string& path, std::string& out, SysError& err) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) {
    int rc = -errno;
    err.Check(rc, "realpath");
    err.path = path;
    return rc;
  }
  out = buf;
  return 0;
}

}  // namespace ovl
