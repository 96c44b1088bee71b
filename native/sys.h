// Kernel constants and syscall shims that glibc 2.36 + linux-libc-dev 6.1 lack.
//
// We include only glibc's <sys/mount.h>, never <linux/mount.h>: on unpatched glibc 2.36 the two
// redeclare `enum fsconfig_command` and `struct mount_attr`. Newer glibc defines FSCONFIG_* as
// macros of themselves while linux/mount.h defines them as bare enum constants, so `#ifndef
// FSCONFIG_CMD_CREATE_EXCL` cannot tell "absent" from "enum-only". Constants that may be missing
// therefore get our own names (kFoo) with the value from include/uapi/linux/mount.h; macros that
// are always macros (MOVE_MOUNT_*, STATX_*) are guarded with #ifndef.
#pragma once

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace ovl {

// enum fsconfig_command (uapi/linux/mount.h)
constexpr unsigned kFsconfigSetFlag = 0;
constexpr unsigned kFsconfigSetString = 1;
constexpr unsigned kFsconfigSetBinary = 2;
constexpr unsigned kFsconfigSetPath = 3;
constexpr unsigned kFsconfigSetPathEmpty = 4;
constexpr unsigned kFsconfigSetFd = 5;
constexpr unsigned kFsconfigCmdCreate = 6;
constexpr unsigned kFsconfigCmdReconfigure = 7;
constexpr unsigned kFsconfigCmdCreateExcl = 8;  // Linux 6.6

#ifndef MOVE_MOUNT_BENEATH
#define MOVE_MOUNT_BENEATH 0x00000200  // Linux 6.5
#endif
#ifndef MOUNT_ATTR_NOSYMFOLLOW
#define MOUNT_ATTR_NOSYMFOLLOW 0x00200000
#endif
#ifndef MOUNT_ATTR_SIZE_VER0
#define MOUNT_ATTR_SIZE_VER0 32
#endif
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U  // Linux 6.8
#endif

// statmount(2) request mask bits (uapi/linux/mount.h): 6.8, then OPT_ARRAY 6.10, SUPPORTED_MASK
// and MNT_UIDMAP/GIDMAP later. Always macros upstream, so #ifndef is safe.
#ifndef STATMOUNT_SB_BASIC
#define STATMOUNT_SB_BASIC 0x00000001U
#endif
#ifndef STATMOUNT_MNT_BASIC
#define STATMOUNT_MNT_BASIC 0x00000002U
#endif
#ifndef STATMOUNT_PROPAGATE_FROM
#define STATMOUNT_PROPAGATE_FROM 0x00000004U
#endif
#ifndef STATMOUNT_MNT_ROOT
#define STATMOUNT_MNT_ROOT 0x00000008U
#endif
#ifndef STATMOUNT_MNT_POINT
#define STATMOUNT_MNT_POINT 0x00000010U
#endif
#ifndef STATMOUNT_FS_TYPE
#define STATMOUNT_FS_TYPE 0x00000020U
#endif
#ifndef STATMOUNT_MNT_NS_ID
#define STATMOUNT_MNT_NS_ID 0x00000040U
#endif
#ifndef STATMOUNT_MNT_OPTS
#define STATMOUNT_MNT_OPTS 0x00000080U
#endif
#ifndef STATMOUNT_FS_SUBTYPE
#define STATMOUNT_FS_SUBTYPE 0x00000100U
#endif
#ifndef STATMOUNT_SB_SOURCE
#define STATMOUNT_SB_SOURCE 0x00000200U
#endif
#ifndef STATMOUNT_OPT_ARRAY
#define STATMOUNT_OPT_ARRAY 0x00000400U
#endif
#ifndef STATMOUNT_OPT_SEC_ARRAY
#define STATMOUNT_OPT_SEC_ARRAY 0x00000800U
#endif
#ifndef STATMOUNT_SUPPORTED_MASK
#define STATMOUNT_SUPPORTED_MASK 0x00001000U
#endif
#ifndef STATMOUNT_MNT_UIDMAP
#define STATMOUNT_MNT_UIDMAP 0x00002000U
#endif
#ifndef STATMOUNT_MNT_GIDMAP
#define STATMOUNT_MNT_GIDMAP 0x00004000U
#endif

// The raw calls below return the result or -errno, so callers never read a global errno that
// another call in between may have overwritten.

inline int RawResult(long rc) { return rc < 0 ? -errno : static_cast<int>(rc); }

inline int SysFsopen(const char* fsname, unsigned flags) {
  return RawResult(syscall(SYS_fsopen, fsname, flags));
}
inline int SysFspick(int dfd, const char* path, unsigned flags) {
  return RawResult(syscall(SYS_fspick, dfd, path, flags));
}
inline int SysFsconfig(int fd, unsigned cmd, const char* key, const void* value, int aux) {
  return RawResult(syscall(SYS_fsconfig, fd, cmd, key, value, aux));
}
inline int SysFsmount(int fd, unsigned flags, unsigned attrs) {
  return RawResult(syscall(SYS_fsmount, fd, flags, attrs));
}
inline int SysMoveMount(int from_dfd, const char* from, int to_dfd, const char* to, unsigned flags) {
  return RawResult(syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags));
}
inline int SysOpenTree(int dfd, const char* path, unsigned flags) {
  return RawResult(syscall(SYS_open_tree, dfd, path, flags));
}

// struct mount_attr, MOUNT_ATTR_SIZE_VER0 layout.
struct MountAttrV0 {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};
static_assert(sizeof(MountAttrV0) == MOUNT_ATTR_SIZE_VER0);

inline int SysMountSetattr(int dfd, const char* path, unsigned flags, const MountAttrV0& attr) {
  return RawResult(syscall(SYS_mount_setattr, dfd, path, flags, &attr, sizeof attr));
}

// Retries EINTR: a signal must not turn a close into a leak report or a failed fd cleanup.
inline int SysRead(int fd, char* buf, size_t n) {
  for (;;) {
    ssize_t r = read(fd, buf, n);
    if (r >= 0) return static_cast<int>(r);
    if (errno != EINTR) return -errno;
  }
}

// close(2) on Linux releases the fd even when it reports EINTR, so never retry it.
inline int SysClose(int fd) {
  int rc = close(fd);
  return (rc < 0 && errno != EINTR) ? -errno : 0;
}

// Owns an fd produced by a call until it is handed to a JS handle, so an async call whose
// result is never delivered (environment torn down) does not leak it.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) Reset(o.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int Get() const { return fd_; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1) {
    if (fd_ >= 0) SysClose(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace ovl
