// The layer writer: the filesystem half of applying an OCI layer tar, beneath one directory, in
// few thread-pool hops. src/sys/layer-writer.ts packs a batch of entries (mkdir, file + data +
// end, symlink, hard link, device/fifo, whiteout, opaque, remove, clear) and one native call runs
// the whole batch; the writer keeps its state between batches (the root fd, the file being
// written, a cache of parent-directory fds, what this session created, the deferred directory
// metadata).
//
// Why not steps of runSteps (batch.cc), as DESIGN.md's "native/" section plans: the generic
// step packing checks and packs every field of every step in TypeScript, several µs per step,
// and a layer of 17,000 small files is ~100,000 syscalls. Here an entry is one fixed record of
// numbers plus its names in one arena, well under 1 µs of JavaScript, and a regular file costs
// what it costs GNU tar: openat (parent cached), write, fchown, fchmod, futimens, close.
//
// Encoding (one batch): `recs`, a Float64Array of kRec numbers per record (the slots below);
// `arena`, one Buffer holding every path, symlink/link target and xattr name, each followed by
// a NUL; `bufs`, an Array of the Buffers the batch writes (file data, xattr values), referenced
// until the call is done and written from their own memory (no copy). An entry's xattrs follow
// it as kXattr records; `step` in an error counts entries, not records.
//
// Safety: every path is relative and normalised (checked again here: EINVAL); its parent is
// resolved beneath the root fd with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) or, where
// openat2 is missing or the caller asks, component by component with openat(O_PATH |
// O_DIRECTORY | O_NOFOLLOW), which refuses every symlink (ELOOP). The last component is then
// acted on only with *at() calls on that parent fd that never follow it: O_CREAT|O_EXCL,
// O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, mkdirat, mknodat, symlinkat, linkat(flags 0), unlinkat.
// Recursive removal opens each directory O_NOFOLLOW and reads it with getdents64: a symlink is
// unlinked, never descended. Anything removed or replaced empties the parent-fd cache (after
// the entry is done), so a replaced directory is never written through.
#include <napi.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "errors.h"
#include "sys.h"

namespace ovl {

namespace {

// Record kinds; src/sys/layer-writer.ts has the same numbers.
constexpr uint32_t kDir = 1, kFile = 2, kData = 3, kEndFile = 4, kSymlink = 5, kHardlink = 6, kNode = 7,
                   kWhiteout = 8, kOpaque = 9, kRemove = 10, kClearDir = 11, kXattr = 12, kKindEnd = 13;

// Slots of a record. Meta: mode, uid/gid (-1: no chown), mtime. A: symlink/link target offset,
// data/xattr-value buffer index, node type, whiteout form. B: target length, major, namespace.
// C: the number of kXattr records that follow. D: minor.
constexpr size_t kRec = 12;
constexpr size_t kKind = 0, kPathOff = 1, kPathLen = 2, kMode = 3, kUid = 4, kGid = 5, kMtimeSec = 6,
                 kMtimeNsec = 7, kA = 8, kB = 9, kC = 10, kD = 11;

// node types (slot A) and xattr namespaces (slot B).
constexpr uint32_t kNodeChar = 0, kNodeBlock = 1, kNodeFifo = 2;
constexpr uint32_t kNsTrusted = 0, kNsUser = 1;
constexpr uint32_t kWhiteoutDevice = 0, kWhiteoutXattr = 1;

constexpr size_t kCacheMax = 128;
constexpr int kResolveFlags = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;

// What clearDir keeps: created here (a file, or a directory made here, so all of it is ours), or
// a directory that was already there and that this session wrote into or declared (kept, but
// its other children are cleared too).
enum Created : uint8_t { kFresh = 1, kMerged = 2 };

struct Span {
  const char* data;
  size_t size;
};

struct Meta {
  unsigned mode = 0;
  int64_t uid = -1, gid = -1;
  int64_t mtime_sec = 0;
  long mtime_nsec = 0;
};

struct DeferredDir {
  int64_t mtime_sec;
  long mtime_nsec;
  unsigned mode;
  bool set_mode;  // the mode lacked u+rwx: it was set with them, and is set exactly at the end
};

struct OwnedXattr {
  std::string name;
  std::string value;
};

bool HasMeta(uint32_t kind) { return kind == kDir || kind == kFile || kind == kSymlink || kind == kNode; }

bool ValidPath(std::string_view p) {
  if (p.empty() || p.front() == '/' || std::memchr(p.data(), '\0', p.size()) != nullptr) return false;
  size_t start = 0;
  for (;;) {
    size_t end = p.find('/', start);
    std::string_view comp = p.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (comp.empty() || comp == "." || comp == "..") return false;
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

// write(2) until done; EINTR retried.
int WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

const char* Ns(uint32_t ns) { return ns == kNsTrusted ? "trusted" : "user"; }

// One parsed batch: records, the arena and the buffers, with the JS references that keep the
// memory alive until the call is done.
struct Batch {
  std::vector<double> recs;
  size_t count = 0;
  const char* arena = nullptr;
  size_t arena_len = 0;
  std::vector<Span> bufs;
  Napi::Reference<Napi::Buffer<char>> arena_ref;
  Napi::ObjectReference bufs_ref;
};

// The writer's state, shared by its JS object and a call in flight (which may end after close()).
struct WriterState {
  int root = -1;
  bool use_openat2 = true;
  bool have_fchmodat2 = true;
  // Read by the JS thread while a call may run on the pool (which closes the writer on failure).
  std::atomic<bool> busy = false;
  std::atomic<bool> closed = false;

  // The file begun by file() and not yet ended (it may span batches).
  int file_fd = -1;
  std::string file_path;
  Meta file_meta;
  std::vector<OwnedXattr> file_xattrs;

  // Parent directory fds by relative path, oldest first in `order`. Trimmed and emptied only
  // between entries, so an fd handed out stays open for the whole entry.
  std::unordered_map<std::string, int> cache;
  std::deque<std::string> order;
  bool invalidate = false;
  std::string last_key;
  int last_fd = -1;
  bool last_valid = false;

  // Ordered by path, so everything below a directory is one range (see Forget).
  std::map<std::string, uint8_t, std::less<>> created;
  std::map<std::string, DeferredDir, std::less<>> deferred;

  // The failure of the current call.
  SysError err;
  // The entry being run: its path for errors.
  std::string_view cur_path;
  const std::string* cur_dest = nullptr;
  int cur_step = -1;

  ~WriterState() { CloseAll(); }

  void DropCache() {
    for (auto& [k, fd] : cache) SysClose(fd);
    cache.clear();
    order.clear();
    last_valid = false;
    invalidate = false;
  }

  void CloseAll() {
    DropCache();
    if (file_fd >= 0) SysClose(file_fd);
    file_fd = -1;
    file_xattrs.clear();
    if (root >= 0) SysClose(root);
    root = -1;
    closed = true;
    created.clear();
    deferred.clear();
  }

  // After each entry: empty the cache if anything was removed, else keep it to its size.
  void AfterEntry() {
    if (invalidate) {
      DropCache();
      return;
    }
    while (cache.size() > kCacheMax && !order.empty()) {
      auto it = cache.find(order.front());
      if (it != cache.end()) {
        SysClose(it->second);
        cache.erase(it);
      }
      order.pop_front();
      last_valid = false;
    }
  }

  bool Fail(int rc, const char* syscall) {
    err.code = -rc;
    err.syscall = syscall;
    err.path = std::string(cur_path);
    if (cur_dest) err.dest = *cur_dest;
    err.step = cur_step;
    return false;
  }
  bool FailKey(int rc, const char* syscall, const std::string& key) {
    Fail(rc, syscall);
    err.key = key;
    return false;
  }

  void CacheInsert(const std::string& key, int fd) {
    auto [it, inserted] = cache.try_emplace(key, fd);
    if (!inserted) {
      SysClose(fd);
      return;
    }
    order.push_back(key);
  }

  // `path` and everything below it in `m`: the keys from "path/" up to (not including)
  // "path0" ('0' follows '/'), one range of the ordered map. Its cost is the entries removed,
  // not the map's size: a scan of every key per removed directory was quadratic (a layer of
  // many directories and their whiteouts held a pool thread for hours).
  template <class Map>
  static void EraseTree(Map& m, std::string_view path) {
    std::string key(path);
    m.erase(key);
    key.push_back('/');
    auto from = m.lower_bound(key);
    key.back() = '/' + 1;
    m.erase(from, m.lower_bound(key));
  }

  // Everything at `path` or below it is gone: forget it was created, and its deferred metadata.
  // Only a removed directory has anything below it.
  void Forget(std::string_view path, bool tree) {
    if (!tree) {
      std::string key(path);
      created.erase(key);
      deferred.erase(key);
      return;
    }
    if (path.empty()) {
      created.clear();
      deferred.clear();
      return;
    }
    EraseTree(created, path);
    EraseTree(deferred, path);
  }

  void MarkMerged(std::string_view dir) {
    // The directory and its ancestors hold something of this session: clearDir keeps them.
    size_t end = dir.size();
    for (;;) {
      std::string key(dir.substr(0, end));
      if (!created.try_emplace(std::move(key), kMerged).second) return;  // its ancestors are marked too
      size_t slash = dir.rfind('/', end - 1);
      if (slash == std::string_view::npos || slash == 0) return;
      end = slash;
    }
  }

  // ---- resolution ----

  // openat(dirfd, name, O_PATH|O_DIRECTORY|O_NOFOLLOW): a symlink gives ENOTDIR there, reported
  // as ELOOP so the caller can tell an unsafe entry from a file in the way.
  static int OpenDirNoFollow(int dirfd, const char* name) {
    int fd = RawResult(openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd == -ENOTDIR) {
      struct stat st {};
      if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) return -ELOOP;
    }
    return fd;
  }

  int Openat2Beneath(const char* path) {
    int rc;
    // EAGAIN: a rename raced the lookup of a ".." a symlink led to; the kernel asks for a retry.
    for (int i = 0; i < 8; i++) {
      rc = SysOpenat2(root, path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, kResolveFlags);
      if (rc != -EAGAIN) break;
    }
    return rc;
  }

  // mkdir(dirfd, name, 0755) for a parent the tar does not list, then the mode exactly (umask).
  int MakeImplicit(int dirfd, const char* name, const std::string& key) {
    int rc = RawResult(mkdirat(dirfd, name, 0755));
    if (rc == 0) {
      created[key] = kFresh;
      int c = ChmodNoFollow(dirfd, name, 0755);
      if (c < 0) return Fail(c, "chmod"), c;
    } else if (rc != -EEXIST) {
      return Fail(rc, "mkdir"), rc;
    }
    return 0;
  }

  // The fd of the directory `dir` (relative, normalised, non-empty), creating what is missing
  // when `create`. Returns the fd (owned by the cache) or -errno with `err` set.
  int ResolveDir(std::string_view dir, bool create) {
    if (last_valid && dir == last_key) return last_fd;
    std::string key(dir);
    auto hit = cache.find(key);
    if (hit != cache.end()) {
      last_key = key;
      last_fd = hit->second;
      last_valid = true;
      return hit->second;
    }
    if (use_openat2) {
      int fd = Openat2Beneath(key.c_str());
      if (fd == -ENOSYS) {
        use_openat2 = false;
      } else if (fd >= 0) {
        MarkMerged(key);
        CacheInsert(key, fd);
        last_key = key, last_fd = fd, last_valid = true;
        return fd;
      } else if (!(fd == -ENOENT && create)) {
        return Fail(fd, "openat2"), fd;
      }
    }
    // Component by component from the deepest cached ancestor, creating what is missing.
    int cur = root;
    size_t start = 0;
    for (size_t slash = key.rfind('/'); slash != std::string::npos && slash > 0; slash = key.rfind('/', slash - 1)) {
      auto it = cache.find(key.substr(0, slash));
      if (it != cache.end()) {
        cur = it->second;
        start = slash + 1;
        break;
      }
    }
    std::string name;
    while (start <= key.size()) {
      size_t end = key.find('/', start);
      if (end == std::string::npos) end = key.size();
      name.assign(key, start, end - start);
      std::string prefix = key.substr(0, end);
      bool made = false;
      int fd;
      if (use_openat2) {
        fd = Openat2Beneath(prefix.c_str());
        if (fd == -ENOENT && create) {
          if (MakeImplicit(cur, name.c_str(), prefix) < 0) return -err.code;
          made = true;
          fd = OpenDirNoFollow(cur, name.c_str());
          if (fd < 0) return Fail(fd, "openat"), fd;
        } else if (fd < 0) {
          return Fail(fd, "openat2"), fd;
        }
      } else {
        fd = OpenDirNoFollow(cur, name.c_str());
        if (fd == -ENOENT && create) {
          if (MakeImplicit(cur, name.c_str(), prefix) < 0) return -err.code;
          made = true;
          fd = OpenDirNoFollow(cur, name.c_str());
        }
        if (fd < 0) return Fail(fd, "openat"), fd;
      }
      if (!made) created.try_emplace(prefix, kMerged);
      CacheInsert(prefix, fd);
      cur = cache.find(prefix)->second;
      start = end + 1;
    }
    last_key = key, last_fd = cur, last_valid = true;
    return cur;
  }

  // The parent fd of `path` and where its last component starts.
  int ResolveParent(std::string_view path, bool create, size_t& base) {
    size_t slash = path.rfind('/');
    if (slash == std::string_view::npos) {
      base = 0;
      return root;
    }
    base = slash + 1;
    return ResolveDir(path.substr(0, slash), create);
  }

  // ---- node operations on (parent fd, name), never following `name` ----

  // chmod that does not follow a final symlink: fchmodat2(AT_SYMLINK_NOFOLLOW) (6.6); before
  // it, chmod through /proc/self/fd of an O_PATH fd of the node, which a symlink never is.
  // EPERM also tries the fallback: a seccomp filter older than the call refuses it so, and for
  // a node this writer just made a real EPERM comes back from the fallback as well.
  int ChmodNoFollow(int dirfd, const char* name, unsigned mode) {
    bool eperm = false;
    if (have_fchmodat2) {
      int rc = SysFchmodat2(dirfd, name, mode, AT_SYMLINK_NOFOLLOW);
      if (rc != -ENOSYS && rc != -EPERM) return rc;
      if (rc == -ENOSYS) have_fchmodat2 = false;
      eperm = rc == -EPERM;
    }
    int fd = RawResult(openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (fd < 0) return fd;
    struct stat st {};
    int rc = RawResult(fstat(fd, &st));
    if (rc == 0 && S_ISLNK(st.st_mode)) rc = -EOPNOTSUPP;
    if (rc == 0) {
      char proc[40];
      std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
      rc = RawResult(chmod(proc, mode));
      if (rc == 0 && eperm) have_fchmodat2 = false;
    }
    SysClose(fd);
    return rc;
  }

  // Removes what is at (dirfd, name): unlink, or the whole tree of a directory (`tree` says
  // which it was). Absent is fine.
  int RemoveAt(int dirfd, const char* name, bool& tree) {
    struct stat st {};
    tree = false;
    int rc = RawResult(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW));
    if (rc == -ENOENT) return 0;
    if (rc < 0) return Fail(rc, "lstat"), rc;
    invalidate = true;
    tree = S_ISDIR(st.st_mode);
    if (!tree) {
      rc = RawResult(unlinkat(dirfd, name, 0));
      if (rc < 0 && rc != -ENOENT) return Fail(rc, "unlink"), rc;
      return 0;
    }
    return RemoveTree(dirfd, name);
  }

  // The entries of the directory `fd` (names and d_type), read to the end.
  int ListDir(int fd, std::vector<std::pair<std::string, unsigned char>>& out) {
    std::vector<char> buf(32768);
    for (;;) {
      int n = SysGetdents64(fd, buf.data(), buf.size());
      if (n < 0) return Fail(n, "getdents64"), n;
      if (n == 0) return 0;
      for (size_t off = 0; off < static_cast<size_t>(n);) {
        const char* d = buf.data() + off;
        unsigned short reclen;
        std::memcpy(&reclen, d + kDirentReclen, sizeof reclen);
        const char* name = d + kDirentName;
        if (!(name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))) {
          out.emplace_back(name, static_cast<unsigned char>(d[kDirentType]));
        }
        off += reclen;
      }
    }
  }

  int RemoveTree(int dirfd, const char* name) {
    int rc = RawResult(unlinkat(dirfd, name, AT_REMOVEDIR));
    if (rc == 0 || rc == -ENOENT) return 0;
    if (rc != -ENOTEMPTY && rc != -EEXIST) return Fail(rc, "rmdir"), rc;
    int fd = RawResult(openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd < 0) return Fail(fd, "openat"), fd;
    UniqueFd own(fd);
    std::vector<std::pair<std::string, unsigned char>> entries;
    if ((rc = ListDir(fd, entries)) < 0) return rc;
    for (auto& [child, type] : entries) {
      if (type == DT_UNKNOWN) {
        struct stat st {};
        rc = RawResult(fstatat(fd, child.c_str(), &st, AT_SYMLINK_NOFOLLOW));
        if (rc == -ENOENT) continue;
        if (rc < 0) return Fail(rc, "lstat"), rc;
        type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
      }
      if (type == DT_DIR) {
        if ((rc = RemoveTree(fd, child.c_str())) < 0) return rc;
      } else {
        rc = RawResult(unlinkat(fd, child.c_str(), 0));
        if (rc < 0 && rc != -ENOENT) return Fail(rc, "unlink"), rc;
      }
    }
    own.Reset();
    rc = RawResult(unlinkat(dirfd, name, AT_REMOVEDIR));
    if (rc < 0 && rc != -ENOENT) return Fail(rc, "rmdir"), rc;
    return 0;
  }

  // The entry at `path` was replaced (removed to make room): forget it and all below it.
  int Replace(int dirfd, const char* name, std::string_view path) {
    bool tree;
    int rc = RemoveAt(dirfd, name, tree);
    if (rc < 0) return rc;
    Forget(path, tree);
    return 0;
  }

  bool SetXattrFd(int fd, const char* name, const char* value, size_t size) {
    static const char kEmpty = 0;
    int rc = RawResult(fsetxattr(fd, name, size ? value : &kEmpty, size, 0));
    if (rc < 0) return FailKey(rc, "fsetxattr", name);
    return true;
  }

  // An xattr on a node that must not be opened (symlink, device, fifo): lsetxattr through the
  // parent's /proc/self/fd entry, which names (parent fd, name) without following `name`.
  bool SetXattrAt(int dirfd, const char* name, const char* xname, const char* value, size_t size) {
    static const char kEmpty = 0;
    std::string proc = "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
    int rc = RawResult(lsetxattr(proc.c_str(), xname, size ? value : &kEmpty, size, 0));
    if (rc < 0) return FailKey(rc, "lsetxattr", xname);
    return true;
  }

  // ---- the batch ----

  const Batch* b = nullptr;

  double Num(size_t rec, size_t slot) const { return b->recs[rec * kRec + slot]; }
  std::string_view Str(size_t off, size_t len) const { return std::string_view(b->arena + off, len); }
  std::string_view PathOf(size_t rec) const {
    return Str(static_cast<size_t>(Num(rec, kPathOff)), static_cast<size_t>(Num(rec, kPathLen)));
  }
  Meta MetaOf(size_t rec) const {
    Meta m;
    m.mode = static_cast<unsigned>(Num(rec, kMode)) & 07777;
    m.uid = static_cast<int64_t>(Num(rec, kUid));
    m.gid = static_cast<int64_t>(Num(rec, kGid));
    m.mtime_sec = static_cast<int64_t>(Num(rec, kMtimeSec));
    m.mtime_nsec = static_cast<long>(Num(rec, kMtimeNsec));
    return m;
  }
  size_t XattrCount(size_t rec) const { return static_cast<size_t>(Num(rec, kC)); }
  // The i-th xattr record of `rec`: its name (NUL-terminated in the arena) and value.
  const char* XattrName(size_t rec, size_t i) const { return PathOf(rec + 1 + i).data(); }
  Span XattrValue(size_t rec, size_t i) const { return b->bufs[static_cast<size_t>(Num(rec + 1 + i, kA))]; }

  static timespec Ts(const Meta& m) { return timespec{static_cast<time_t>(m.mtime_sec), m.mtime_nsec}; }

  bool Chown(int fd, const Meta& m) {
    if (m.uid < 0 && m.gid < 0) return true;
    int rc = RawResult(fchown(fd, static_cast<uid_t>(m.uid), static_cast<gid_t>(m.gid)));
    return rc < 0 ? Fail(rc, "fchown") : true;
  }

  // Owner, mode and xattrs of a directory by its fd; its mtime waits for finish().
  bool DirMeta(int fd, const Meta& m, size_t rec, std::string_view path) {
    if (!Chown(fd, m)) return false;
    bool defer_mode = (m.mode & 0700) != 0700;
    int rc = RawResult(fchmod(fd, defer_mode ? (m.mode | 0700) : m.mode));
    if (rc < 0) return Fail(rc, "fchmod");
    for (size_t i = 0; i < XattrCount(rec); i++) {
      Span v = XattrValue(rec, i);
      if (!SetXattrFd(fd, XattrName(rec, i), v.data, v.size)) return false;
    }
    deferred[std::string(path)] = DeferredDir{m.mtime_sec, m.mtime_nsec, m.mode, defer_mode};
    return true;
  }

  // Owner, mode, xattrs and times of a node that is not opened (symlink: no mode).
  bool NodeMeta(int dirfd, const char* name, const Meta& m, size_t rec, bool symlink) {
    if (m.uid >= 0 || m.gid >= 0) {
      int rc = RawResult(fchownat(dirfd, name, static_cast<uid_t>(m.uid), static_cast<gid_t>(m.gid), AT_SYMLINK_NOFOLLOW));
      if (rc < 0) return Fail(rc, "lchown");
    }
    if (!symlink) {
      int rc = ChmodNoFollow(dirfd, name, m.mode);
      if (rc < 0) return Fail(rc, "chmod");
    }
    for (size_t i = 0; i < XattrCount(rec); i++) {
      Span v = XattrValue(rec, i);
      if (!SetXattrAt(dirfd, name, XattrName(rec, i), v.data, v.size)) return false;
    }
    timespec ts[2] = {Ts(m), Ts(m)};
    int rc = RawResult(utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW));
    return rc < 0 ? Fail(rc, "utimensat") : true;
  }

  // A directory at (dirfd, name): kept if there (true in `existed`), a non-directory replaced.
  // Returns its fd opened O_RDONLY (for fchown, fchmod, fsetxattr), or -errno.
  int MakeDir(int dirfd, const char* name, std::string_view path, unsigned mode, bool& existed) {
    int rc = RawResult(mkdirat(dirfd, name, mode));
    existed = false;
    if (rc == -EEXIST) {
      struct stat st {};
      rc = RawResult(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW));
      if (rc < 0) return Fail(rc, "lstat"), rc;
      if (S_ISDIR(st.st_mode)) {
        existed = true;
      } else {
        if ((rc = Replace(dirfd, name, path)) < 0) return rc;
        rc = RawResult(mkdirat(dirfd, name, mode));
      }
    }
    if (rc < 0) return Fail(rc, "mkdir"), rc;
    int fd = RawResult(openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd < 0) return Fail(fd, "openat"), fd;
    return fd;
  }

  bool EntryDir(size_t rec, std::string_view path) {
    Meta m = MetaOf(rec);
    if (path.empty()) {
      // The layer's root ("./" in the tar): its metadata only.
      int fd = RawResult(openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (fd < 0) return Fail(fd, "openat");
      UniqueFd own(fd);
      return DirMeta(fd, m, rec, path);
    }
    size_t base;
    int p = ResolveParent(path, true, base);
    if (p < 0) return false;
    const char* name = path.data() + base;
    bool existed;
    int fd = MakeDir(p, name, path, 0700, existed);
    if (fd < 0) return false;
    std::string key(path);
    if (existed) created.try_emplace(key, kMerged);
    else created[key] = kFresh;
    if (!DirMeta(fd, m, rec, path)) return SysClose(fd), false;
    // Most likely the parent of the next entries.
    CacheInsert(key, fd);
    return true;
  }

  // O_CREAT|O_EXCL at (dirfd, name), replacing what is there (a non-directory unlinked, a tree
  // removed) once.
  int CreateFile(int dirfd, const char* name, std::string_view path, unsigned mode) {
    int flags = O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC;
    int fd = RawResult(openat(dirfd, name, flags, mode));
    if (fd == -EEXIST) {
      if (Replace(dirfd, name, path) < 0) return -err.code;
      fd = RawResult(openat(dirfd, name, flags, mode));
    }
    if (fd < 0) return Fail(fd, "open"), fd;
    return fd;
  }

  bool EntryFile(size_t rec, std::string_view path) {
    size_t base;
    int p = ResolveParent(path, true, base);
    if (p < 0) return false;
    int fd = CreateFile(p, path.data() + base, path, 0600);
    if (fd < 0) return false;
    created[std::string(path)] = kFresh;
    file_fd = fd;
    file_path.assign(path);
    file_meta = MetaOf(rec);
    // The xattrs are set by endFile(), maybe batches later (after the data: a write clears
    // security.capability): keep copies, they are small.
    file_xattrs.clear();
    for (size_t i = 0; i < XattrCount(rec); i++) {
      Span v = XattrValue(rec, i);
      file_xattrs.push_back({XattrName(rec, i), std::string(v.data, v.size)});
    }
    return true;
  }

  bool EntryEndFile() {
    int fd = file_fd;
    file_fd = -1;
    UniqueFd own(fd);
    const Meta& m = file_meta;
    if (!Chown(fd, m)) return false;
    // After fchown: chown clears setuid and setgid.
    int rc = RawResult(fchmod(fd, m.mode));
    if (rc < 0) return Fail(rc, "fchmod");
    for (const OwnedXattr& x : file_xattrs) {
      if (!SetXattrFd(fd, x.name.c_str(), x.value.data(), x.value.size())) return false;
    }
    file_xattrs.clear();
    timespec ts[2] = {Ts(m), Ts(m)};
    rc = RawResult(futimens(fd, ts));
    if (rc < 0) return Fail(rc, "futimens");
    rc = SysClose(own.Release());
    return rc < 0 ? Fail(rc, "close") : true;
  }

  bool EntrySymlink(size_t rec, std::string_view path) {
    std::string_view target = Str(static_cast<size_t>(Num(rec, kA)), static_cast<size_t>(Num(rec, kB)));
    if (target.empty() || std::memchr(target.data(), '\0', target.size()) != nullptr) return Fail(-EINVAL, "symlink");
    size_t base;
    int p = ResolveParent(path, true, base);
    if (p < 0) return false;
    const char* name = path.data() + base;
    int rc = RawResult(symlinkat(target.data(), p, name));
    if (rc == -EEXIST) {
      if (Replace(p, name, path) < 0) return false;
      rc = RawResult(symlinkat(target.data(), p, name));
    }
    if (rc < 0) return Fail(rc, "symlink");
    created[std::string(path)] = kFresh;
    return NodeMeta(p, name, MetaOf(rec), rec, true);
  }

  bool EntryHardlink(size_t rec, std::string_view path) {
    std::string_view target = Str(static_cast<size_t>(Num(rec, kA)), static_cast<size_t>(Num(rec, kB)));
    std::string dest(target);
    cur_dest = &dest;
    bool ok = [&] {
      if (!ValidPath(target)) return Fail(-EINVAL, "link");
      if (target == path) return true;  // a link to itself: already there
      size_t tbase;
      int tp = ResolveParent(target, false, tbase);
      if (tp < 0) return false;
      size_t base;
      int p = ResolveParent(path, true, base);
      if (p < 0) return false;
      const char* name = path.data() + base;
      int rc = RawResult(linkat(tp, target.data() + tbase, p, name, 0));
      if (rc == -EEXIST) {
        if (Replace(p, name, path) < 0) return false;
        rc = RawResult(linkat(tp, target.data() + tbase, p, name, 0));
      }
      if (rc < 0) return Fail(rc, "link");
      created[std::string(path)] = kFresh;
      return true;
    }();
    cur_dest = nullptr;
    return ok;
  }

  bool EntryNode(size_t rec, std::string_view path) {
    uint32_t type = static_cast<uint32_t>(Num(rec, kA));
    mode_t fmt = type == kNodeChar ? S_IFCHR : type == kNodeBlock ? S_IFBLK : S_IFIFO;
    dev_t dev = type == kNodeFifo ? 0 : makedev(static_cast<unsigned>(Num(rec, kB)), static_cast<unsigned>(Num(rec, kD)));
    Meta m = MetaOf(rec);
    size_t base;
    int p = ResolveParent(path, true, base);
    if (p < 0) return false;
    const char* name = path.data() + base;
    int rc = RawResult(mknodat(p, name, fmt | m.mode, dev));
    if (rc == -EEXIST) {
      if (Replace(p, name, path) < 0) return false;
      rc = RawResult(mknodat(p, name, fmt | m.mode, dev));
    }
    if (rc < 0) return Fail(rc, "mknod");
    created[std::string(path)] = kFresh;
    return NodeMeta(p, name, m, rec, false);
  }

  // `<ns>.overlay.opaque` on the directory `dirfd` (an O_PATH fd: reopened to set it), unless
  // it is already "y" when `only_if_not_y`.
  bool SetOpaque(int dirfd, const char* value, uint32_t ns, bool keep_y) {
    int fd = RawResult(openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd < 0) return Fail(fd, "openat");
    UniqueFd own(fd);
    std::string name = std::string(Ns(ns)) + ".overlay.opaque";
    if (keep_y) {
      char cur[2];
      ssize_t n = fgetxattr(fd, name.c_str(), cur, sizeof cur);
      if (n == 1 && cur[0] == 'y') return true;
    }
    return SetXattrFd(fd, name.c_str(), value, 1);
  }

  bool EntryWhiteout(size_t rec, std::string_view path) {
    uint32_t form = static_cast<uint32_t>(Num(rec, kA));
    uint32_t ns = static_cast<uint32_t>(Num(rec, kB));
    size_t base;
    int p = ResolveParent(path, true, base);
    if (p < 0) return false;
    const char* name = path.data() + base;
    if (form == kWhiteoutDevice) {
      int rc = RawResult(mknodat(p, name, S_IFCHR, makedev(0, 0)));
      if (rc == -EEXIST) {
        if (Replace(p, name, path) < 0) return false;
        rc = RawResult(mknodat(p, name, S_IFCHR, makedev(0, 0)));
      }
      if (rc < 0) return Fail(rc, "mknod");
      created[std::string(path)] = kFresh;
      return true;
    }
    // The xattr form: an empty file marked whiteout, and its parent marked opaque=x, which is
    // what makes readdir hide it (a parent already opaque=y stays so).
    int fd = CreateFile(p, name, path, 0644);
    if (fd < 0) return false;
    UniqueFd own(fd);
    created[std::string(path)] = kFresh;
    std::string xname = std::string(Ns(ns)) + ".overlay.whiteout";
    if (!SetXattrFd(fd, xname.c_str(), nullptr, 0)) return false;
    int rc = SysClose(own.Release());
    if (rc < 0) return Fail(rc, "close");
    return SetOpaque(p, "x", ns, true);
  }

  bool EntryOpaque(size_t rec, std::string_view path) {
    uint32_t ns = static_cast<uint32_t>(Num(rec, kB));
    if (path.empty()) return SetOpaque(root, "y", ns, false);
    size_t base;
    int p = ResolveParent(path, true, base);
    if (p < 0) return false;
    const char* name = path.data() + base;
    bool existed;
    int fd = MakeDir(p, name, path, 0755, existed);
    if (fd < 0) return false;
    std::string key(path);
    if (existed) {
      created.try_emplace(key, kMerged);
    } else {
      created[key] = kFresh;
      int rc = RawResult(fchmod(fd, 0755));
      if (rc < 0) return SysClose(fd), Fail(rc, "fchmod");
    }
    std::string xname = std::string(Ns(ns)) + ".overlay.opaque";
    if (!SetXattrFd(fd, xname.c_str(), "y", 1)) return SysClose(fd), false;
    CacheInsert(key, fd);
    return true;
  }

  bool EntryRemove(std::string_view path) {
    size_t base;
    int p = ResolveParent(path, false, base);
    if (p < 0) {
      // Absent (or a file where a directory would be): nothing to remove.
      if (err.code == ENOENT || err.code == ENOTDIR) return err = SysError(), true;
      return false;
    }
    bool tree;
    if (RemoveAt(p, path.data() + base, tree) < 0) return false;
    Forget(path, tree);
    return true;
  }

  // Removes the children of the open directory `fd` (at `path`) that this session did not
  // create; recurses into the directories it only merged into.
  bool ClearFd(int fd, const std::string& path) {
    std::vector<std::pair<std::string, unsigned char>> entries;
    if (ListDir(fd, entries) < 0) return false;
    for (auto& [child, type] : entries) {
      std::string rel = path.empty() ? child : path + "/" + child;
      auto it = created.find(rel);
      if (it == created.end()) {
        bool tree;
        if (RemoveAt(fd, child.c_str(), tree) < 0) return false;
        Forget(rel, tree);
        continue;
      }
      if (it->second != kMerged) continue;
      int sub = RawResult(openat(fd, child.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub == -ENOTDIR || sub == -ELOOP || sub == -ENOENT) continue;
      if (sub < 0) return Fail(sub, "openat");
      UniqueFd own(sub);
      if (!ClearFd(sub, rel)) return false;
    }
    return true;
  }

  bool EntryClearDir(std::string_view path) {
    int fd;
    if (path.empty()) {
      fd = RawResult(openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    } else {
      size_t base;
      int p = ResolveParent(path, false, base);
      if (p < 0) {
        if (err.code == ENOENT || err.code == ENOTDIR) return err = SysError(), true;
        return false;
      }
      fd = RawResult(openat(p, path.data() + base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      // Absent, or not a directory (a symlink is never followed): nothing to clear.
      if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP) return true;
    }
    if (fd < 0) return Fail(fd, "openat");
    UniqueFd own(fd);
    return ClearFd(fd, std::string(path));
  }

  bool RunEntry(size_t rec, uint32_t kind) {
    std::string_view path = PathOf(rec);
    cur_path = path;
    const char* what = kind == kDir || kind == kOpaque ? "mkdir"
                       : kind == kSymlink            ? "symlink"
                       : kind == kHardlink           ? "link"
                       : kind == kNode               ? "mknod"
                       : kind == kRemove || kind == kClearDir ? "unlink"
                                                              : "open";
    if (kind == kData || kind == kEndFile) {
      cur_path = file_path;
      if (file_fd < 0) return Fail(-EBADF, kind == kData ? "write" : "close");
      if (kind == kEndFile) return EntryEndFile();
      Span chunk = b->bufs[static_cast<size_t>(Num(rec, kA))];
      int rc = WriteAll(file_fd, chunk.data, chunk.size);
      return rc < 0 ? Fail(rc, "write") : true;
    }
    // Every other entry needs the file begun before it ended.
    if (file_fd >= 0) return Fail(-EINVAL, what);
    bool root_ok = kind == kDir || kind == kOpaque || kind == kClearDir;
    if (!(path.empty() && root_ok) && !ValidPath(path)) return Fail(-EINVAL, what);
    switch (kind) {
      case kDir:
        return EntryDir(rec, path);
      case kFile:
        return EntryFile(rec, path);
      case kSymlink:
        return EntrySymlink(rec, path);
      case kHardlink:
        return EntryHardlink(rec, path);
      case kNode:
        return EntryNode(rec, path);
      case kWhiteout:
        return EntryWhiteout(rec, path);
      case kOpaque:
        return EntryOpaque(rec, path);
      case kRemove:
        return EntryRemove(path);
      case kClearDir:
        return EntryClearDir(path);
    }
    return Fail(-EINVAL, what);
  }

  // Runs a batch; on the first failure `err` is set and the writer closed.
  void Run(const Batch& batch) {
    err = SysError();
    b = &batch;
    int step = 0;
    for (size_t i = 0; i < batch.count; i++, step++) {
      uint32_t kind = static_cast<uint32_t>(Num(i, kKind));
      cur_step = step;
      bool ok = RunEntry(i, kind);
      AfterEntry();
      if (!ok) break;
      if (HasMeta(kind)) i += XattrCount(i);
    }
    b = nullptr;
    cur_path = {};
    if (err) CloseAll();
  }

  // The deferred directory metadata, deepest first (a directory's mtime after its contents),
  // then everything closed.
  void Finish() {
    err = SysError();
    cur_step = -1;
    if (file_fd >= 0) {
      cur_path = file_path;
      Fail(-EINVAL, "close");
      CloseAll();
      return;
    }
    std::vector<std::pair<std::string, DeferredDir>> dirs(deferred.begin(), deferred.end());
    auto depth = [](const std::string& p) { return p.empty() ? -1 : static_cast<int>(std::count(p.begin(), p.end(), '/')); };
    std::sort(dirs.begin(), dirs.end(), [&](const auto& a, const auto& b) { return depth(a.first) > depth(b.first); });
    for (auto& [path, d] : dirs) {
      cur_path = path;
      int fd;
      if (path.empty()) {
        fd = RawResult(openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      } else {
        size_t base;
        int p = ResolveParent(path, false, base);
        if (p < 0) break;
        fd = RawResult(openat(p, path.data() + base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      }
      if (fd < 0) {
        Fail(fd, "openat");
        break;
      }
      UniqueFd own(fd);
      int rc = d.set_mode ? RawResult(fchmod(fd, d.mode)) : 0;
      if (rc < 0) {
        Fail(rc, "fchmod");
        break;
      }
      Meta m;
      m.mtime_sec = d.mtime_sec;
      m.mtime_nsec = d.mtime_nsec;
      timespec ts[2] = {Ts(m), Ts(m)};
      rc = RawResult(futimens(fd, ts));
      if (rc < 0) {
        Fail(rc, "futimens");
        break;
      }
      AfterEntry();
    }
    cur_path = {};
    CloseAll();
  }
};

// ---- the JS object ----

class LayerWriterWrap;

enum class Job { kRun, kFinish };

class LayerWriterWorker final : public Napi::AsyncWorker {
 public:
  LayerWriterWorker(Napi::Env env, Napi::Object owner, std::shared_ptr<WriterState> state, Job job,
                    std::unique_ptr<Batch> batch)
      : Napi::AsyncWorker(env, job == Job::kRun ? "overlayfs:layerWriter.run" : "overlayfs:layerWriter.finish"),
        deferred_(Napi::Promise::Deferred::New(env)),
        owner_(Napi::Persistent(owner)),
        state_(std::move(state)),
        job_(job),
        batch_(std::move(batch)) {}

  ~LayerWriterWorker() override {
    state_->busy = false;
    // close() during the call only marked the writer closed: the fds go now.
    if (state_->closed) state_->CloseAll();
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    if (job_ == Job::kRun) state_->Run(*batch_);
    else state_->Finish();
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    state_->busy = false;
    if (state_->err) deferred_.Reject(MakeError(env, state_->err));
    else deferred_.Resolve(env.Undefined());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference owner_;
  std::shared_ptr<WriterState> state_;
  Job job_;
  std::unique_ptr<Batch> batch_;
};

class LayerWriterWrap : public Napi::ObjectWrap<LayerWriterWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "LayerWriter",
                       {
                           InstanceMethod<&LayerWriterWrap::Run>("run"),
                           InstanceMethod<&LayerWriterWrap::RunSync>("runSync"),
                           InstanceMethod<&LayerWriterWrap::Finish>("finish"),
                           InstanceMethod<&LayerWriterWrap::FinishSync>("finishSync"),
                           InstanceMethod<&LayerWriterWrap::Close>("close"),
                           InstanceAccessor<&LayerWriterWrap::GetClosed>("closed"),
                           InstanceAccessor<&LayerWriterWrap::GetBusy>("busy"),
                       });
  }

  // new LayerWriter(dir: string | Buffer, noOpenat2: boolean)
  explicit LayerWriterWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LayerWriterWrap>(info) {
    Napi::Env env = info.Env();
    state_ = std::make_shared<WriterState>();
    std::string dir;
    if (info[0].IsBuffer()) {
      auto buf = info[0].As<Napi::Buffer<char>>();
      dir.assign(buf.Data(), buf.Length());
    } else if (info[0].IsString()) {
      dir = info[0].As<Napi::String>().Utf8Value();
    } else {
      ThrowTypeError(env, "LayerWriter(dir: string | Buffer, noOpenat2: boolean)");
      return;
    }
    if (dir.find('\0') != std::string::npos) {
      ThrowTypeError(env, "The \"dir\" argument must not contain null bytes");
      return;
    }
    state_->use_openat2 = !info[1].ToBoolean().Value();
    SysError err;
    // The directory itself, not a symlink to one.
    int fd = RawResult(open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd == -ELOOP || fd == -ENOTDIR) {
      struct stat st {};
      if (lstat(dir.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) fd = -ENOTDIR;
    }
    if (err.Check(fd, "open")) {
      err.path = dir;
      ThrowSysError(env, err);
      return;
    }
    state_->root = fd;
    state_->closed = false;
    if (state_->use_openat2) {
      // Before Linux 5.6 (or where seccomp refuses it): the component-by-component walk.
      // Any failure of this trivial call means openat2 is unusable: ENOSYS, or EPERM from a
      // seccomp filter that predates it (older container runtimes' default profiles).
      int probe = SysOpenat2(fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, kResolveFlags);
      if (probe >= 0) SysClose(probe);
      else state_->use_openat2 = false;
    }
    napi_add_env_cleanup_hook(env, Teardown, this);
    hooked_ = true;
    env_ = env;
  }

  ~LayerWriterWrap() override {
    if (hooked_) napi_remove_env_cleanup_hook(env_, Teardown, this);
    CloseNow();
  }

 private:
  static void Teardown(void* self) {
    auto* w = static_cast<LayerWriterWrap*>(self);
    w->hooked_ = false;
    w->CloseNow();
  }

  // Closes now, or when the call in flight ends.
  void CloseNow() {
    if (!state_) return;
    state_->closed = true;
    if (!state_->busy) state_->CloseAll();
  }

  bool Usable(Napi::Env env) {
    if (state_->busy) {
      Napi::Error e = Napi::Error::New(env, "the layer writer is already running a batch: await it first");
      e.Set("code", Napi::String::New(env, "ERR_INVALID_STATE"));
      e.ThrowAsJavaScriptException();
      return false;
    }
    if (state_->closed) {
      Napi::Error e = Napi::Error::New(env, "the layer writer is closed (finished, closed, or failed)");
      e.Set("code", Napi::String::New(env, "ERR_INVALID_STATE"));
      e.ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }

  // (recs: Float64Array, count: number, arena: Buffer, bufs: Buffer[])
  std::unique_ptr<Batch> ParseBatch(const Napi::CallbackInfo& info, bool async) {
    Napi::Env env = info.Env();
    bool f64 = info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_float64_array;
    if (!f64 || !info[1].IsNumber() || !info[2].IsBuffer() || !info[3].IsArray()) {
      ThrowTypeError(env, "run(recs: Float64Array, count: number, arena: Buffer, bufs: Buffer[])");
      return nullptr;
    }
    auto recs = info[0].As<Napi::Float64Array>();
    double count = info[1].As<Napi::Number>().DoubleValue();
    if (!(count >= 0 && std::floor(count) == count && count * kRec <= recs.ElementLength())) {
      ThrowRangeError(env, "run: count does not match the records");
      return nullptr;
    }
    auto batch = std::make_unique<Batch>();
    batch->count = static_cast<size_t>(count);
    batch->recs.assign(recs.Data(), recs.Data() + batch->count * kRec);
    auto arena = info[2].As<Napi::Buffer<char>>();
    batch->arena = arena.Data();
    batch->arena_len = arena.Length();
    Napi::Array bufs = info[3].As<Napi::Array>();
    uint32_t nbufs = bufs.Length();
    batch->bufs.resize(nbufs);
    for (uint32_t i = 0; i < nbufs; i++) {
      Napi::Value v = bufs.Get(i);
      if (!v.IsBuffer()) {
        ThrowTypeError(env, "run: bufs[" + std::to_string(i) + "] must be a Buffer");
        return nullptr;
      }
      auto buf = v.As<Napi::Buffer<char>>();
      batch->bufs[i] = Span{buf.Data(), buf.Length()};
    }
    // The records' offsets and indices, checked once here so Run can trust them.
    auto bad = [&](size_t i, const char* what) {
      ThrowRangeError(env, "run: record " + std::to_string(i) + ": " + what);
      return nullptr;
    };
    const double* r = batch->recs.data();
    for (size_t i = 0; i < batch->count; i++, r += kRec) {
      double kind = r[kKind];
      if (!(kind >= kDir && kind < kKindEnd && std::floor(kind) == kind)) return bad(i, "unknown kind");
      auto str_ok = [&](double off, double len) {
        return off >= 0 && len >= 0 && std::floor(off) == off && std::floor(len) == len && off + len < batch->arena_len &&
               batch->arena[static_cast<size_t>(off + len)] == '\0';
      };
      if (!str_ok(r[kPathOff], r[kPathLen])) return bad(i, "path outside the arena");
      auto k = static_cast<uint32_t>(kind);
      auto buf_ok = [&](double idx) { return idx >= 0 && std::floor(idx) == idx && idx < nbufs; };
      if ((k == kData || k == kXattr) && !buf_ok(r[kA])) return bad(i, "buffer index");
      if ((k == kSymlink || k == kHardlink) && !str_ok(r[kA], r[kB])) return bad(i, "target outside the arena");
      bool meta = HasMeta(k);
      if (meta) {
        auto id_ok = [](double v) { return v == -1 || (v >= 0 && v <= 4294967294.0 && std::floor(v) == v); };
        if (!(r[kMode] >= 0 && r[kMode] <= 07777 && std::floor(r[kMode]) == r[kMode]) || !id_ok(r[kUid]) ||
            !id_ok(r[kGid]) || !(std::isfinite(r[kMtimeSec]) && std::floor(r[kMtimeSec]) == r[kMtimeSec] &&
                                 std::fabs(r[kMtimeSec]) < 9.2e18) ||
            !(r[kMtimeNsec] >= 0 && r[kMtimeNsec] <= 999999999 && std::floor(r[kMtimeNsec]) == r[kMtimeNsec])) {
          return bad(i, "metadata out of range");
        }
        double nx = r[kC];
        if (!(nx >= 0 && std::floor(nx) == nx && i + nx < batch->count)) return bad(i, "xattr count");
        for (size_t j = 1; j <= static_cast<size_t>(nx); j++) {
          const double* x = r + j * kRec;
          if (x[kKind] != kXattr || !str_ok(x[kPathOff], x[kPathLen]) || !buf_ok(x[kA]) || x[kPathLen] == 0 ||
              std::memchr(batch->arena + static_cast<size_t>(x[kPathOff]), '\0', static_cast<size_t>(x[kPathLen])) != nullptr) {
            return bad(i, "xattr records");
          }
        }
      } else if (k == kXattr) {
        // Only after an entry with metadata, which skips over it.
        return bad(i, "a stray xattr record");
      }
      if (k == kNode) {
        auto u32 = [](double v) { return v >= 0 && v <= 4294967295.0 && std::floor(v) == v; };
        if (!(r[kA] == kNodeChar || r[kA] == kNodeBlock || r[kA] == kNodeFifo) || !u32(r[kB]) || !u32(r[kD])) {
          return bad(i, "node type or device number");
        }
      }
      if (k == kWhiteout && !((r[kA] == kWhiteoutDevice || r[kA] == kWhiteoutXattr) && (r[kB] == kNsTrusted || r[kB] == kNsUser))) {
        return bad(i, "whiteout form or namespace");
      }
      if (k == kOpaque && !(r[kB] == kNsTrusted || r[kB] == kNsUser)) return bad(i, "namespace");
      if (meta) {
        size_t nx = static_cast<size_t>(r[kC]);
        i += nx;
        r += nx * kRec;
      }
    }
    if (async) {
      batch->arena_ref = Napi::Persistent(arena);
      batch->bufs_ref = Napi::Persistent(bufs.As<Napi::Object>());
    }
    return batch;
  }

  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    std::unique_ptr<Batch> batch = ParseBatch(info, true);
    if (!batch) return env.Undefined();
    state_->busy = true;
    auto* worker = new LayerWriterWorker(env, info.This().As<Napi::Object>(), state_, Job::kRun, std::move(batch));
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  Napi::Value RunSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    std::unique_ptr<Batch> batch = ParseBatch(info, false);
    if (!batch) return env.Undefined();
    state_->Run(*batch);
    if (state_->err) ThrowSysError(env, state_->err);
    return env.Undefined();
  }

  Napi::Value Finish(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    state_->busy = true;
    auto* worker = new LayerWriterWorker(env, info.This().As<Napi::Object>(), state_, Job::kFinish, nullptr);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  Napi::Value FinishSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    state_->Finish();
    if (state_->err) ThrowSysError(env, state_->err);
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseNow();
    return info.Env().Undefined();
  }

  Napi::Value GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), state_->closed); }
  Napi::Value GetBusy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), state_->busy); }

  std::shared_ptr<WriterState> state_;
  napi_env env_ = nullptr;
  bool hooked_ = false;
};

}  // namespace

void InitLayerWrite(Napi::Env env, Napi::Object exports) {
  exports.Set("LayerWriter", LayerWriterWrap::Define(env));
}

}  // namespace ovl
