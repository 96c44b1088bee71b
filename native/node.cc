// Filesystem nodes: mknodat(2) (whiteouts are char devices 0/0), statx(2) with the mount id,
// realpath(3) (validation resolves every layer's path in the same batch as its statx), and
// statfs(2)/fstatfs(2) (which filesystem a directory is on: an overlay cannot be an upper, and
// markers are not written through one).
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <dirent.h>
#include <fcntl.h>

#include <cerrno>
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

int CallExpectFile(int fd, unsigned dev_major, unsigned dev_minor, uint64_t ino, SysError& err) {
  StatxBuf st{};
  int rc = SysStatx(fd, "", AT_EMPTY_PATH, STATX_INO, &st);
  if (err.Check(rc, "statx")) return rc;
  if (st.stx_dev_major == dev_major && st.stx_dev_minor == dev_minor && st.stx_ino == ino) return 0;
  err.Check(-ESTALE, "statx");
  return -ESTALE;
}

int CallExpectMount(const std::string& path, uint64_t mount_id, bool unique, SysError& err) {
  StatxBuf st{};
  unsigned mask = unique ? STATX_MNT_ID_UNIQUE : STATX_MNT_ID;
  int rc = SysStatx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, mask, &st);
  if (err.Check(rc, "statx")) {
    err.path = path;
    return rc;
  }
  // A kernel that cannot give the id asked for does not set its bit: nothing to compare.
  if ((st.stx_mask & mask) != 0 && st.stx_mnt_id == mount_id) return 0;
  err.Check(-ESTALE, "statx");
  err.path = path;
  return -ESTALE;
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

int CallReaddir(const std::string& path, std::vector<std::string>& names, std::vector<char>& types, SysError& err) {
  int fd = RawResult(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (err.Check(fd, "scandir")) {
    err.path = path;
    return fd;
  }
  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    int rc = -errno;
    SysClose(fd);
    err.Check(rc, "scandir");
    err.path = path;
    return rc;
  }
  for (;;) {
    errno = 0;
    struct dirent* d = readdir(dir);
    if (d == nullptr) {
      int rc = -errno;
      if (rc == 0) break;
      closedir(dir);
      err.Check(rc, "scandir");
      err.path = path;
      return rc;
    }
    if (d->d_name[0] == '.' && (d->d_name[1] == '\0' || (d->d_name[1] == '.' && d->d_name[2] == '\0'))) continue;
    unsigned char type = d->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st {};
      if (fstatat(dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) type = static_cast<unsigned char>(IFTODT(st.st_mode));
    }
    names.emplace_back(d->d_name);
    types.push_back(static_cast<char>(type));
  }
  closedir(dir);
  return 0;
}

int CallStatfs(const std::string& path, int64_t& type, SysError& err) {
  struct statfs st {};
  int rc = RawResult(statfs(path.c_str(), &st));
  if (err.Check(rc, "statfs")) {
    err.path = path;
    return rc;
  }
  type = static_cast<int64_t>(st.f_type);
  return 0;
}

int CallRefuseFsType(int fd, uint64_t type, SysError& err) {
  struct statfs st {};
  int rc = RawResult(fstatfs(fd, &st));
  if (err.Check(rc, "fstatfs")) return rc;
  // f_type is a signed word (an int on 32-bit ABIs, where a magic with the top bit set reads
  // negative): compare the 32 bits every magic number has.
  if (static_cast<uint32_t>(st.f_type) != static_cast<uint32_t>(type)) return 0;
  err.Check(-EMEDIUMTYPE, "fstatfs");
  return -EMEDIUMTYPE;
}

}  // namespace ovl
