// Batched reads of a layer's entries beneath directory fds, for exporting a layer as a tar: one
// call reads, for many names, what a tar entry needs (statx, symlink target, every xattr, and the
// contents of regular files up to a byte budget), so 17k small files cost a few dozen
// thread-pool hops instead of 17k.
//
//   readEntries(roots, names, flags, budget) -> [count, stats: Float64Array, data: Buffer, xattrs]
//
// roots: directory fds (handles or numbers), each a layer root. names[i]: a path relative to
// roots[flags[i] >> 8] (string or bytes). flags[i] & 0xff: kData (read a regular file's contents),
// kXattrs (list and read every xattr), kRegular / kDir (the type readdir gave: opened O_RDONLY
// directly; anything else is opened O_PATH, so a device or FIFO is never opened for I/O).
// Every entry is opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) and O_NOFOLLOW
// relative to its root, and everything else is read through that fd.
//
// Contents go into one buffer for the whole batch. A regular file that does not fit what is
// left of `budget` ends the batch before it (count says how many entries were done), unless it
// is the first: then it is done without its contents (data length -1) and the caller reads it
// in chunks (open it with openat2 and read). A failure of one entry is recorded in its row
// (errno and the syscall), not thrown: the caller decides (a file removed meanwhile, EACCES).
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <openssl/evp.h>

#include "args.h"
#include "errors.h"
#include "fd.h"
#include "sys.h"
#include "worker.h"

namespace ovl {

namespace {

constexpr unsigned kData = 1;
constexpr unsigned kXattrs = 2;
constexpr unsigned kRegular = 4;
constexpr unsigned kDir = 8;
// Lay the batch out as a tar: a 512-byte gap before each entry (for its header, written by the
// caller), its contents, and zeros to the next 512-byte boundary; link targets go elsewhere.
constexpr unsigned kTarLayout = 16;
constexpr size_t kBlock = 512;

// The row of one entry in `stats` (src/sys/layer-reader.ts reads the same layout).
enum Field : size_t {
  kErrno,
  kSyscall,
  kMode,
  kUid,
  kGid,
  kSize,
  kMtimeSec,
  kMtimeNsec,
  kNlink,
  kIno,
  kDevMajor,
  kDevMinor,
  kRdevMajor,
  kRdevMinor,
  kDataOffset,  // contents, or a symlink's target
  kDataLength,  // -1: the contents were not read
  kXattrCount,
  kGap,         // tar layout: where the entry's header goes (its contents follow); -1: none
  kLinkOffset,  // tar layout: a symlink's target, in `links`
  kLinkLength,
  kFields,
};

// What kSyscall holds: the call that failed.
const char* const kSyscalls[] = {"openat2", "statx", "read", "flistxattr", "fgetxattr", "readlinkat"};
enum Sys { kSysOpenat2, kSysStatx, kSysRead, kSysListxattr, kSysGetxattr, kSysReadlink };

struct OpenHow {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};

// struct xattr_args (uapi/linux/xattr.h, Linux 6.13).
struct XattrArgs {
  uint64_t value;
  uint32_t size;
  uint32_t flags;
};

// A growable byte buffer handed to JS without a copy (malloc'd: no zero fill on growth).
class Bytes {
 public:
  Bytes() = default;
  Bytes(Bytes&& o) noexcept : p_(std::exchange(o.p_, nullptr)), size_(std::exchange(o.size_, 0)), cap_(std::exchange(o.cap_, 0)) {}
  Bytes& operator=(Bytes&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(size_, o.size_);
    std::swap(cap_, o.cap_);
    return *this;
  }
  ~Bytes() { std::free(p_); }
  // Room for `n` more bytes; false when out of memory.
  bool Reserve(size_t n) {
    if (size_ + n <= cap_) return true;
    size_t cap = cap_ ? cap_ : 4096;
    while (cap < size_ + n) cap *= 2;
    void* p = std::realloc(p_, cap);
    if (p == nullptr) return false;
    p_ = static_cast<char*>(p);
    cap_ = cap;
    return true;
  }
  char* End() { return p_ + size_; }
  size_t capacity() const { return cap_; }
  // Takes `p` (malloc'd, `cap` bytes) as the empty buffer.
  void Adopt(char* p, size_t cap) {
    std::free(p_);
    p_ = p;
    size_ = 0;
    cap_ = cap;
  }
  const char* Data() const { return p_; }
  void Grow(size_t n) { size_ += n; }
  size_t size() const { return size_; }
  char* Release() { return std::exchange(p_, nullptr); }

 private:
  char* p_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

using Xattrs = std::vector<std::pair<std::string, std::vector<char>>>;

// Batch buffers, recycled: a batch's buffer goes to JS, and when the last view of it is collected
// it comes back here for a later batch instead of to free(). A fresh one costs a page fault and a
// page clear per 4 KiB as it is filled, and a munmap after: as much as the copy itself. Process
// wide (a buffer is plain memory, whichever environment used it), a few at most.
std::mutex g_spare_mu;
std::vector<std::pair<char*, size_t>> g_spare;
constexpr size_t kSpares = 4;

std::pair<char*, size_t> TakeSpare(size_t want) {
  std::lock_guard<std::mutex> lock(g_spare_mu);
  for (size_t i = 0; i < g_spare.size(); i++) {
    if (g_spare[i].second >= want) {
      auto b = g_spare[i];
      g_spare.erase(g_spare.begin() + static_cast<std::ptrdiff_t>(i));
      return b;
    }
  }
  return {nullptr, 0};
}

void GiveSpare(char* p, size_t cap) {
  std::lock_guard<std::mutex> lock(g_spare_mu);
  if (g_spare.size() < kSpares) g_spare.emplace_back(p, cap);
  else std::free(p);
}

struct ReadEntriesOp {
  static constexpr const char* kName = "readEntries";
  std::vector<FdArg> roots;
  std::vector<std::string> names;
  std::vector<uint32_t> flags;
  double budget = 0;
  bool async = false;  // set by RunAsync (worker.h)
  SysError err;

  size_t count = 0;
  std::vector<double> stats;
  Bytes data;
  Bytes links;
  std::vector<Xattrs> xattrs;
  bool xattrat = true;  // listxattrat/getxattrat answer (Linux 6.13); else /proc/self/fd

  bool Parse(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsArray() || !info[1].IsArray() || !info[2].IsTypedArray() || !info[3].IsNumber() ||
        info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      ThrowTypeError(env, "readEntries(roots: Array, names: Array, flags: Uint32Array, budget: number)");
      return false;
    }
    Napi::Array r = info[0].As<Napi::Array>();
    roots.resize(r.Length());
    for (uint32_t k = 0; k < r.Length(); k++) {
      if (!FdFromValue(env, r.Get(k), "roots[" + std::to_string(k) + "]", roots[k], async)) return false;
    }
    Napi::Array n = info[1].As<Napi::Array>();
    Napi::Uint32Array f = info[2].As<Napi::Uint32Array>();
    if (f.ElementLength() < n.Length()) {
      ThrowRangeError(env, "readEntries: flags is shorter than names");
      return false;
    }
    budget = info[3].As<Napi::Number>().DoubleValue();
    if (!(budget >= 0 && budget <= 1073741824.0)) {
      ThrowRangeError(env, "The value of \"budget\" is out of range");
      return false;
    }
    names.resize(n.Length());
    flags.assign(f.Data(), f.Data() + n.Length());
    for (uint32_t k = 0; k < n.Length(); k++) {
      Napi::Value v = n.Get(k);
      if (v.IsBuffer()) {
        auto b = v.As<Napi::Buffer<char>>();
        names[k].assign(b.Data(), b.Length());
      } else if (v.IsString()) {
        names[k] = v.As<Napi::String>().Utf8Value();
      } else {
        ThrowTypeError(env, "The \"names[" + std::to_string(k) + "]\" argument must be a string or a Buffer");
        return false;
      }
      if (names[k].empty() || names[k].find('\0') != std::string::npos) {
        ThrowTypeError(env, "The \"names[" + std::to_string(k) + "]\" argument must be a non-empty path without null bytes");
        return false;
      }
      if ((flags[k] >> 8) >= roots.size()) {
        ThrowRangeError(env, "readEntries: flags[" + std::to_string(k) + "] names a root that is not given");
        return false;
      }
    }
    return true;
  }

  // Every xattr of the entry open as `fd` (opened for I/O when `io`, else O_PATH).
  int ReadXattrs(int fd, bool io, Xattrs& out, int& sys) {
    std::string proc;
    auto list = [&](char* buf, size_t n) -> ssize_t {
      if (io) return flistxattr(fd, buf, n);
      if (xattrat) {
        ssize_t r = syscall(SYS_listxattrat, fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, buf, n);
        // ENOSYS before 6.13; EBADF where the kernel takes no O_PATH fd here.
        if (r >= 0 || (errno != ENOSYS && errno != EBADF)) return r;
        xattrat = false;
      }
      // Through the magic link: the O_PATH fd's own inode, a symlink included.
      if (proc.empty()) proc = "/proc/self/fd/" + std::to_string(fd);
      return listxattr(proc.c_str(), buf, n);
    };
    auto get = [&](const char* name, char* buf, size_t n) -> ssize_t {
      if (io) return fgetxattr(fd, name, buf, n);
      if (xattrat) {
        XattrArgs a{reinterpret_cast<uint64_t>(buf), static_cast<uint32_t>(n), 0};
        ssize_t r = syscall(SYS_getxattrat, fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, name, &a, sizeof a);
        if (r >= 0 || (errno != ENOSYS && errno != EBADF)) return r;
        xattrat = false;
      }
      if (proc.empty()) proc = "/proc/self/fd/" + std::to_string(fd);
      return getxattr(proc.c_str(), name, buf, n);
    };
    std::vector<char> names;
    for (;;) {
      ssize_t size = list(nullptr, 0);
      if (size < 0) {
        // No xattrs on this filesystem (or this kind of file): none to export.
        if (errno == ENOTSUP || errno == EOPNOTSUPP) return 0;
        sys = kSysListxattr;
        return -errno;
      }
      if (size == 0) return 0;
      names.resize(static_cast<size_t>(size));
      ssize_t got = list(names.data(), names.size());
      if (got >= 0) {
        names.resize(static_cast<size_t>(got));
        break;
      }
      if (errno != ERANGE) {
        sys = kSysListxattr;
        return -errno;
      }
    }
    for (size_t at = 0; at < names.size();) {
      const char* name = names.data() + at;
      size_t len = strnlen(name, names.size() - at);
      at += len + 1;
      if (len == 0) continue;
      std::vector<char> value;
      int failed = 0;
      for (;;) {
        ssize_t size = get(name, nullptr, 0);
        if (size < 0) {
          failed = errno;
          break;
        }
        value.resize(static_cast<size_t>(size));
        if (size == 0) break;
        ssize_t got = get(name, value.data(), value.size());
        if (got >= 0) {
          value.resize(static_cast<size_t>(got));
          break;
        }
        if (errno != ERANGE) {
          failed = errno;
          break;
        }
      }
      // Removed since it was listed: not there.
      if (failed == ENODATA) continue;
      if (failed != 0) {
        sys = kSysGetxattr;
        return -failed;
      }
      out.emplace_back(std::string(name, len), std::move(value));
    }
    return 0;
  }

  // Reads up to `size` bytes of `fd` into data; the count read (short at EOF) or -errno.
  int64_t ReadContents(int fd, size_t size) {
    if (!data.Reserve(size)) return -ENOMEM;
    size_t got = 0;
    while (got < size) {
      ssize_t r = read(fd, data.End() + got, size - got);
      if (r < 0) {
        if (errno == EINTR) continue;
        return -errno;
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    data.Grow(got);
    return static_cast<int64_t>(got);
  }

  void Run() {
    size_t n = names.size();
    stats.assign(n * kFields, 0);
    xattrs.resize(n);
    size_t budget_left = static_cast<size_t>(budget);
    // Untouched pages of a large allocation cost nothing: room for the whole budget at once.
    size_t want = std::min<size_t>(budget_left, size_t{1} << 28) + n * kBlock + 4096;
    if (auto [p, cap] = TakeSpare(want); p != nullptr) data.Adopt(p, cap);
    if (!data.Reserve(want)) {
      err.Check(-ENOMEM, "malloc");
      return;
    }
    for (size_t i = 0; i < n; i++) {
      double* row = stats.data() + i * kFields;
      row[kDataLength] = -1;
      uint32_t f = flags[i];
      int root = roots[f >> 8].fd;
      bool regular = (f & kRegular) != 0;
      bool dir = (f & kDir) != 0;
      uint64_t open_flags = regular ? (O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
                            : dir   ? (O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
                                    : (O_PATH | O_NOFOLLOW);
      OpenHow how{open_flags | O_CLOEXEC, 0, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
      int fd = RawResult(syscall(SYS_openat2, root, names[i].c_str(), &how, sizeof how));
      if (fd == -ELOOP || fd == -ENOTDIR || fd == -ENXIO) {
        // Not the type readdir said any more (a symlink, a socket, no longer a directory): look
        // at it without opening it for I/O.
        how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
        regular = dir = false;
        fd = RawResult(syscall(SYS_openat2, root, names[i].c_str(), &how, sizeof how));
      }
      if (fd < 0) {
        row[kErrno] = -fd;
        row[kSyscall] = kSysOpenat2;
        count = i + 1;
        continue;
      }
      UniqueFd owned(fd);
      StatxBuf st{};
      int rc = SysStatx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st);
      if (rc < 0) {
        row[kErrno] = -rc;
        row[kSyscall] = kSysStatx;
        count = i + 1;
        continue;
      }
      bool io = regular || dir;
      bool is_reg = S_ISREG(st.stx_mode);
      bool tar = (f & kTarLayout) != 0;
      size_t gap = tar ? kBlock : 0;
      if (is_reg && (f & kData) != 0 && io) {
        // Too big for what is left: the next batch starts with it, unless it is alone.
        if (st.stx_size + 2 * gap > budget_left && i > 0) break;
      }
      row[kGap] = -1;
      if (tar) {
        if (!data.Reserve(kBlock)) {
          err.Check(-ENOMEM, "malloc");
          return;
        }
        row[kGap] = static_cast<double>(data.size());
        data.Grow(kBlock);
        budget_left = budget_left > kBlock ? budget_left - kBlock : 0;
      }
      row[kMode] = st.stx_mode;
      row[kUid] = st.stx_uid;
      row[kGid] = st.stx_gid;
      row[kSize] = static_cast<double>(st.stx_size);
      row[kMtimeSec] = static_cast<double>(st.stx_mtime.tv_sec);
      row[kMtimeNsec] = st.stx_mtime.tv_nsec;
      row[kNlink] = st.stx_nlink;
      row[kIno] = static_cast<double>(st.stx_ino);
      row[kDevMajor] = st.stx_dev_major;
      row[kDevMinor] = st.stx_dev_minor;
      row[kRdevMajor] = st.stx_rdev_major;
      row[kRdevMinor] = st.stx_rdev_minor;
      count = i + 1;
      int sys = 0;
      if (S_ISLNK(st.stx_mode)) {
        Bytes& into = tar ? links : data;
        size_t cap = st.stx_size > 0 ? static_cast<size_t>(st.stx_size) + 1 : 256;
        for (;;) {
          if (!into.Reserve(cap)) {
            rc = -ENOMEM;
            break;
          }
          ssize_t len = readlinkat(fd, "", into.End(), cap);
          if (len < 0) {
            rc = -errno;
            break;
          }
          if (static_cast<size_t>(len) < cap) {
            row[tar ? kLinkOffset : kDataOffset] = static_cast<double>(into.size());
            row[tar ? kLinkLength : kDataLength] = static_cast<double>(len);
            into.Grow(static_cast<size_t>(len));
            break;
          }
          cap *= 2;
        }
        if (rc < 0) {
          row[kErrno] = -rc;
          row[kSyscall] = kSysReadlink;
          continue;
        }
      }
      if ((f & kXattrs) != 0) {
        rc = ReadXattrs(fd, io, xattrs[i], sys);
        if (rc < 0) {
          row[kErrno] = -rc;
          row[kSyscall] = sys;
          continue;
        }
        row[kXattrCount] = static_cast<double>(xattrs[i].size());
      }
      if (is_reg && io && (f & kData) != 0 && st.stx_size <= budget_left) {
        size_t offset = data.size();
        int64_t got = ReadContents(fd, static_cast<size_t>(st.stx_size));
        if (got < 0) {
          row[kErrno] = static_cast<double>(-got);
          row[kSyscall] = kSysRead;
          continue;
        }
        row[kDataOffset] = static_cast<double>(offset);
        row[kDataLength] = static_cast<double>(got);
        size_t pad = tar ? (kBlock - static_cast<size_t>(got) % kBlock) % kBlock : 0;
        if (pad > 0) {
          if (!data.Reserve(pad)) {
            err.Check(-ENOMEM, "malloc");
            return;
          }
          std::memset(data.End(), 0, pad);
          data.Grow(pad);
        }
        size_t used = static_cast<size_t>(got) + pad;
        budget_left = budget_left > used ? budget_left - used : 0;
      }
    }
  }

  Napi::Value Result(Napi::Env env) {
    Napi::Array out = Napi::Array::New(env, 5);
    out.Set(0u, Napi::Number::New(env, static_cast<double>(count)));
    Napi::Float64Array st = Napi::Float64Array::New(env, count * kFields);
    std::memcpy(st.Data(), stats.data(), count * kFields * sizeof(double));
    out.Set(1u, st);
    size_t size = data.size();
    if (size == 0) {
      out.Set(2u, Napi::Buffer<char>::New(env, 0));
    } else {
      size_t* cap = new size_t(data.capacity());
      char* p = data.Release();
      out.Set(2u, Napi::Buffer<char>::New(env, p, size, [](Napi::Env, char* q, size_t* c) {
        GiveSpare(q, *c);
        delete c;
      }, cap));
    }
    Napi::Array xa = Napi::Array::New(env, count);
    for (size_t i = 0; i < count; i++) {
      if (xattrs[i].empty()) continue;
      Napi::Array list = Napi::Array::New(env, xattrs[i].size());
      for (size_t k = 0; k < xattrs[i].size(); k++) {
        auto& [name, value] = xattrs[i][k];
        Napi::Array pair = Napi::Array::New(env, 2);
        pair.Set(0u, Napi::String::New(env, name));
        pair.Set(1u, Napi::Buffer<char>::Copy(env, value.data(), value.size()));
        list.Set(static_cast<uint32_t>(k), pair);
      }
      xa.Set(static_cast<uint32_t>(i), list);
    }
    out.Set(3u, xa);
    size_t lsize = links.size();
    out.Set(4u, lsize == 0 ? Napi::Buffer<char>::New(env, 0)
                           : Napi::Buffer<char>::Copy(env, links.Data(), lsize));
    return out;
  }
};

// sha256 of a layer's bytes on the thread pool: the tar a batch makes is hashed off the main
// thread while the next one is encoded (OpenSSL's EVP, the one Node itself is built with).
// sha256Create() -> state; sha256Update(state, buffers[]) (Promise + Sync; one at a time per
// state); sha256Digest(state) -> 32 bytes (once).
struct Sha256 {
  EVP_MD_CTX* ctx = nullptr;
  bool busy = false;
  bool done = false;
  ~Sha256() {
    if (ctx != nullptr) EVP_MD_CTX_free(ctx);
  }
};

Sha256* ShaFrom(Napi::Env env, Napi::Value v) {
  if (!v.IsExternal()) {
    ThrowTypeError(env, "The \"state\" argument must be a sha256 state");
    return nullptr;
  }
  return v.As<Napi::External<Sha256>>().Data();
}

Napi::Value Sha256Create(const Napi::CallbackInfo& info) {
  auto* s = new Sha256();
  s->ctx = EVP_MD_CTX_new();
  if (s->ctx == nullptr || EVP_DigestInit_ex(s->ctx, EVP_sha256(), nullptr) != 1) {
    delete s;
    ThrowRangeError(info.Env(), "sha256: OpenSSL could not make a digest context");
    return info.Env().Undefined();
  }
  return Napi::External<Sha256>::New(info.Env(), s, [](Napi::Env, Sha256* p) { delete p; });
}

struct Sha256UpdateOp {
  static constexpr const char* kName = "sha256Update";
  Sha256* state = nullptr;
  Napi::Reference<Napi::Value> state_ref;
  std::vector<Napi::Reference<Napi::Value>> refs;  // the buffers, alive until Result
  std::vector<std::pair<const char*, size_t>> parts;
  bool async = false;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    state = ShaFrom(env, info[0]);
    if (state == nullptr) return false;
    if (state->busy || state->done) {
      ThrowTypeError(env, state->done ? "sha256Update after sha256Digest" : "sha256Update while another update of the same state runs");
      return false;
    }
    if (!info[1].IsArray()) {
      ThrowTypeError(env, "The \"buffers\" argument must be an Array");
      return false;
    }
    Napi::Array a = info[1].As<Napi::Array>();
    for (uint32_t k = 0; k < a.Length(); k++) {
      Napi::Value v = a.Get(k);
      if (!v.IsTypedArray()) {
        ThrowTypeError(env, "The \"buffers[" + std::to_string(k) + "]\" argument must be a Buffer");
        return false;
      }
      auto t = v.As<Napi::TypedArray>();
      Napi::ArrayBuffer ab = t.ArrayBuffer();
      parts.emplace_back(static_cast<const char*>(ab.Data()) + t.ByteOffset(), t.ByteLength());
      if (async) refs.push_back(Napi::Persistent(v));
    }
    if (async) {
      state_ref = Napi::Persistent(info[0]);
      state->busy = true;
    }
    return true;
  }

  void Run() {
    for (auto& [p, n] : parts) {
      if (n > 0 && EVP_DigestUpdate(state->ctx, p, n) != 1) {
        err.Check(-EIO, "EVP_DigestUpdate");
        break;
      }
    }
  }

  Napi::Value Result(Napi::Env env) {
    state->busy = false;
    return env.Undefined();
  }
};

Napi::Value Sha256Digest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Sha256* s = ShaFrom(env, info[0]);
  if (s == nullptr) return env.Undefined();
  if (s->busy || s->done) {
    ThrowTypeError(env, s->done ? "sha256Digest twice" : "sha256Digest while an update runs");
    return env.Undefined();
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  s->done = true;
  if (EVP_DigestFinal_ex(s->ctx, md, &len) != 1) {
    ThrowRangeError(env, "sha256: EVP_DigestFinal_ex failed");
    return env.Undefined();
  }
  return Napi::Buffer<unsigned char>::Copy(env, md, len);
}

// The syscall names of kSyscall, for the TypeScript side.
Napi::Value LayerReadSyscalls(Napi::Env env) {
  Napi::Array a = Napi::Array::New(env, std::size(kSyscalls));
  for (size_t i = 0; i < std::size(kSyscalls); i++) a.Set(static_cast<uint32_t>(i), kSyscalls[i]);
  return a;
}

}  // namespace

void InitLayerRead(Napi::Env env, Napi::Object exports) {
  ExportOp<ReadEntriesOp>(env, exports);
  ExportOp<Sha256UpdateOp>(env, exports);
  exports.Set("sha256Create", Napi::Function::New<Sha256Create>(env, "sha256Create"));
  exports.Set("sha256Digest", Napi::Function::New<Sha256Digest>(env, "sha256Digest"));
  exports.Set("readEntriesSyscalls", LayerReadSyscalls(env));
}

}  // namespace ovl
