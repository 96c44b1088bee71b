// The new mount API: fsopen(2), fspick(2), fsconfig(2) (one export per command), fsmount(2),
// move_mount(2), open_tree(2), mount_setattr(2), and the fs-context message log.
#include <napi.h>
#include <poll.h>

#include <cerrno>
#include <string>
#include <vector>

#include "args.h"
#include "calls.h"
#include "errors.h"
#include "fd.h"
#include "fs_log.h"
#include "sys.h"
#include "worker.h"

namespace ovl {

// Every failing fsconfig/fsmount drains the fd it was given, which need not be an fs context.
// The kernel keeps at most 8 messages (struct fc_log, include/linux/fs_context.h), so more reads
// mean it is not a log (a file, /dev/zero); a zero-timeout poll first keeps an empty pipe or
// socket from blocking. An fs context has no poll method, so it always polls readable.
constexpr size_t kMaxFsLogMessages = 8;

std::vector<std::string> DrainFsLog(int fs_fd) {
  std::vector<std::string> out;
  std::vector<char> buf(4096);
  while (out.size() < kMaxFsLogMessages) {
    pollfd pfd{fs_fd, POLLIN, 0};
    int ready;
    do ready = poll(&pfd, 1, 0);
    while (ready < 0 && errno == EINTR);
    if (ready != 1 || !(pfd.revents & POLLIN)) break;
    int n = SysRead(fs_fd, buf.data(), buf.size());
    if (n == -EMSGSIZE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 4);  // the message stays queued; read it again with room for it
      continue;
    }
    if (n <= 0) break;  // ENODATA: empty; anything else: not a log (e.g. a mount fd)
    std::string msg(buf.data(), static_cast<size_t>(n));
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    out.push_back(std::move(msg));
  }
  return out;
}

int CallFsopen(const std::string& fsname, unsigned flags, SysError& err) {
  int rc = SysFsopen(fsname.c_str(), flags | FSOPEN_CLOEXEC);
  if (err.Check(rc, "fsopen")) err.path = fsname;
  return rc;
}

int CallFspick(int dirfd, const std::string& path, unsigned flags, SysError& err) {
  int rc = SysFspick(dirfd, path.c_str(), flags | FSPICK_CLOEXEC);
  if (err.Check(rc, "fspick")) err.path = path;
  return rc;
}

int CallFsconfig(int fs, unsigned cmd, const std::string* key, const void* value, int aux, const std::string* shown,
                 SysError& err) {
  int rc = SysFsconfig(fs, cmd, key ? key->c_str() : nullptr, value, aux);
  if (!err.Check(rc, "fsconfig")) return rc;
  if (key) err.key = *key;
  if (shown) err.path = *shown;
  err.kernel_messages = DrainFsLog(fs);
  return rc;
}

int CallFsmount(int fs, unsigned flags, unsigned attrs, SysError& err) {
  int rc = SysFsmount(fs, flags | FSMOUNT_CLOEXEC, attrs);
  if (err.Check(rc, "fsmount")) err.kernel_messages = DrainFsLog(fs);
  return rc;
}

int CallMoveMount(int from, const std::string& from_path, int to, const std::string& to_path, unsigned flags,
                  SysError& err) {
  int rc = SysMoveMount(from, from_path.c_str(), to, to_path.c_str(), flags);
  if (err.Check(rc, "move_mount")) {
    if (!from_path.empty()) err.path = from_path;
    if (!to_path.empty()) err.dest = to_path;
  }
  return rc;
}

int CallOpenTree(int dirfd, const std::string& path, unsigned flags, SysError& err) {
  int rc = SysOpenTree(dirfd, path.c_str(), flags | OPEN_TREE_CLOEXEC);
  if (err.Check(rc, "open_tree")) err.path = path;
  return rc;
}

int CallMountSetattr(int dirfd, const std::string& path, unsigned flags, const MountAttrV0& attr, SysError& err) {
  int rc = SysMountSetattr(dirfd, path.c_str(), flags, attr);
  if (err.Check(rc, "mount_setattr") && !path.empty()) err.path = path;
  return rc;
}

namespace {

Napi::Value StringArray(Napi::Env env, const std::vector<std::string>& items) {
  Napi::Array arr = Napi::Array::New(env, items.size());
  for (size_t i = 0; i < items.size(); i++) arr.Set(static_cast<uint32_t>(i), items[i]);
  return arr;
}

// fsopen(fsname, flags): int fsopen(const char *fsname, unsigned int flags). FSOPEN_CLOEXEC is forced.
struct FsopenOp {
  static constexpr const char* kName = "fsopen";
  std::string fsname;
  unsigned flags = 0;
  UniqueFd fd;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) {
    return ArgPath(info, 0, "fsname", fsname) && ArgUint(info, 1, "flags", flags);
  }
  void Run() {
    int rc = CallFsopen(fsname, flags, err);
    if (rc >= 0) fd.Reset(rc);
  }
  Napi::Value Result(Napi::Env env) { return FdHandle::Wrap(env, fd.Release(), "fs"); }
};

// fspick(dirfd, path, flags): an fs context for reconfiguring the superblock at path.
struct FspickOp {
  static constexpr const char* kName = "fspick";
  FdArg dir;
  std::string path;
  unsigned flags = 0;
  UniqueFd fd;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) {
    return ArgFd(info, 0, "dirfd", dir, true) && ArgPath(info, 1, "path", path) &&
           ArgUint(info, 2, "flags", flags);
  }
  void Run() {
    int rc = CallFspick(dir.fd, path, flags, err);
    if (rc >= 0) fd.Reset(rc);
  }
  Napi::Value Result(Napi::Env env) { return FdHandle::Wrap(env, fd.Release(), "fs"); }
};

// Shared by every fsconfig command: the call, and on failure the key, the value and the log.
struct FsconfigBase {
  FdArg fs;
  std::string key;
  SysError err;

  void Call(unsigned cmd, bool with_key, const void* value, int aux, const std::string* shown) {
    CallFsconfig(fs.fd, cmd, with_key ? &key : nullptr, value, aux, shown, err);
  }
  Napi::Value Result(Napi::Env env) { return env.Undefined(); }
};

// fsconfig(fd, FSCONFIG_SET_FLAG, key, NULL, 0)
struct FsconfigSetFlagOp : FsconfigBase {
  static constexpr const char* kName = "fsconfigSetFlag";
  bool Parse(const Napi::CallbackInfo& info) {
    return ArgFd(info, 0, "fs", fs) && ArgPath(info, 1, "key", key);
  }
  void Run() { Call(kFsconfigSetFlag, true, nullptr, 0, nullptr); }
};

// fsconfig(fd, FSCONFIG_SET_STRING, key, value, 0); the kernel caps value at 255 bytes.
struct FsconfigSetStringOp : FsconfigBase {
  static constexpr const char* kName = "fsconfigSetString";
  std::string value;
  bool Parse(const Napi::CallbackInfo& info) {
    return ArgFd(info, 0, "fs", fs) && ArgPath(info, 1, "key", key) && ArgPath(info, 2, "value", value);
  }
  void Run() { Call(kFsconfigSetString, true, value.c_str(), 0, &value); }
};

// fsconfig(fd, FSCONFIG_SET_BINARY, key, value, length)
struct FsconfigSetBinaryOp : FsconfigBase {
  static constexpr const char* kName = "fsconfigSetBinary";
  std::vector<char> value;
  bool Parse(const Napi::CallbackInfo& info) {
    return ArgFd(info, 0, "fs", fs) && ArgPath(info, 1, "key", key) && ArgBuffer(info, 2, "value", value);
  }
  void Run() { Call(kFsconfigSetBinary, true, value.data(), static_cast<int>(value.size()), nullptr); }
};

// fsconfig(fd, FSCONFIG_SET_PATH, key, path, dirfd) and FSCONFIG_SET_PATH_EMPTY
struct FsconfigSetPathOp : FsconfigBase {
  static constexpr const char* kName = "fsconfigSetPath";
  FdArg dir;
  std::string path;
  bool empty_ok = false;
  bool Parse(const Napi::CallbackInfo& info) {
    return ArgFd(info, 0, "fs", fs) && ArgPath(info, 1, "key", key) && ArgFd(info, 2, "dirfd", dir, true) &&
           ArgPath(info, 3, "path", path) && ArgBool(info, 4, "emptyPath", empty_ok);
  }
  void Run() {
    Call(empty_ok ? kFsconfigSetPathEmpty : kFsconfigSetPath, true, path.c_str(), dir.fd, &path);
  }
};

// fsconfig(fd, FSCONFIG_SET_FD, key, NULL, fd): layers by fd (overlay, Linux 6.13).
struct FsconfigSetFdOp : FsconfigBase {
  static constexpr const char* kName = "fsconfigSetFd";
  FdArg value;
  bool Parse(const Napi::CallbackInfo& info) {
    return ArgFd(info, 0, "fs", fs) && ArgPath(info, 1, "key", key) && ArgFd(info, 2, "fd", value);
  }
  void Run() { Call(kFsconfigSetFd, true, nullptr, value.fd, nullptr); }
};

// fsconfig(fd, FSCONFIG_CMD_CREATE | CMD_CREATE_EXCL | CMD_RECONFIGURE, NULL, NULL, 0).
// After a failed create the context is dead: every later fsconfig on it gives EBUSY.
template <unsigned kCmd>
struct FsconfigCmdOp : FsconfigBase {
  static constexpr const char* kName = kCmd == kFsconfigCmdCreate       ? "fsconfigCreate"
                                       : kCmd == kFsconfigCmdCreateExcl ? "fsconfigCreateExcl"
                                                                        : "fsconfigReconfigure";
  bool Parse(const Napi::CallbackInfo& info) { return ArgFd(info, 0, "fs", fs); }
  void Run() { Call(kCmd, false, nullptr, 0, nullptr); }
};

// fsmount(fd, flags, attr_flags): a detached mount fd. FSMOUNT_CLOEXEC is forced.
struct FsmountOp {
  static constexpr const char* kName = "fsmount";
  FdArg fs;
  unsigned flags = 0, attrs = 0;
  UniqueFd fd;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) {
    return ArgFd(info, 0, "fs", fs) && ArgUint(info, 1, "flags", flags) && ArgUint(info, 2, "attrs", attrs);
  }
  void Run() {
    int rc = CallFsmount(fs.fd, flags, attrs, err);
    if (rc >= 0) fd.Reset(rc);
  }
  Napi::Value Result(Napi::Env env) { return FdHandle::Wrap(env, fd.Release(), "mount"); }
};

// move_mount(from_dirfd, from_path, to_dirfd, to_path, flags)
struct MoveMountOp {
  static constexpr const char* kName = "moveMount";
  FdArg from, to;
  std::string from_path, to_path;
  unsigned flags = 0;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) {
    return ArgFd(info, 0, "fromDirfd", from, true) && ArgPath(info, 1, "fromPath", from_path) &&
           ArgFd(info, 2, "toDirfd", to, true) && ArgPath(info, 3, "toPath", to_path) &&
           ArgUint(info, 4, "flags", flags);
  }
  void Run() { CallMoveMount(from.fd, from_path, to.fd, to_path, flags, err); }
  Napi::Value Result(Napi::Env env) { return env.Undefined(); }
};

// open_tree(dirfd, path, flags): OPEN_TREE_CLONE gives a detached copy. OPEN_TREE_CLOEXEC is forced.
struct OpenTreeOp {
  static constexpr const char* kName = "openTree";
  FdArg dir;
  std::string path;
  unsigned flags = 0;
  UniqueFd fd;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) {
    return ArgFd(info, 0, "dirfd", dir, true) && ArgPath(info, 1, "path", path) &&
           ArgUint(info, 2, "flags", flags);
  }
  void Run() {
    int rc = CallOpenTree(dir.fd, path, flags, err);
    if (rc >= 0) fd.Reset(rc);
  }
  Napi::Value Result(Napi::Env env) { return FdHandle::Wrap(env, fd.Release(), "mount"); }
};

// mount_setattr(dirfd, path, flags, {attr_set, attr_clr, propagation, userns_fd}, 32).
// MOUNT_ATTR_IDMAP takes the user namespace fd; on a detached clone only.
struct MountSetattrOp {
  static constexpr const char* kName = "mountSetattr";
  FdArg dir, userns;
  std::string path;
  unsigned flags = 0;
  uint64_t attr_set = 0, attr_clr = 0, propagation = 0;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) {
    if (!(ArgFd(info, 0, "dirfd", dir, true) && ArgPath(info, 1, "path", path) &&
          ArgUint(info, 2, "flags", flags) && ArgUint64(info, 3, "attrSet", attr_set) &&
          ArgUint64(info, 4, "attrClr", attr_clr) && ArgUint64(info, 5, "propagation", propagation))) {
      return false;
    }
    if (info[6].IsNull() || info[6].IsUndefined()) return true;
    return ArgFd(info, 6, "usernsFd", userns);
  }
  void Run() {
    MountAttrV0 attr{attr_set, attr_clr, propagation,
                     userns.fd >= 0 ? static_cast<uint64_t>(userns.fd) : 0};
    CallMountSetattr(dir.fd, path, flags, attr, err);
  }
  Napi::Value Result(Napi::Env env) { return env.Undefined(); }
};

// fsReadLog(fs): drain the fs-context message log.
struct FsReadLogOp {
  static constexpr const char* kName = "fsReadLog";
  FdArg fs;
  std::vector<std::string> messages;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) { return ArgFd(info, 0, "fs", fs); }
  void Run() { messages = DrainFsLog(fs.fd); }
  Napi::Value Result(Napi::Env env) { return StringArray(env, messages); }
};

}  // namespace

void InitMountApi(Napi::Env env, Napi::Object exports) {
  ExportOp<FsopenOp>(env, exports);
  ExportOp<FspickOp>(env, exports);
  ExportOp<FsconfigSetFlagOp>(env, exports);
  ExportOp<FsconfigSetStringOp>(env, exports);
  ExportOp<FsconfigSetBinaryOp>(env, exports);
  ExportOp<FsconfigSetPathOp>(env, exports);
  ExportOp<FsconfigSetFdOp>(env, exports);
  ExportOp<FsconfigCmdOp<kFsconfigCmdCreate>>(env, exports);
  ExportOp<FsconfigCmdOp<kFsconfigCmdCreateExcl>>(env, exports);
  ExportOp<FsconfigCmdOp<kFsconfigCmdReconfigure>>(env, exports);
  ExportOp<FsmountOp>(env, exports);
  ExportOp<MoveMountOp>(env, exports);
  ExportOp<OpenTreeOp>(env, exports);
  ExportOp<MountSetattrOp>(env, exports);
  ExportOp<FsReadLogOp>(env, exports);
}

}  // namespace ovl
