// One function per syscall: the call with its fixed flags (*_CLOEXEC), and on failure the
// error record (syscall name, path, dest, key, the fs-context log). The single-call exports and
// the batched call (batch.cc) both go through these, so a syscall is written once.
// Each returns the result (an fd, or 0) or -errno.
#pragma once

#include <sys/stat.h>

#include <string>

#include "errors.h"
#include "sys.h"

namespace ovl {

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

// fd.cc
int CallOpen(int dirfd, const std::string& path, unsigned flags, unsigned mode, SysError& err);

// mount_legacy.cc
int CallUmount2(const std::string& target, unsigned flags, SysError& err);

// node.cc
int CallMknod(int dirfd, const std::string& path, unsigned mode, unsigned major, unsigned minor, SysError& err);
int CallStatx(int dirfd, const std::string& path, unsigned flags, unsigned mask, struct statx* st, SysError& err);

// xattr.cc (path forms: l*xattr unless `follow`)
int CallSetxattr(const std::string& path, const std::string& name, const void* value, size_t size, unsigned flags,
                 bool follow, SysError& err);
int CallRemovexattr(const std::string& path, const std::string& name, bool follow, SysError& err);

}  // namespace ovl
