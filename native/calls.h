// One function per syscall: the call with its fixed flags (*_CLOEXEC), and on failure the
// error record (syscall name, path, dest, key, the fs-context log). runSteps (batch.cc) is the
// only caller: every raw function, single or batched, is a step, so a syscall is written once.
// Each returns the result (an fd, or 0) or -errno.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "errors.h"
#include "sys.h"

namespace ovl {

// fd.cc
int CallOpen(int dirfd, const std::string& path, unsigned flags, unsigned mode, SysError& err);
int CallLseek(int fd, int64_t offset, unsigned whence, int64_t& result, SysError& err);
int CallOpenat2(int dirfd, const std::string& path, unsigned flags, unsigned mode, uint64_t resolve, SysError& err);
int CallFlock(int fd, unsigned operation, SysError& err);
// The whole file at `path` into `out` (open, read to the end, close): procfs files have no size.
int CallReadFile(const std::string& path, std::vector<char>& out, SysError& err);

// mount_api.cc
int CallFsopen(const std::string& fsname, unsigned flags, SysError& err);
int CallFspick(int dirfd, const std::string& path, unsigned flags, SysError& err);
// `key` null for the CMD_* commands; `shown` is the value named in an error (string or path).
int CallFsconfig(int fs, unsigned cmd, const std::string* key, const void* value, int aux, const std::string* shown,
                 SysError& err);
int CallFsmount(int fs, unsigned flags, unsigned attrs, SysError& err);
int CallMoveMount(int from, const std::string& from_path, int to, const std::string& to_path, unsigned flags,
                  SysError& err);
int CallOpenTree(int dirfd, const std::string& path, unsigned flags, SysError& err);
int CallMountSetattr(int dirfd, const std::string& path, unsigned flags, const MountAttrV0& attr, SysError& err);
// The fs-context message log: reads messages until the queue is empty (ENODATA). Each read(2)
// returns one message; the queue keeps only the last 8. Trailing newlines are dropped, the
// level prefix ("e overlay: ...") is kept.
std::vector<std::string> DrainFsLog(int fs_fd);

// mount_legacy.cc: mount(2), and mount(2) on a private-cwd thread when `cwd` >= 0.
struct LegacyMountArgs {
  const std::optional<std::string>& source;
  const std::string& target;
  const std::optional<std::string>& fstype;
  unsigned flags;
  const std::optional<std::string>& data;
};
int CallMount(const LegacyMountArgs& args, int cwd, SysError& err);
int CallUmount2(const std::string& target, unsigned flags, SysError& err);

// mount_info.cc: statmount(2) into `buf` (struct statmount and its strings).
int CallStatmount(uint64_t mnt_id, uint64_t mask, std::vector<char>& buf, SysError& err);
// listmount(2): the ids of the mounts below `mnt_id` (0: LSMT_ROOT) after `since`, all pages.
int CallListmount(uint64_t mnt_id, uint64_t since, std::vector<uint64_t>& out, SysError& err);

// node.cc
int CallMknod(int dirfd, const std::string& path, unsigned mode, unsigned major, unsigned minor, SysError& err);
int CallStatx(int dirfd, const std::string& path, unsigned flags, unsigned mask, StatxBuf* st, SysError& err);
int CallRealpath(const std::string& path, std::string& out, SysError& err);
// kernel_log.cc: /dev/kmsg's fd read into the process's journal; out = [last sequence number,
// then the records after `since`].
int CallKernelLog(int fd, uint64_t since, std::vector<std::string>& out, SysError& err);

// userns.cc: a user namespace with these uid and gid maps (a child cloned into it, maps
// written, /proc/PID/ns/user opened, the child reaped); the namespace's fd.
int CallUserns(const std::string& uid_map, const std::string& gid_map, SysError& err);

// ESTALE unless the mount on top at `path` has id `mount_id` (the 64-bit one when `unique`).
int CallExpectMount(const std::string& path, uint64_t mount_id, bool unique, SysError& err);
// -ESTALE unless `fd` is the file (device major:minor, inode) given: a directory validated by
// path must be the one opened by the time it is used.
int CallExpectFile(int fd, unsigned dev_major, unsigned dev_minor, uint64_t ino, SysError& err);
// A directory's entries (without . and ..) and their types as d_type gives them (DT_*);
// where the filesystem gives DT_UNKNOWN, the type comes from fstatat(AT_SYMLINK_NOFOLLOW).
int CallReaddir(const std::string& path, std::vector<std::string>& names, std::vector<char>& types, SysError& err);
// scan_dir.cc: a directory's entries as CallReaddir gives them, and what their types leave
// unsaid: with kScanWhiteouts a character device 0/0 (a whiteout) gets the type kDtWhiteout
// (fstatat relative to the directory's fd); with kScanDirXattrs each subdirectory's xattrs named
// in `xattrs` (comma-separated) are read into `marks`. A failure of the directory names
// "scandir"; of an entry, the call and the entry's path (an entry gone meanwhile is no failure).
constexpr unsigned kScanWhiteouts = 1;
constexpr unsigned kScanDirXattrs = 2;
constexpr unsigned char kDtWhiteout = 14;  // DT_WHT
struct ScanMark {
  uint32_t index;  // into names
  std::string name;
  std::vector<char> value;
};
struct ScanDirResult {
  std::vector<std::string> names;
  std::vector<char> types;
  std::vector<ScanMark> marks;
};
int CallScanDir(const std::string& path, unsigned flags, const std::string& xattrs, ScanDirResult& out, SysError& err);
// statfs(2): the filesystem's magic number (f_type) in `type`.
int CallStatfs(const std::string& path, int64_t& type, SysError& err);
// -EMEDIUMTYPE when fstatfs(2) of `fd` says its filesystem is `type` (f_type): a write made
// through `fd` later in the batch is refused without a path to race.
int CallRefuseFsType(int fd, uint64_t type, SysError& err);

// xattr.cc. A path target uses the l*xattr calls unless `follow`; an fd target (fd >= 0) the
// f*xattr ones. Values and name lists are read with retries while their size changes.
struct XattrTarget {
  const std::string* path;  // nullptr for an fd target
  int fd;
  bool follow;
};
int CallGetxattr(const XattrTarget& t, const std::string& name, std::vector<char>& value, SysError& err);
int CallSetxattr(const XattrTarget& t, const std::string& name, const void* value, size_t size, unsigned flags,
                 SysError& err);
int CallListxattr(const XattrTarget& t, std::vector<char>& names, SysError& err);
int CallRemovexattr(const XattrTarget& t, const std::string& name, SysError& err);
// fsetxattr (value non-null) or fremovexattr (value null) on the file openat2(dirfd, path,
// flags, resolve) opens, closed after. The error names the call that failed, and `path`.
int CallXattrAt(int dirfd, const std::string& path, unsigned flags, uint64_t resolve, const std::string& name,
                const void* value, size_t size, unsigned xattr_flags, SysError& err);

}  // namespace ovl
