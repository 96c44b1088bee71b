// Reading mounts back: statmount(2) (Linux 6.8), whose STATMOUNT_OPT_ARRAY gives the
// superblock options unescaped, one string per option.
#include <napi.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "calls.h"
#include "errors.h"
#include "sys.h"
#include "results.h"

namespace ovl {

namespace {

#ifndef SYS_statmount
#define SYS_statmount 457  // the same number on every architecture but alpha and mips
#endif
#ifndef SYS_listmount
#define SYS_listmount 458
#endif
constexpr uint64_t kLsmtRoot = ~0ULL;  // LSMT_ROOT: the mount namespace's root

// struct mnt_id_req, MNT_ID_REQ_SIZE_VER0.
struct MntIdReqV0 {
  uint32_t size;
  uint32_t spare;
  uint64_t mnt_id;
  uint64_t param;
};
static_assert(sizeof(MntIdReqV0) == 24);

// struct statmount as of Linux 6.18 (include/uapi/linux/mount.h); string fields are offsets
// into str[]. A kernel fills only what it knows and says so in `mask`.
struct StatmountHead {
  uint32_t size, mnt_opts;
  uint64_t mask;
  uint32_t sb_dev_major, sb_dev_minor;
  uint64_t sb_magic;
  uint32_t sb_flags, fs_type;
  uint64_t mnt_id, mnt_parent_id;
  uint32_t mnt_id_old, mnt_parent_id_old;
  uint64_t mnt_attr, mnt_propagation, mnt_peer_group, mnt_master, propagate_from;
  uint32_t mnt_root, mnt_point;
  uint64_t mnt_ns_id;
  uint32_t fs_subtype, sb_source, opt_num, opt_array, opt_sec_num, opt_sec_array;
  uint64_t supported_mask;
  uint32_t mnt_uidmap_num, mnt_uidmap, mnt_gidmap_num, mnt_gidmap;
  uint64_t spare2[43];
};
static_assert(sizeof(StatmountHead) == 512);

constexpr uint64_t kMntOpts = STATMOUNT_MNT_OPTS, kFsType = STATMOUNT_FS_TYPE, kMntRoot = STATMOUNT_MNT_ROOT,
                   kMntPoint = STATMOUNT_MNT_POINT, kSbSource = STATMOUNT_SB_SOURCE, kOptArray = STATMOUNT_OPT_ARRAY,
                   kSbBasic = STATMOUNT_SB_BASIC, kMntBasic = STATMOUNT_MNT_BASIC, kSupported = STATMOUNT_SUPPORTED_MASK;

}  // namespace

int CallStatmount(uint64_t mnt_id, uint64_t mask, std::vector<char>& buf, SysError& err) {
  MntIdReqV0 req{sizeof(MntIdReqV0), 0, mnt_id, mask};
  buf.assign(sizeof(StatmountHead) + 4096, 0);
  for (;;) {
    long rc = syscall(SYS_statmount, &req, buf.data(), buf.size(), 0);
    if (rc == 0) return 0;
    // EOVERFLOW: the strings did not fit (a 500-layer overlay's options are ~32 KB).
    if (errno == EOVERFLOW && buf.size() < (64u << 20)) {
      buf.assign(buf.size() * 4, 0);
      continue;
    }
    int code = -errno;
    err.Check(code, "statmount");
    return code;
  }
}

int CallListmount(uint64_t mnt_id, uint64_t since, std::vector<uint64_t>& out, SysError& err) {
  MntIdReqV0 req{sizeof(MntIdReqV0), 0, mnt_id == 0 ? kLsmtRoot : mnt_id, since};
  std::vector<uint64_t> page(512);
  for (;;) {
    long n = syscall(SYS_listmount, &req, page.data(), page.size(), 0);
    if (n < 0) {
      int code = -errno;
      if (code == -EINTR) continue;
      err.Check(code, "listmount");
      return code;
    }
    out.insert(out.end(), page.begin(), page.begin() + n);
    // A full page: there may be more, after the last id given.
    if (static_cast<size_t>(n) < page.size()) return 0;
    req.param = page[static_cast<size_t>(n) - 1];
  }
}

Napi::Value StatmountObject(Napi::Env env, const std::vector<char>& buf) {
  const StatmountHead& h = *reinterpret_cast<const StatmountHead*>(buf.data());
  auto at = [&](uint32_t off) { return buf.data() + sizeof(StatmountHead) + off; };
  Napi::Object o = Napi::Object::New(env);
  auto num = [&](const char* k, uint64_t v) { o.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
  auto str = [&](const char* k, uint64_t bit, uint32_t off) {
    if (h.mask & bit) o.Set(k, Napi::String::New(env, at(off)));
  };
  num("mask", h.mask);
  if (h.mask & kSbBasic) {
    num("sbMagic", h.sb_magic);
    num("sbFlags", h.sb_flags);
    num("sbDevMajor", h.sb_dev_major);
    num("sbDevMinor", h.sb_dev_minor);
  }
  if (h.mask & kMntBasic) {
    num("mountId", h.mnt_id);
    num("parentId", h.mnt_parent_id);
    num("mountIdOld", h.mnt_id_old);
    num("parentIdOld", h.mnt_parent_id_old);
    num("attr", h.mnt_attr);
    num("propagation", h.mnt_propagation);
  }
  if (h.mask & kSupported) num("supportedMask", h.supported_mask);
  str("fsType", kFsType, h.fs_type);
  str("mountRoot", kMntRoot, h.mnt_root);
  str("mountPoint", kMntPoint, h.mnt_point);
  str("source", kSbSource, h.sb_source);
  str("options", kMntOpts, h.mnt_opts);
  if (h.mask & kOptArray) {
    Napi::Array arr = Napi::Array::New(env, h.opt_num);
    const char* p = at(h.opt_array);
    for (uint32_t i = 0; i < h.opt_num; i++) {
      size_t len = strlen(p);
      arr.Set(i, Napi::String::New(env, p, len));
      p += len + 1;
    }
    o.Set("optionArray", arr);
  }
  return o;
}

}  // namespace ovl
