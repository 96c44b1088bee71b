// The new mount API: fsopen(2), fspick(2), fsconfig(2), fsmount(2), move_mount(2),
// open_tree(2), mount_setattr(2), and the fs-context message log.
#include <poll.h>

#include <cerrno>
#include <string>
#include <vector>

#include "calls.h"
#include "errors.h"
#include "sys.h"

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

}  // namespace ovl
