// scanDir: one directory of a layer read with what its entries' types leave unsaid, in one step.
// A layer reader (changes()) needs, besides each entry's d_type, whether a character device is a
// whiteout (0/0) and a directory's overlay xattrs (opaque, redirect). As separate steps that was a
// readdir, then a statx per device and a listxattr per directory, each a step packed in
// TypeScript and a result object made for it; here it is getdents64 on the directory's fd and,
// only for the entries that need it, an fstatat relative to that fd and an llistxattr (plus an
// lgetxattr of each asked-for name it lists). Everything else is one byte per entry.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "calls.h"
#include "errors.h"
#include "sys.h"

namespace ovl {

namespace {

// struct linux_dirent64 (getdents64(2)); glibc declares no type for it.
struct Dirent64 {
  uint64_t ino;
  int64_t off;
  unsigned short reclen;
  unsigned char type;
  char name[];
};

bool Absent(int rc) { return rc == -ENOENT || rc == -ENOTDIR; }
bool NoXattrs(int rc) { return rc == -ENOTSUP || rc == -EOPNOTSUPP; }

std::string Child(const std::string& dir, const char* name) {
  std::string path = dir;
  if (path.empty() || path.back() != '/') path += '/';
  return path += name;
}

// Whether `name` is one of the comma-separated `wanted`.
bool Wanted(std::string_view wanted, std::string_view name) {
  size_t start = 0;
  while (start <= wanted.size()) {
    size_t end = wanted.find(',', start);
    if (end == std::string_view::npos) end = wanted.size();
    if (wanted.substr(start, end - start) == name) return true;
    start = end + 1;
  }
  return false;
}

// The entry's type and marks. Returns 0, or the -errno of a failure other than the entry being
// gone (which leaves it as d_type said: a reader that then looks at it finds nothing either).
int Examine(int dirfd, const std::string& dir, const char* name, unsigned flags, const std::string& xattrs,
            uint32_t index, unsigned char& type, ScanDirResult& out, SysError& err) {
  bool whiteouts = (flags & kScanWhiteouts) != 0;
  if (type == DT_UNKNOWN || (type == DT_CHR && whiteouts)) {
    struct stat st {};
    int rc = RawResult(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW));
    if (rc < 0) {
      if (Absent(rc) || type == DT_UNKNOWN) return 0;  // as readdir: DT_UNKNOWN stays unknown
      err.Check(rc, "statx");
      err.path = Child(dir, name);
      return rc;
    }
    type = static_cast<unsigned char>(IFTODT(st.st_mode));
    if (whiteouts && S_ISCHR(st.st_mode) && major(st.st_rdev) == 0 && minor(st.st_rdev) == 0) type = kDtWhiteout;
  }
  if (type != DT_DIR || (flags & kScanDirXattrs) == 0 || xattrs.empty()) return 0;
  std::string path = Child(dir, name);
  XattrTarget target{&path, -1, false};
  std::vector<char> listed;
  SysError list_err;
  int rc = CallListxattr(target, listed, list_err);
  if (rc < 0) {
    if (Absent(rc) || NoXattrs(rc)) return 0;
    err = std::move(list_err);
    return rc;
  }
  for (size_t start = 0, i = 0; i < listed.size(); i++) {
    if (listed[i] != '\0') continue;
    std::string xname(listed.data() + start, i - start);
    start = i + 1;
    if (xname.empty() || !Wanted(xattrs, xname)) continue;
    std::vector<char> value;
    SysError get_err;
    // Gone since it was listed, or unreadable: as if absent (a getxattr step recorded and skipped).
    if (CallGetxattr(target, xname, value, get_err) < 0) continue;
    out.marks.push_back({index, std::move(xname), std::move(value)});
  }
  return 0;
}

}  // namespace

int CallScanDir(const std::string& path, unsigned flags, const std::string& xattrs, ScanDirResult& out, SysError& err) {
  int fd = RawResult(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (err.Check(fd, "scandir")) {
    err.path = path;
    return fd;
  }
  // Entries are examined after the whole directory is read: the calls made for them do not
  // interleave with getdents64 on the same fd.
  thread_local std::vector<char> buf(64 * 1024);
  std::vector<uint32_t> pending;  // entries that need a closer look
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf.data(), buf.size());
    if (n < 0) {
      int rc = -errno;
      SysClose(fd);
      err.Check(rc, "scandir");
      err.path = path;
      return rc;
    }
    if (n == 0) break;
    for (long at = 0; at < n;) {
      auto* d = reinterpret_cast<const Dirent64*>(buf.data() + at);
      at += d->reclen;
      const char* name = d->name;
      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
      unsigned char type = d->type;
      if (type == DT_UNKNOWN || type == DT_CHR || type == DT_DIR) pending.push_back(static_cast<uint32_t>(out.names.size()));
      out.names.emplace_back(name);
      out.types.push_back(static_cast<char>(type));
    }
  }
  for (uint32_t i : pending) {
    auto type = static_cast<unsigned char>(out.types[i]);
    int rc = Examine(fd, path, out.names[i].c_str(), flags, xattrs, i, type, out, err);
    if (rc < 0) {
      SysClose(fd);
      return rc;
    }
    out.types[i] = static_cast<char>(type);
  }
  SysClose(fd);
  return 0;
}

}  // namespace ovl
