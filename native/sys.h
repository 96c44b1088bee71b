// Kernel constants and syscall shims that glibc 2.36 + linux-libc-dev 6.1 lack, and that musl
// lacks altogether (its <sys/mount.h> has no new mount API; statx(3) and struct statx came in
// musl 1.2.5, without stx_mnt_id): every mount API macro is defined here when absent, and statx
// goes through our own struct (the kernel's ABI) and syscall(2) on every C library.
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

// The new mount API's flags (uapi/linux/mount.h). glibc 2.36+ defines them in <sys/mount.h>;
// always macros, so #ifndef is safe.
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#endif
#ifndef FSPICK_CLOEXEC
#define FSPICK_CLOEXEC 0x00000001
#endif
#ifndef FSPICK_SYMLINK_NOFOLLOW
#define FSPICK_SYMLINK_NOFOLLOW 0x00000002
#endif
#ifndef FSPICK_NO_AUTOMOUNT
#define FSPICK_NO_AUTOMOUNT 0x00000004
#endif
#ifndef FSPICK_EMPTY_PATH
#define FSPICK_EMPTY_PATH 0x00000008
#endif
#ifndef FSMOUNT_CLOEXEC
#define FSMOUNT_CLOEXEC 0x00000001
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef MOUNT_ATTR_NOSUID
#define MOUNT_ATTR_NOSUID 0x00000002
#endif
#ifndef MOUNT_ATTR_NODEV
#define MOUNT_ATTR_NODEV 0x00000004
#endif
#ifndef MOUNT_ATTR_NOEXEC
#define MOUNT_ATTR_NOEXEC 0x00000008
#endif
#ifndef MOUNT_ATTR__ATIME
#define MOUNT_ATTR__ATIME 0x00000070
#endif
#ifndef MOUNT_ATTR_RELATIME
#define MOUNT_ATTR_RELATIME 0x00000000
#endif
#ifndef MOUNT_ATTR_NOATIME
#define MOUNT_ATTR_NOATIME 0x00000010
#endif
#ifndef MOUNT_ATTR_STRICTATIME
#define MOUNT_ATTR_STRICTATIME 0x00000020
#endif
#ifndef MOUNT_ATTR_NODIRATIME
#define MOUNT_ATTR_NODIRATIME 0x00000080
#endif
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif
#ifndef MOVE_MOUNT_F_SYMLINKS
#define MOVE_MOUNT_F_SYMLINKS 0x00000001
#endif
#ifndef MOVE_MOUNT_F_AUTOMOUNTS
#define MOVE_MOUNT_F_AUTOMOUNTS 0x00000002
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_SYMLINKS
#define MOVE_MOUNT_T_SYMLINKS 0x00000010
#endif
#ifndef MOVE_MOUNT_T_AUTOMOUNTS
#define MOVE_MOUNT_T_AUTOMOUNTS 0x00000020
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif
#ifndef MOVE_MOUNT_SET_GROUP
#define MOVE_MOUNT_SET_GROUP 0x00000100
#endif
#ifndef MOVE_MOUNT_BENEATH
#define MOVE_MOUNT_BENEATH 0x00000200  // Linux 6.5
#endif
#ifndef MOUNT_ATTR_NOSYMFOLLOW
#define MOUNT_ATTR_NOSYMFOLLOW 0x00200000
#endif
#ifndef MOUNT_ATTR_SIZE_VER0
#define MOUNT_ATTR_SIZE_VER0 32
#endif
#ifndef STATX_TYPE
#define STATX_TYPE 0x00000001U
#endif
#ifndef STATX_MODE
#define STATX_MODE 0x00000002U
#endif
#ifndef STATX_INO
#define STATX_INO 0x00000100U
#endif
#ifndef STATX_BASIC_STATS
#define STATX_BASIC_STATS 0x000007ffU
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

// openat2(2) and the *xattrat(2) calls for layer reads (layer_read.cc): the syscall numbers are
// the same on every architecture; the RESOLVE_* values are uapi/linux/openat2.h's, which musl
// builds may lack.
#ifndef SYS_openat2
#define SYS_openat2 437  // Linux 5.6
#endif
#ifndef SYS_getxattrat
#define SYS_getxattrat 464  // Linux 6.13
#endif
#ifndef SYS_listxattrat
#define SYS_listxattrat 465  // Linux 6.13
#endif
#ifndef RESOLVE_NO_MAGICLINKS
#define RESOLVE_NO_MAGICLINKS 0x02
#endif
#ifndef RESOLVE_BENEATH
#define RESOLVE_BENEATH 0x08
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
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

// struct statx as the kernel lays it out (uapi/linux/stat.h; 256 bytes, fields only appended).
// Ours rather than the C library's: musl before 1.2.5 has none, and 1.2.5's has no stx_mnt_id.
struct StatxTimestamp {
  int64_t tv_sec;
  uint32_t tv_nsec;
  int32_t reserved;
};
struct StatxBuf {
  uint32_t stx_mask;
  uint32_t stx_blksize;
  uint64_t stx_attributes;
  uint32_t stx_nlink;
  uint32_t stx_uid;
  uint32_t stx_gid;
  uint16_t stx_mode;
  uint16_t spare0;
  uint64_t stx_ino;
  uint64_t stx_size;
  uint64_t stx_blocks;
  uint64_t stx_attributes_mask;
  StatxTimestamp stx_atime;
  StatxTimestamp stx_btime;
  StatxTimestamp stx_ctime;
  StatxTimestamp stx_mtime;
  uint32_t stx_rdev_major;
  uint32_t stx_rdev_minor;
  uint32_t stx_dev_major;
  uint32_t stx_dev_minor;
  uint64_t stx_mnt_id;
  uint32_t stx_dio_mem_align;
  uint32_t stx_dio_offset_align;
  uint64_t spare3[12];
};
static_assert(sizeof(StatxBuf) == 256);

inline int SysStatx(int dirfd, const char* path, int flags, unsigned mask, StatxBuf* st) {
  return RawResult(syscall(SYS_statx, dirfd, path, flags, mask, st));
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

// openat2(2) (Linux 5.6): neither musl nor glibc 2.36 wraps it. The number is the same on every
// architecture; struct open_how is the kernel's (linux/openat2.h), its first size. RESOLVE_* are
// macros upstream, spelled here exactly as there so including both is harmless.
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef RESOLVE_NO_XDEV
#define RESOLVE_NO_XDEV 0x01
#endif
#ifndef RESOLVE_NO_MAGICLINKS
#define RESOLVE_NO_MAGICLINKS 0x02
#endif
#ifndef RESOLVE_NO_SYMLINKS
#define RESOLVE_NO_SYMLINKS 0x04
#endif
#ifndef RESOLVE_BENEATH
#define RESOLVE_BENEATH 0x08
#endif
#ifndef RESOLVE_IN_ROOT
#define RESOLVE_IN_ROOT 0x10
#endif
#ifndef RESOLVE_CACHED
#define RESOLVE_CACHED 0x20
#endif
struct OpenHow {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};
static_assert(sizeof(OpenHow) == 24);

inline int SysOpenat2(int dirfd, const char* path, uint64_t flags, uint64_t mode, uint64_t resolve) {
  OpenHow how{flags, mode, resolve};
  return RawResult(syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

// fchmodat2(2) (Linux 6.6): the only chmod that takes AT_SYMLINK_NOFOLLOW. Same number everywhere.
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
inline int SysFchmodat2(int dirfd, const char* path, unsigned mode, int flags) {
  return RawResult(syscall(SYS_fchmodat2, dirfd, path, mode, flags));
}

// getdents64(2) through syscall(2): musl has no getdents64 symbol in every version. Records are
// struct linux_dirent64 {u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[];}: read by
// these offsets (a flexible array member is not C++).
constexpr size_t kDirentReclen = 16;
constexpr size_t kDirentType = 18;
constexpr size_t kDirentName = 19;
inline int SysGetdents64(int fd, void* buf, size_t size) {
  return RawResult(syscall(SYS_getdents64, fd, buf, size));
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
