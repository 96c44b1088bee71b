// runSteps(steps): a whole list of mount-API / mount(2) steps in ONE call, so a 500-layer
// overlay costs one thread-pool hop, not 500. A step may use an fd made by an earlier step by
// its index. On failure every fd the batch opened is closed and the error names the step; on
// success the fds of steps marked `keep` come back as handles and every other one is closed.
// The fs-context log of each fs fd is drained before it is closed and returned as messages.
#include <napi.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "args.h"
#include "calls.h"
#include "errors.h"
#include "fd.h"
#include "fs_log.h"
#include "legacy.h"
#include "statx_js.h"
#include "sys.h"
#include "worker.h"

namespace ovl {

namespace {

enum class Kind {
  kFsopen, kFspick, kFsconfig, kFsmount, kMoveMount, kOpenTree, kMountSetattr, kOpen, kMount, kUmount2, kStatx, kClose,
  kMknod, kSetxattr, kRemovexattr,
};

struct KindName {
  const char* name;
  Kind kind;
  bool makes_fd;
  const char* handle_kind;
};
constexpr KindName kKinds[] = {
    {"fsopen", Kind::kFsopen, true, "fs"},       {"fspick", Kind::kFspick, true, "fs"},
    {"fsconfig", Kind::kFsconfig, false, ""},    {"fsmount", Kind::kFsmount, true, "mount"},
    {"move_mount", Kind::kMoveMount, false, ""}, {"open_tree", Kind::kOpenTree, true, "mount"},
    {"mount_setattr", Kind::kMountSetattr, false, ""}, {"open", Kind::kOpen, true, "file"},
    {"mount", Kind::kMount, false, ""},          {"umount2", Kind::kUmount2, false, ""},
    {"statx", Kind::kStatx, false, ""},          {"close", Kind::kClose, false, ""},
    // Layer markers in bulk (whiteouts, opaque and redirect xattrs).
    {"mknod", Kind::kMknod, false, ""},          {"setxattr", Kind::kSetxattr, false, ""},
    {"removexattr", Kind::kRemovexattr, false, ""},
};

// An fd operand: an earlier step's fd, a caller's handle, or AT_FDCWD.
struct FdRef {
  int step = -1;
  FdArg external;  // fd == AT_FDCWD when neither
};

struct Step {
  const KindName* kind = nullptr;
  bool keep = false;
  FdRef fd1, fd2, fd3;  // per kind: fs / dirfd / from, value fd / to, userns
  std::string str1;     // fsname, key, path, fromPath, target
  std::optional<std::string> str2, str3, str4;  // value/toPath/source/fstype/data
  std::vector<char> bin;
  unsigned u1 = 0, u2 = 0, u3 = 0;  // flags, cmd, attrs, mode, mask
  uint64_t attr_set = 0, attr_clr = 0, propagation = 0;
  bool has_userns = false, in_dir = false, follow = false;
  int ok_errno = 0;  // this errno counts as success (e.g. ENODATA for removing a missing xattr)
};

// Property names as JS strings, each made once per batch: Get(const char*) makes and
// internalizes the name again on every call, ten times a step, for thousands of steps.
class KeyCache {
 public:
  explicit KeyCache(Napi::Env env) : env_(env) {}
  Napi::Value operator()(const char* key) {
    for (const auto& [name, value] : entries_) {
      if (name == key) return Napi::Value(env_, value);
    }
    Napi::String value = Napi::String::New(env_, key);
    entries_.emplace_back(key, value);
    return value;
  }

 private:
  Napi::Env env_;
  std::vector<std::pair<const char*, napi_value>> entries_;  // by the literal's address
};

// Everything parsed so far, for the fd references of the next step.
struct Parsed {
  std::vector<Step>& steps;
  std::vector<bool>& closed;  // by step: its fd was closed by a later close step
};

class StepReader {
 public:
  StepReader(Napi::Env env, Napi::Object obj, size_t index, const Parsed& earlier, KeyCache& keys)
      : env_(env), obj_(obj), index_(index), earlier_(earlier), keys_(keys) {}

  Napi::Value Get(const char* key) { return obj_.Get(keys_(key)); }
  bool Has(const char* key) { return !IsNullish(Get(key)); }
  bool Flag(const char* key) {
    Napi::Value v = Get(key);
    return !v.IsUndefined() && v.ToBoolean().Value();
  }
  bool Str(const char* key, std::string& out) { return StrValue(key, Get(key), out); }
  bool OptStr(const char* key, std::optional<std::string>& out) {
    Napi::Value v = Get(key);
    if (IsNullish(v)) return true;
    std::string s;
    if (!StrValue(key, v, s)) return false;
    out = std::move(s);
    return true;
  }
  bool Uint(const char* key, unsigned& out, bool required = false) {
    double d;
    Napi::Value v = Get(key);
    if (!Number(v, d)) {
      if (IsNullish(v) && !required) return true;
      d = -1;
    }
    if (!(d >= 0 && d <= 4294967295.0 && static_cast<double>(static_cast<uint64_t>(d)) == d)) {
      return Fail(std::string("\"") + key + "\" must be an unsigned 32-bit integer");
    }
    out = static_cast<unsigned>(d);
    return true;
  }
  bool U64(const char* key, uint64_t& out) {
    double d;
    Napi::Value v = Get(key);
    if (!Number(v, d)) {
      if (IsNullish(v)) return true;
      d = -1;
    }
    if (!(d >= 0 && d <= 9007199254740991.0 && static_cast<double>(static_cast<uint64_t>(d)) == d)) {
      return Fail(std::string("\"") + key + "\" must be a non-negative integer");
    }
    out = static_cast<uint64_t>(d);
    return true;
  }
  // A number is the index of an earlier step that made an fd; an object is a caller's handle.
  bool Fd(const char* key, FdRef& out, bool cwd_ok) {
    Napi::Value v = Get(key);
    double d;
    if (Number(v, d)) {
      // Range first: converting a negative, NaN or huge double to size_t is undefined behaviour.
      bool in_range = d >= 0 && d < static_cast<double>(index_) && std::floor(d) == d;
      size_t ref = in_range ? static_cast<size_t>(d) : 0;
      if (!in_range || !earlier_.steps[ref].kind->makes_fd) {
        return Fail(std::string("\"") + key + "\" must be the index of an earlier step that opens an fd");
      }
      if (earlier_.closed[ref]) return Fail(std::string("\"") + key + "\" refers to a step whose fd an earlier step closed");
      out.step = static_cast<int>(ref);
      return true;
    }
    if (cwd_ok && IsNullish(v)) {
      out.external.fd = AT_FDCWD;
      return true;
    }
    std::string name = "steps[" + std::to_string(index_) + "]." + key;
    return FdFromValue(env_, v, name.c_str(), cwd_ok, out.external);
  }
  bool Fail(const std::string& problem) {
    ThrowTypeError(env_, "steps[" + std::to_string(index_) + "]: " + problem);
    return false;
  }

 private:
  // One call for a number (IsNumber() and DoubleValue() are two).
  bool Number(Napi::Value v, double& d) { return napi_get_value_double(env_, v, &d) == napi_ok; }
  static bool IsNullish(Napi::Value v) {
    napi_valuetype t = v.Type();
    return t == napi_undefined || t == napi_null;
  }
  // A string in one call when it fits a buffer on the stack (Utf8Value() takes two and a copy).
  bool StrValue(const char* key, Napi::Value v, std::string& out) {
    char buf[1024];
    size_t len = 0;
    napi_status status = napi_get_value_string_utf8(env_, v, buf, sizeof buf, &len);
    if (status == napi_string_expected) return Fail(std::string("\"") + key + "\" must be a string");
    if (status != napi_ok) return false;
    // A character that did not fit is up to 4 bytes: shorter than that from the end, all of it fit.
    if (len + 4 < sizeof buf - 1) out.assign(buf, len);
    else out = v.As<Napi::String>().Utf8Value();
    if (out.find('\0') != std::string::npos) return Fail(std::string("\"") + key + "\" must not contain null bytes");
    return true;
  }

  Napi::Env env_;
  Napi::Object obj_;
  size_t index_;
  const Parsed& earlier_;
  KeyCache& keys_;
};

bool ParseStep(Napi::Env env, Napi::Value value, size_t index, const Parsed& parsed, KeyCache& keys) {
  Step s;
  if (!value.IsObject()) {
    ThrowTypeError(env, "steps[" + std::to_string(index) + "] must be an object");
    return false;
  }
  Napi::Object obj = value.As<Napi::Object>();
  StepReader r(env, obj, index, parsed, keys);
  std::string op;
  if (!r.Str("op", op)) return false;
  for (const KindName& k : kKinds) {
    if (op == k.name) s.kind = &k;
  }
  if (!s.kind) return r.Fail("unknown op '" + op + "'");
  s.keep = r.Flag("keep");
  bool ok = true;
  switch (s.kind->kind) {
    case Kind::kFsopen:
      ok = r.Str("fsname", s.str1) && r.Uint("flags", s.u1);
      break;
    case Kind::kFspick:
      ok = r.Fd("dirfd", s.fd1, true) && r.Str("path", s.str1) && r.Uint("flags", s.u1);
      break;
    case Kind::kFsconfig:
      ok = r.Fd("fs", s.fd1, false) && r.Uint("cmd", s.u2, true) && r.OptStr("key", s.str2);
      if (!ok) break;
      switch (s.u2) {
        case kFsconfigSetString:
          ok = r.OptStr("value", s.str3) && (s.str3 || r.Fail("\"value\" is required"));
          break;
        case kFsconfigSetBinary: {
          Napi::Value b = r.Get("value");
          if (!b.IsBuffer()) return r.Fail("\"value\" must be a Buffer");
          auto buf = b.As<Napi::Buffer<char>>();
          s.bin.assign(buf.Data(), buf.Data() + buf.Length());
          break;
        }
        case kFsconfigSetFd:
          ok = r.Fd("fd", s.fd2, false);
          break;
        case kFsconfigSetPath:
        case kFsconfigSetPathEmpty:
          ok = r.Fd("dirfd", s.fd2, true) && r.OptStr("path", s.str3) && (s.str3 || r.Fail("\"path\" is required"));
          break;
        case kFsconfigSetFlag:
        case kFsconfigCmdCreate:
        case kFsconfigCmdCreateExcl:
        case kFsconfigCmdReconfigure:
          break;
        default:
          return r.Fail("unknown fsconfig cmd " + std::to_string(s.u2));
      }
      break;
    case Kind::kFsmount:
      ok = r.Fd("fs", s.fd1, false) && r.Uint("flags", s.u1) && r.Uint("attrs", s.u3);
      break;
    case Kind::kMoveMount:
      ok = r.Fd("from", s.fd1, true) && r.Str("fromPath", s.str1) && r.Fd("to", s.fd2, true) &&
           r.OptStr("toPath", s.str2) && r.Uint("flags", s.u1);
      break;
    case Kind::kOpenTree:
      ok = r.Fd("dirfd", s.fd1, true) && r.Str("path", s.str1) && r.Uint("flags", s.u1);
      break;
    case Kind::kMountSetattr:
      ok = r.Fd("dirfd", s.fd1, true) && r.Str("path", s.str1) && r.Uint("flags", s.u1) &&
           r.U64("attrSet", s.attr_set) && r.U64("attrClr", s.attr_clr) && r.U64("propagation", s.propagation);
      if (ok && r.Has("userns")) {
        s.has_userns = true;
        ok = r.Fd("userns", s.fd3, false);
      }
      break;
    case Kind::kOpen:
      ok = r.Fd("dirfd", s.fd1, true) && r.Str("path", s.str1) && r.Uint("flags", s.u1) && r.Uint("mode", s.u3);
      break;
    case Kind::kMount:
      ok = r.OptStr("source", s.str2) && r.Str("target", s.str1) && r.OptStr("fstype", s.str3) &&
           r.Uint("flags", s.u1) && r.OptStr("data", s.str4);
      if (ok && r.Has("cwd")) {
        s.in_dir = true;
        ok = r.Fd("cwd", s.fd1, false);
      }
      break;
    case Kind::kUmount2:
      ok = r.Str("target", s.str1) && r.Uint("flags", s.u1);
      break;
    case Kind::kStatx:
      ok = r.Fd("dirfd", s.fd1, true) && r.Str("path", s.str1) && r.Uint("flags", s.u1) && r.Uint("mask", s.u3);
      break;
    case Kind::kClose:
      ok = r.Fd("fd", s.fd1, false) && (s.fd1.step >= 0 || r.Fail("\"fd\" must be the index of an earlier step"));
      break;
    case Kind::kMknod:
      ok = r.Fd("dirfd", s.fd1, true) && r.Str("path", s.str1) && r.Uint("mode", s.u1, true) &&
           r.Uint("major", s.u2) && r.Uint("minor", s.u3);
      break;
    case Kind::kSetxattr: {
      Napi::Value b = r.Get("value");
      if (!b.IsBuffer()) return r.Fail("\"value\" must be a Buffer");
      auto buf = b.As<Napi::Buffer<char>>();
      s.bin.assign(buf.Data(), buf.Data() + buf.Length());
      ok = r.Str("path", s.str1) && r.OptStr("name", s.str2) && (s.str2 || r.Fail("\"name\" is required")) &&
           r.Uint("flags", s.u1);
      break;
    }
    case Kind::kRemovexattr:
      ok = r.Str("path", s.str1) && r.OptStr("name", s.str2) && (s.str2 || r.Fail("\"name\" is required"));
      break;
  }
  if (ok && (s.kind->kind == Kind::kMknod || s.kind->kind == Kind::kSetxattr || s.kind->kind == Kind::kRemovexattr)) {
    unsigned ok_errno = 0;
    ok = r.Uint("okErrno", ok_errno);
    s.ok_errno = static_cast<int>(ok_errno);
    s.follow = r.Flag("follow");
  }
  if (!ok) return false;
  if (s.kind->kind == Kind::kClose) parsed.closed[static_cast<size_t>(s.fd1.step)] = true;
  parsed.steps.push_back(std::move(s));
  parsed.closed.push_back(false);
  return true;
}

struct RunStepsOp {
  static constexpr const char* kName = "runSteps";
  std::vector<Step> steps;
  std::vector<int> fds;            // fd made by each step, -1 when none or closed
  std::vector<struct statx> stats;  // statx results by step
  std::vector<std::string> messages;
  SysError err;

  bool Parse(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsArray()) {
      ThrowTypeError(env, "The \"steps\" argument must be an array");
      return false;
    }
    Napi::Array arr = info[0].As<Napi::Array>();
    uint32_t n = arr.Length();
    steps.reserve(n);
    std::vector<bool> closed;
    closed.reserve(n);
    Parsed parsed{steps, closed};
    KeyCache keys(env);
    for (uint32_t i = 0; i < n; i++) {
      if (!ParseStep(env, arr.Get(i), i, parsed, keys)) return false;
    }
    return true;
  }

  int Resolve(const FdRef& ref) const { return ref.step >= 0 ? fds[ref.step] : ref.external.fd; }
  bool IsFsContext(int step) const {
    Kind k = steps[step].kind->kind;
    return k == Kind::kFsopen || k == Kind::kFspick;
  }
  void CloseStepFd(size_t i) {
    if (fds[i] < 0) return;
    if (IsFsContext(static_cast<int>(i))) {
      for (std::string& m : DrainFsLog(fds[i])) messages.push_back(std::move(m));
    }
    SysClose(fds[i]);
    fds[i] = -1;
  }

  int RunStep(size_t i) {
    Step& s = steps[i];
    auto opt = [](const std::optional<std::string>& o) { return o ? o->c_str() : nullptr; };
    int rc = 0;
    switch (s.kind->kind) {
      case Kind::kFsopen:
        rc = CallFsopen(s.str1, s.u1, err);
        break;
      case Kind::kFspick:
        rc = CallFspick(Resolve(s.fd1), s.str1, s.u1, err);
        break;
      case Kind::kFsconfig: {
        const void* value = nullptr;
        int aux = 0;
        if (s.u2 == kFsconfigSetString || s.u2 == kFsconfigSetPath || s.u2 == kFsconfigSetPathEmpty) value = opt(s.str3);
        if (s.u2 == kFsconfigSetPath || s.u2 == kFsconfigSetPathEmpty || s.u2 == kFsconfigSetFd) aux = Resolve(s.fd2);
        if (s.u2 == kFsconfigSetBinary) {
          value = s.bin.data();
          aux = static_cast<int>(s.bin.size());
        }
        rc = CallFsconfig(Resolve(s.fd1), s.u2, s.str2 ? &*s.str2 : nullptr, value, aux, s.str3 ? &*s.str3 : nullptr, err);
        break;
      }
      case Kind::kFsmount:
        rc = CallFsmount(Resolve(s.fd1), s.u1, s.u3, err);
        break;
      case Kind::kMoveMount:
        rc = CallMoveMount(Resolve(s.fd1), s.str1, Resolve(s.fd2), s.str2 ? *s.str2 : std::string(), s.u1, err);
        break;
      case Kind::kOpenTree:
        rc = CallOpenTree(Resolve(s.fd1), s.str1, s.u1, err);
        break;
      case Kind::kMountSetattr: {
        int userns = s.has_userns ? Resolve(s.fd3) : 0;
        MountAttrV0 attr{s.attr_set, s.attr_clr, s.propagation, static_cast<uint64_t>(userns)};
        rc = CallMountSetattr(Resolve(s.fd1), s.str1, s.u1, attr, err);
        break;
      }
      case Kind::kOpen:
        rc = CallOpen(Resolve(s.fd1), s.str1, s.u1, s.u3, err);
        break;
      case Kind::kMount: {
        LegacyMountArgs a{s.str2, s.str1, s.str3, s.u1, s.str4};
        rc = s.in_dir ? LegacyMountInDir(Resolve(s.fd1), a, err) : LegacyMount(a, err);
        break;
      }
      case Kind::kUmount2:
        rc = CallUmount2(s.str1, s.u1, err);
        break;
      case Kind::kStatx:
        rc = CallStatx(Resolve(s.fd1), s.str1, s.u1, s.u3, &stats[i], err);
        break;
      case Kind::kClose:
        CloseStepFd(static_cast<size_t>(s.fd1.step));
        break;
      case Kind::kMknod:
        rc = CallMknod(Resolve(s.fd1), s.str1, s.u1, s.u2, s.u3, err);
        break;
      case Kind::kSetxattr:
        rc = CallSetxattr(s.str1, *s.str2, s.bin.data(), s.bin.size(), s.u1, s.follow, err);
        break;
      case Kind::kRemovexattr:
        rc = CallRemovexattr(s.str1, *s.str2, s.follow, err);
        break;
    }
    // A step may accept one errno as success (ENODATA when clearing an absent xattr).
    if (rc < 0 && s.ok_errno != 0 && rc == -s.ok_errno) {
      rc = 0;
      err = SysError();
    }
    if (rc >= 0 && s.kind->makes_fd) fds[i] = rc;
    return rc;
  }

  void Run() {
    fds.assign(steps.size(), -1);
    // A struct statx is 256 bytes: 2.5 MB for a batch of 10,000 markers that has no statx.
    bool any_statx = false;
    for (const Step& s : steps) any_statx = any_statx || s.kind->kind == Kind::kStatx;
    stats.assign(any_statx ? steps.size() : 0, {});
    for (size_t i = 0; i < steps.size(); i++) {
      if (RunStep(i) < 0) {
        err.step = static_cast<int>(i);
        break;
      }
    }
    for (size_t i = 0; i < steps.size(); i++) {
      if (err || !steps[i].keep) CloseStepFd(i);
    }
    // On failure the error carries every message the kernel logged in the batch.
    bool any_fs = false;
    for (size_t i = 0; i < steps.size(); i++) any_fs = any_fs || IsFsContext(static_cast<int>(i));
    if (err && any_fs) {
      if (!err.kernel_messages) err.kernel_messages.emplace();
      for (std::string& m : messages) err.kernel_messages->push_back(std::move(m));
      messages.clear();
    }
  }

  Napi::Value Result(Napi::Env env) {
    Napi::Array results = Napi::Array::New(env, steps.size());
    for (size_t i = 0; i < steps.size(); i++) {
      if (fds[i] >= 0) {
        Napi::Value h = FdHandle::Wrap(env, fds[i], steps[i].kind->handle_kind);
        fds[i] = -1;
        if (env.IsExceptionPending()) return env.Undefined();
        results.Set(static_cast<uint32_t>(i), h);
      } else if (steps[i].kind->kind == Kind::kStatx) {
        results.Set(static_cast<uint32_t>(i), StatxObject(env, stats[i]));
      }
    }
    Napi::Array msgs = Napi::Array::New(env, messages.size());
    for (size_t i = 0; i < messages.size(); i++) msgs.Set(static_cast<uint32_t>(i), messages[i]);
    Napi::Object out = Napi::Object::New(env);
    out.Set("results", results);
    out.Set("kernelMessages", msgs);
    return out;
  }

  RunStepsOp() = default;
  RunStepsOp(RunStepsOp&&) = default;
  RunStepsOp& operator=(RunStepsOp&&) = default;
  // A result never delivered (environment gone) must not leak the kept fds.
  ~RunStepsOp() {
    for (int& fd : fds) {
      if (fd >= 0) SysClose(fd);
      fd = -1;
    }
  }
};

const KindName* FindKind(Kind kind) {
  for (const KindName& k : kKinds) {
    if (k.kind == kind) return &k;
  }
  return nullptr;
}

// runMarkers(ops, paths, names, values): layer markers in bulk (applyMarkers), run as the
// mknod / lsetxattr / lremovexattr steps of runSteps, so they run and fail exactly as those,
// but without a JS object read per marker. ops holds three numbers per marker: the kind
// (0 whiteout: mknod S_IFCHR 0/0; 1 lsetxattr; 2 lremovexattr, ENODATA counting as done), an
// index into names (xattr names) and one into values (Buffers). TypeScript checks the input.
struct RunMarkersOp : RunStepsOp {
  static constexpr const char* kName = "runMarkers";

  bool Parse(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
        !info[1].IsArray() || !info[2].IsArray() || !info[3].IsArray()) {
      ThrowTypeError(env, "runMarkers(ops: Uint32Array, paths: string[], names: string[], values: Buffer[])");
      return false;
    }
    Napi::Uint32Array ops = info[0].As<Napi::Uint32Array>();
    Napi::Array paths = info[1].As<Napi::Array>();
    Napi::Array name_values = info[2].As<Napi::Array>();
    Napi::Array value_values = info[3].As<Napi::Array>();
    uint32_t n = paths.Length();
    if (ops.ElementLength() != 3 * static_cast<size_t>(n)) {
      ThrowRangeError(env, "runMarkers: ops must hold three numbers per path");
      return false;
    }
    std::vector<std::string> names(name_values.Length());
    for (uint32_t i = 0; i < names.size(); i++) {
      Napi::Value v = name_values.Get(i);
      if (!v.IsString()) return Fail(env, "names", i, "must be a string");
      names[i] = v.As<Napi::String>().Utf8Value();
    }
    std::vector<std::vector<char>> values(value_values.Length());
    for (uint32_t i = 0; i < values.size(); i++) {
      Napi::Value v = value_values.Get(i);
      if (!v.IsBuffer()) return Fail(env, "values", i, "must be a Buffer");
      auto b = v.As<Napi::Buffer<char>>();
      values[i].assign(b.Data(), b.Data() + b.Length());
    }
    const KindName* mknod = FindKind(Kind::kMknod);
    const KindName* set = FindKind(Kind::kSetxattr);
    const KindName* remove = FindKind(Kind::kRemovexattr);
    steps.resize(n);
    for (uint32_t i = 0; i < n; i++) {
      Step& s = steps[i];
      uint32_t kind = ops[3 * i], name = ops[3 * i + 1], value = ops[3 * i + 2];
      Napi::Value path = paths.Get(i);
      if (!path.IsString()) return Fail(env, "paths", i, "must be a string");
      s.str1 = path.As<Napi::String>().Utf8Value();
      if (s.str1.find('\0') != std::string::npos) return Fail(env, "paths", i, "must not contain null bytes");
      s.fd1.external.fd = AT_FDCWD;
      if (kind == 0) {
        s.kind = mknod;
        s.u1 = S_IFCHR;
        continue;
      }
      if (kind > 2 || name >= names.size() || (kind == 1 && value >= values.size())) {
        return Fail(env, "ops", i, "must be a kind (0, 1, 2) and indices into names and values");
      }
      s.str2 = names[name];
      if (kind == 1) {
        s.kind = set;
        s.bin = values[value];
      } else {
        s.kind = remove;
        s.ok_errno = ENODATA;
      }
    }
    return true;
  }

  // applyMarkers() resolves with nothing: no results array of one hole per marker.
  Napi::Value Result(Napi::Env env) { return env.Undefined(); }

 private:
  static bool Fail(Napi::Env env, const char* what, uint32_t i, const char* problem) {
    ThrowTypeError(env, std::string("runMarkers: ") + what + "[" + std::to_string(i) + "] " + problem);
    return false;
  }
};

}  // namespace

void InitBatch(Napi::Env env, Napi::Object exports) {
  ExportOp<RunStepsOp>(env, exports);
  ExportOp<RunMarkersOp>(env, exports);
}

}  // namespace ovl
