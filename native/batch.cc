// runSteps: the addon's one entry point for syscalls. Every raw function of src/sys is one
// step; a mount is a batch of them, so a 500-layer overlay costs one thread-pool hop, not 500.
//
// TypeScript packs the steps (src/sys/steps.ts) by the table in step_schema.h: per step
// kNumsPerStep numbers (opcode, bits, okErrno, fd slots, number slots), kStrSlots strings and
// one byte buffer. An fd slot holds -1 (none: AT_FDCWD), the index of an earlier step that
// opened an fd, or -2-k for the k-th caller handle or fd number. On failure every fd the batch
// opened is closed and the error names the step; on success the fds of steps marked `keep` come
// back as handles and every other one is closed. The fs-context log of each fs fd is drained
// before it is closed and returned as messages.
#include <napi.h>
#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "args.h"
#include "calls.h"
#include "errors.h"
#include "fd.h"
#include "results.h"
#include "step_schema.h"
#include "sys.h"
#include "worker.h"

namespace ovl {

namespace {

using schema::FdKind;
using schema::NumKind;
using schema::Op;
using schema::StrKind;

constexpr size_t kStatxFields = 13;

struct FdRef {
  int step = -1;      // an earlier step's fd
  int external = -1;  // a caller's handle or fd number
};

struct Step {
  Op op = Op::kOpen;
  const schema::OpInfo* info = nullptr;
  uint32_t bits = 0;
  int ok_errno = 0;
  FdRef fd[schema::kFdSlots];
  double num[schema::kNumSlots] = {};
  std::optional<std::string> str[schema::kStrSlots];
  std::vector<char> bytes;  // the bytes field; a getxattr value or listxattr names after the call

  // What the call gave.
  bool absent = false;  // failed with okErrno: no result
  bool failed = false;  // failed with recordError: `err` is its result
  SysError err;
  int64_t number = 0;
  std::string text;
  std::vector<std::string> messages;
  std::vector<uint64_t> ids;  // listmount's
  StatxBuf st {};
  ScanDirResult scan;

  bool Keep() const { return (bits & schema::kKeep) != 0; }
  bool Record() const { return (bits & schema::kRecordError) != 0; }
  const std::string& Str(int slot) const { return *str[slot]; }
  unsigned U32(int slot) const { return static_cast<unsigned>(num[slot]); }
  uint64_t U64(int slot) const { return static_cast<uint64_t>(num[slot]); }
  bool Bool(int slot) const { return num[slot] != 0; }
};

bool IsFsContext(const Step& s) { return s.info->makes != nullptr && std::strcmp(s.info->makes, "fs") == 0; }

struct RunStepsOp {
  static constexpr const char* kName = "runSteps";
  std::vector<Step> steps;
  std::vector<FdArg> external;
  std::vector<int> fds;  // fd made by each step, -1 when none or closed
  std::vector<std::string> messages;
  // Where statx results go: the caller's Float64Array. A sync call writes through the pointer
  // while the array is on its stack; an async one holds a reference until its Result.
  Napi::Reference<Napi::Float64Array> statx_ref;
  double* statx_data = nullptr;
  size_t statx_len = 0;
  bool single = false;
  bool async = false;  // set by RunAsync (worker.h)
  SysError err;

  bool Fail(Napi::Env env, size_t i, const std::string& problem) {
    ThrowTypeError(env, single ? problem : "steps[" + std::to_string(i) + "]: " + problem);
    return false;
  }
  static std::string Quote(const char* name) { return std::string("\"") + name + "\""; }

  bool ParseFd(Napi::Env env, size_t i, Step& s, int slot, double v) {
    const schema::Field& f = s.info->fd[slot];
    auto kind = static_cast<FdKind>(f.kind);
    FdRef& ref = s.fd[slot];
    if (kind == FdKind::kNone || v == -1) {
      if (kind == FdKind::kFd || kind == FdKind::kFs || kind == FdKind::kStep) {
        return Fail(env, i, Quote(f.name) + " is required");
      }
      return true;
    }
    if (v >= 0) {
      // Range first: converting a negative, NaN or huge double to size_t is undefined behaviour.
      bool in_range = v < static_cast<double>(i) && std::floor(v) == v;
      size_t k = in_range ? static_cast<size_t>(v) : 0;
      if (single || !in_range || steps[k].info->makes == nullptr) {
        return Fail(env, i, Quote(f.name) + " must be the index of an earlier step that opens an fd");
      }
      if (fds[k] == -2) return Fail(env, i, Quote(f.name) + " refers to a step whose fd an earlier step closed");
      if (kind == FdKind::kFs && !IsFsContext(steps[k])) {
        return Fail(env, i, Quote(f.name) + " must be an fs context (an fsopen or fspick step)");
      }
      ref.step = static_cast<int>(k);
      return true;
    }
    double k = -2 - v;
    if (kind == FdKind::kStep || !(k >= 0 && k < static_cast<double>(external.size()) && std::floor(k) == k)) {
      return Fail(env, i, Quote(f.name) + " must be the index of an earlier step that opens an fd");
    }
    ref.external = static_cast<int>(k);
    // A failed fsconfig reads the context's log from its fd: read(2) on another fd eats its data.
    if (kind == FdKind::kFs && external[ref.external].kind != "fs") {
      return Fail(env, i, Quote(f.name) + " must be an fd handle of kind 'fs'");
    }
    return true;
  }

  static bool NumOk(NumKind kind, double v) {
    if (!std::isfinite(v) || std::floor(v) != v) return kind == NumKind::kNone && v == 0;
    switch (kind) {
      case NumKind::kNone:
        return v == 0;
      case NumKind::kU32:
        return v >= 0 && v <= 4294967295.0;
      case NumKind::kU64:
        return v >= 0 && v <= 9007199254740991.0;
      case NumKind::kInt:
        return v >= -9007199254740991.0 && v <= 9007199254740991.0;
      case NumKind::kBool:
        return v == 0 || v == 1;
    }
    return false;
  }

  // A string in one call when it fits a buffer on the stack (Utf8Value() takes two and a copy).
  bool ParseStr(Napi::Env env, size_t i, Step& s, int slot, Napi::Value v) {
    const schema::Field& f = s.info->str[slot];
    auto kind = static_cast<StrKind>(f.kind);
    napi_valuetype type = v.Type();
    if (type == napi_undefined || type == napi_null) {
      if (kind == StrKind::kStr) return Fail(env, i, Quote(f.name) + " must be a string");
      return true;
    }
    if (v.IsBuffer()) {
      // Bytes, for a name that is not UTF-8.
      auto b = v.As<Napi::Buffer<char>>();
      std::string out(b.Data(), b.Length());
      if (out.find('\0') != std::string::npos) return Fail(env, i, Quote(f.name) + " must not contain null bytes");
      s.str[slot] = std::move(out);
      return true;
    }
    if (type != napi_string) return Fail(env, i, Quote(f.name) + " must be a string");
    char buf[1024];
    size_t len = 0;
    if (napi_get_value_string_utf8(env, v, buf, sizeof buf, &len) != napi_ok) return false;
    std::string out;
    // A character that did not fit is up to 4 bytes: shorter than that from the end, all of it fit.
    if (len + 4 < sizeof buf - 1) out.assign(buf, len);
    else out = v.As<Napi::String>().Utf8Value();
    if (out.find('\0') != std::string::npos) return Fail(env, i, Quote(f.name) + " must not contain null bytes");
    s.str[slot] = std::move(out);
    return true;
  }

  bool Parse(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto is_f64 = [](Napi::Value v) {
      return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array;
    };
    if (!is_f64(info[0]) || !info[1].IsNumber() || !info[2].IsArray() || !(info[3].IsArray() || info[3].IsUndefined()) ||
        !info[4].IsArray() || !is_f64(info[5]) || !info[6].IsBoolean()) {
      ThrowTypeError(env, "runSteps(nums: Float64Array, count: number, strs: Array, bufs: Array | undefined, handles: Array, statx: Float64Array, single: boolean)");
      return false;
    }
    Napi::Float64Array nums = info[0].As<Napi::Float64Array>();
    double count = info[1].As<Napi::Number>().DoubleValue();
    Napi::Array strs = info[2].As<Napi::Array>();
    Napi::Array handles = info[4].As<Napi::Array>();
    single = info[6].As<Napi::Boolean>().Value();
    // The arrays may be longer than the steps (TypeScript reuses them): `count` says how many.
    if (!(count >= 0 && std::floor(count) == count && count * schema::kNumsPerStep <= nums.ElementLength() &&
          count * schema::kStrSlots <= strs.Length()) || (single && count != 1)) {
      ThrowRangeError(env, "runSteps: the packed steps do not match the step schema");
      return false;
    }
    size_t n = static_cast<size_t>(count);
    Napi::Float64Array statx = info[5].As<Napi::Float64Array>();
    if (async) statx_ref = Napi::Persistent(statx);
    statx_data = statx.Data();
    statx_len = statx.ElementLength();
    external.resize(handles.Length());
    for (uint32_t k = 0; k < handles.Length(); k++) {
      if (!FdFromValue(env, handles.Get(k), "handles[" + std::to_string(k) + "]", external[k], async)) return false;
    }
    const double* num = nums.Data();
    steps.resize(n);
    fds.assign(n, -1);
    for (size_t i = 0; i < n; i++) {
      Step& s = steps[i];
      const double* row = num + i * schema::kNumsPerStep;
      double code = row[0];
      if (!(code >= 0 && code < schema::kOpCount && std::floor(code) == code)) return Fail(env, i, "unknown op");
      s.op = static_cast<Op>(static_cast<uint32_t>(code));
      s.info = &schema::kOps[static_cast<uint32_t>(code)];
      if (!NumOk(NumKind::kU32, row[1]) || !(row[2] >= 0 && row[2] <= 4095 && std::floor(row[2]) == row[2])) {
        return Fail(env, i, "bad step flags or okErrno");
      }
      s.bits = static_cast<uint32_t>(row[1]);
      s.ok_errno = static_cast<int>(row[2]);
      for (int k = 0; k < schema::kFdSlots; k++) {
        if (!ParseFd(env, i, s, k, row[schema::kHeaderNums + k])) return false;
      }
      for (int k = 0; k < schema::kNumSlots; k++) {
        double v = row[schema::kHeaderNums + schema::kFdSlots + k];
        if (!NumOk(static_cast<NumKind>(s.info->num[k].kind), v)) {
          return Fail(env, i, Quote(s.info->num[k].name ? s.info->num[k].name : "(unused)") + " is out of range");
        }
        s.num[k] = v;
      }
      for (int k = 0; k < schema::kStrSlots; k++) {
        if (s.info->str[k].name == nullptr) continue;
        if (!ParseStr(env, i, s, k, strs.Get(static_cast<uint32_t>(i * schema::kStrSlots + k)))) return false;
      }
      if (s.info->buf != nullptr) {
        Napi::Value b = info[3].IsArray() ? info[3].As<Napi::Array>().Get(static_cast<uint32_t>(i)) : env.Undefined();
        if (!b.IsBuffer()) return Fail(env, i, Quote(s.info->buf) + " must be a Buffer");
        auto buf = b.As<Napi::Buffer<char>>();
        s.bytes.assign(buf.Data(), buf.Data() + buf.Length());
      }
      // A closed step's fd may not be used by a later step (-2 marks it while parsing).
      if (s.op == Op::kClose) fds[static_cast<size_t>(s.fd[schema::Close::kFd].step)] = -2;
    }
    fds.assign(n, -1);
    // Each statx step writes its fields at its index (a single call at 0).
    for (size_t i = 0; i < n; i++) {
      if (steps[i].op == Op::kStatx && statx_len < ((single ? 0 : i) + 1) * kStatxFields) {
        ThrowRangeError(env, "runSteps: the statx buffer is too small");
        return false;
      }
    }
    return true;
  }

  int Fd(const Step& s, int slot) const {
    const FdRef& r = s.fd[slot];
    if (r.step >= 0) return fds[r.step];
    if (r.external >= 0) return external[r.external].fd;
    return AT_FDCWD;
  }
  bool HasFd(const Step& s, int slot) const { return s.fd[slot].step >= 0 || s.fd[slot].external >= 0; }

  void CloseStepFd(size_t i) {
    if (fds[i] < 0) return;
    if (IsFsContext(steps[i])) {
      for (std::string& m : DrainFsLog(fds[i])) messages.push_back(std::move(m));
    }
    SysClose(fds[i]);
    fds[i] = -1;
  }

  int RunStep(size_t i, SysError& e) {
    using namespace schema;
    Step& s = steps[i];
    switch (s.op) {
      case Op::kOpen:
        return CallOpen(Fd(s, Open::kDirfd), s.Str(Open::kPath), s.U32(Open::kFlags), s.U32(Open::kMode), e);
      case Op::kLseek:
        return CallLseek(Fd(s, Lseek::kFd), static_cast<int64_t>(s.num[Lseek::kOffset]), s.U32(Lseek::kWhence), s.number, e);
      case Op::kClose:
        CloseStepFd(static_cast<size_t>(s.fd[Close::kFd].step));
        return 0;
      case Op::kReadFile:
        return CallReadFile(s.Str(ReadFile::kPath), s.bytes, e);
      case Op::kOpenat2:
        return CallOpenat2(Fd(s, Openat2::kDirfd), s.Str(Openat2::kPath), s.U32(Openat2::kFlags), s.U32(Openat2::kMode),
                           s.U64(Openat2::kResolve), e);
      case Op::kFlock:
        return CallFlock(Fd(s, Flock::kFd), s.U32(Flock::kOperation), e);
      case Op::kExpectFile:
        return CallExpectFile(Fd(s, ExpectFile::kFd), s.U32(ExpectFile::kDevMajor), s.U32(ExpectFile::kDevMinor),
                              s.U64(ExpectFile::kIno), e);
      case Op::kRefuseFsType:
        return CallRefuseFsType(Fd(s, RefuseFsType::kFd), s.U64(RefuseFsType::kFsType), e);
      case Op::kFsopen:
        return CallFsopen(s.Str(Fsopen::kFsname), s.U32(Fsopen::kFlags), e);
      case Op::kFspick:
        return CallFspick(Fd(s, Fspick::kDirfd), s.Str(Fspick::kPath), s.U32(Fspick::kFlags), e);
      case Op::kFsconfigSetFlag:
        return CallFsconfig(Fd(s, FsconfigSetFlag::kFs), kFsconfigSetFlag, &s.Str(FsconfigSetFlag::kKey), nullptr, 0,
                            nullptr, e);
      case Op::kFsconfigSetString: {
        const std::string& value = s.Str(FsconfigSetString::kValue);
        return CallFsconfig(Fd(s, FsconfigSetString::kFs), kFsconfigSetString, &s.Str(FsconfigSetString::kKey),
                            value.c_str(), 0, &value, e);
      }
      case Op::kFsconfigSetBinary:
        return CallFsconfig(Fd(s, FsconfigSetBinary::kFs), kFsconfigSetBinary, &s.Str(FsconfigSetBinary::kKey),
                            s.bytes.data(), static_cast<int>(s.bytes.size()), nullptr, e);
      case Op::kFsconfigSetPath: {
        const std::string& path = s.Str(FsconfigSetPath::kPath);
        unsigned cmd = s.Bool(FsconfigSetPath::kEmptyPath) ? kFsconfigSetPathEmpty : kFsconfigSetPath;
        return CallFsconfig(Fd(s, FsconfigSetPath::kFs), cmd, &s.Str(FsconfigSetPath::kKey), path.c_str(),
                            Fd(s, FsconfigSetPath::kDirfd), &path, e);
      }
      case Op::kFsconfigSetFd:
        return CallFsconfig(Fd(s, FsconfigSetFd::kFs), kFsconfigSetFd, &s.Str(FsconfigSetFd::kKey), nullptr,
                            Fd(s, FsconfigSetFd::kFd), nullptr, e);
      case Op::kFsconfigCreate:
        return CallFsconfig(Fd(s, FsconfigCreate::kFs), kFsconfigCmdCreate, nullptr, nullptr, 0, nullptr, e);
      case Op::kFsconfigCreateExcl:
        return CallFsconfig(Fd(s, FsconfigCreateExcl::kFs), kFsconfigCmdCreateExcl, nullptr, nullptr, 0, nullptr, e);
      case Op::kFsconfigReconfigure:
        return CallFsconfig(Fd(s, FsconfigReconfigure::kFs), kFsconfigCmdReconfigure, nullptr, nullptr, 0, nullptr, e);
      case Op::kFsReadLog:
        s.messages = DrainFsLog(Fd(s, FsReadLog::kFs));
        return 0;
      case Op::kFsmount:
        return CallFsmount(Fd(s, Fsmount::kFs), s.U32(Fsmount::kFlags), s.U32(Fsmount::kAttrs), e);
      case Op::kMoveMount:
        return CallMoveMount(Fd(s, MoveMount::kFrom), s.Str(MoveMount::kFromPath), Fd(s, MoveMount::kTo),
                             s.Str(MoveMount::kToPath), s.U32(MoveMount::kFlags), e);
      case Op::kOpenTree:
        return CallOpenTree(Fd(s, OpenTree::kDirfd), s.Str(OpenTree::kPath), s.U32(OpenTree::kFlags), e);
      case Op::kMountSetattr: {
        int userns = HasFd(s, MountSetattr::kUserns) ? Fd(s, MountSetattr::kUserns) : 0;
        MountAttrV0 attr{s.U64(MountSetattr::kAttrSet), s.U64(MountSetattr::kAttrClr), s.U64(MountSetattr::kPropagation),
                         static_cast<uint64_t>(userns)};
        return CallMountSetattr(Fd(s, MountSetattr::kDirfd), s.Str(MountSetattr::kPath), s.U32(MountSetattr::kFlags),
                                attr, e);
      }
      case Op::kMount: {
        LegacyMountArgs a{s.str[Mount::kSource], s.Str(Mount::kTarget), s.str[Mount::kFstype], s.U32(Mount::kFlags),
                          s.str[Mount::kData]};
        return CallMount(a, HasFd(s, Mount::kCwd) ? Fd(s, Mount::kCwd) : -1, e);
      }
      case Op::kUmount2:
        return CallUmount2(s.Str(Umount2::kTarget), s.U32(Umount2::kFlags), e);
      case Op::kStatmount:
        return CallStatmount(s.U64(Statmount::kMountId), s.U64(Statmount::kMask), s.bytes, e);
      case Op::kListmount:
        return CallListmount(s.U64(Listmount::kMountId), s.U64(Listmount::kSince), s.ids, e);
      case Op::kUserns:
        return CallUserns(s.Str(Userns::kUidMap), s.Str(Userns::kGidMap), e);
      case Op::kExpectMount:
        return CallExpectMount(s.Str(ExpectMount::kPath), s.U64(ExpectMount::kMountId), s.Bool(ExpectMount::kUnique), e);
      case Op::kKernelLog:
        return CallKernelLog(Fd(s, KernelLog::kFd), s.U64(KernelLog::kSince), s.messages, e);
      case Op::kStatx:
        return CallStatx(Fd(s, Statx::kDirfd), s.Str(Statx::kPath), s.U32(Statx::kFlags), s.U32(Statx::kMask), &s.st, e);
      case Op::kMknod:
        return CallMknod(Fd(s, Mknod::kDirfd), s.Str(Mknod::kPath), s.U32(Mknod::kMode), s.U32(Mknod::kMajor),
                         s.U32(Mknod::kMinor), e);
      case Op::kRealpath:
        return CallRealpath(s.Str(Realpath::kPath), s.text, e);
      case Op::kStatfs:
        return CallStatfs(s.Str(Statfs::kPath), s.number, e);
      case Op::kReaddir:
        return CallReaddir(s.Str(Readdir::kPath), s.messages, s.bytes, e);
      case Op::kScanDir: {
        static const std::string kNoXattrs;
        const std::string& xattrs = s.str[ScanDir::kXattrs] ? *s.str[ScanDir::kXattrs] : kNoXattrs;
        return CallScanDir(s.Str(ScanDir::kPath), s.U32(ScanDir::kFlags), xattrs, s.scan, e);
      }
      case Op::kGetxattr:
        return CallGetxattr({&s.Str(Getxattr::kPath), -1, s.Bool(Getxattr::kFollow)}, s.Str(Getxattr::kName), s.bytes, e);
      case Op::kSetxattr: {
        std::vector<char> value = std::move(s.bytes);
        return CallSetxattr({&s.Str(Setxattr::kPath), -1, s.Bool(Setxattr::kFollow)}, s.Str(Setxattr::kName), value.data(),
                            value.size(), s.U32(Setxattr::kFlags), e);
      }
      case Op::kListxattr:
        return CallListxattr({&s.Str(Listxattr::kPath), -1, s.Bool(Listxattr::kFollow)}, s.bytes, e);
      case Op::kRemovexattr:
        return CallRemovexattr({&s.Str(Removexattr::kPath), -1, s.Bool(Removexattr::kFollow)}, s.Str(Removexattr::kName), e);
      case Op::kFgetxattr:
        return CallGetxattr({nullptr, Fd(s, Fgetxattr::kFd), false}, s.Str(Fgetxattr::kName), s.bytes, e);
      case Op::kFsetxattr: {
        std::vector<char> value = std::move(s.bytes);
        return CallSetxattr({nullptr, Fd(s, Fsetxattr::kFd), false}, s.Str(Fsetxattr::kName), value.data(), value.size(),
                            s.U32(Fsetxattr::kFlags), e);
      }
      case Op::kFlistxattr:
        return CallListxattr({nullptr, Fd(s, Flistxattr::kFd), false}, s.bytes, e);
      case Op::kFremovexattr:
        return CallRemovexattr({nullptr, Fd(s, Fremovexattr::kFd), false}, s.Str(Fremovexattr::kName), e);
      case Op::kFsetxattrAt: {
        std::vector<char> value = std::move(s.bytes);
        // A zero-length value still sets the xattr: never pass null for it.
        static const char kEmpty = 0;
        return CallXattrAt(Fd(s, FsetxattrAt::kDirfd), s.Str(FsetxattrAt::kPath), s.U32(FsetxattrAt::kFlags),
                           s.U64(FsetxattrAt::kResolve), s.Str(FsetxattrAt::kName),
                           value.empty() ? &kEmpty : value.data(), value.size(), s.U32(FsetxattrAt::kXattrFlags), e);
      }
      case Op::kFremovexattrAt:
        return CallXattrAt(Fd(s, FremovexattrAt::kDirfd), s.Str(FremovexattrAt::kPath), s.U32(FremovexattrAt::kFlags),
                           s.U64(FremovexattrAt::kResolve), s.Str(FremovexattrAt::kName), nullptr, 0, 0, e);
    }
    return 0;
  }

  void Run() {
    for (size_t i = 0; i < steps.size(); i++) {
      Step& s = steps[i];
      SysError e;
      int rc = RunStep(i, e);
      if (rc >= 0) {
        if (s.info->makes != nullptr) fds[i] = rc;
        continue;
      }
      // A step may accept one errno as success (ENODATA when an xattr is absent).
      if (s.ok_errno != 0 && rc == -s.ok_errno) {
        s.absent = true;
        continue;
      }
      if (s.Record()) {
        s.failed = true;
        s.err = std::move(e);
        continue;
      }
      err = std::move(e);
      if (!single) err.step = static_cast<int>(i);
      break;
    }
    for (size_t i = 0; i < steps.size(); i++) {
      if (err || !(steps[i].Keep() || single)) CloseStepFd(i);
    }
    // On failure the error carries every message the kernel logged in the batch.
    bool any_fs = false;
    for (const Step& s : steps) any_fs = any_fs || IsFsContext(s);
    if (err && any_fs && !messages.empty()) {
      if (!err.kernel_messages) err.kernel_messages.emplace();
      for (std::string& m : messages) err.kernel_messages->push_back(std::move(m));
      messages.clear();
    }
  }

  static Napi::Value Strings(Napi::Env env, const std::vector<std::string>& items) {
    Napi::Array arr = Napi::Array::New(env, items.size());
    for (size_t i = 0; i < items.size(); i++) arr.Set(static_cast<uint32_t>(i), items[i]);
    return arr;
  }

  // The kernel lists xattr names NUL-separated.
  static Napi::Value Names(Napi::Env env, const std::vector<char>& names) {
    Napi::Array out = Napi::Array::New(env);
    uint32_t n = 0;
    size_t start = 0;
    for (size_t i = 0; i < names.size(); i++) {
      if (names[i] != '\0') continue;
      if (i > start) out.Set(n++, Napi::String::New(env, names.data() + start, i - start));
      start = i + 1;
    }
    return out;
  }

  void WriteStatx(size_t at, const StatxBuf& st) {
    bool has_id = (st.stx_mask & (STATX_MNT_ID | STATX_MNT_ID_UNIQUE)) != 0;
    const double fields[kStatxFields] = {
        static_cast<double>(st.stx_mask),      static_cast<double>(st.stx_mode),
        static_cast<double>(st.stx_nlink),     static_cast<double>(st.stx_uid),
        static_cast<double>(st.stx_gid),       static_cast<double>(st.stx_ino),
        static_cast<double>(st.stx_size),      static_cast<double>(st.stx_dev_major),
        static_cast<double>(st.stx_dev_minor), static_cast<double>(st.stx_rdev_major),
        static_cast<double>(st.stx_rdev_minor),
        has_id ? static_cast<double>(st.stx_mnt_id) : NAN,
        has_id ? ((st.stx_mask & STATX_MNT_ID_UNIQUE) != 0 ? 1.0 : 0.0) : NAN,
    };
    // An async call's array may have moved (its buffer cannot be detached, but be exact): ask again.
    double* base = async ? statx_ref.Value().Data() : statx_data;
    std::copy(fields, fields + kStatxFields, base + at * kStatxFields);
  }

  // The step's result: a handle, bytes, names, ... or undefined (statx results go to statx_out).
  Napi::Value StepResult(Napi::Env env, size_t i) {
    Step& s = steps[i];
    if (s.failed) return MakeError(env, s.err);
    if (s.absent) return env.Undefined();
    if (fds[i] >= 0) {
      Napi::Value h = FdHandle::Wrap(env, fds[i], s.info->makes);
      fds[i] = -1;
      return h;
    }
    switch (s.info->result) {
      case schema::Result::kNone:
        return env.Undefined();
      case schema::Result::kStatx:
        WriteStatx(single ? 0 : i, s.st);
        return env.Undefined();
      case schema::Result::kBuffer:
        return Napi::Buffer<char>::Copy(env, s.bytes.data(), s.bytes.size());
      case schema::Result::kNames:
        return Names(env, s.bytes);
      case schema::Result::kMessages:
        return Strings(env, s.messages);
      case schema::Result::kNumber:
        return Napi::Number::New(env, static_cast<double>(s.number));
      case schema::Result::kString:
        return Napi::String::New(env, s.text);
      case schema::Result::kStatmount:
        return StatmountObject(env, s.bytes);
      case schema::Result::kIds: {
        // Mount ids fit a double (the kernel counts them from 2^32 up, one per mount made).
        Napi::Float64Array ids = Napi::Float64Array::New(env, s.ids.size());
        for (size_t k = 0; k < s.ids.size(); k++) ids[k] = static_cast<double>(s.ids[k]);
        return ids;
      }
      case schema::Result::kEntries: {
        // [names, types]: the types one character (DT_*) per name, a string being cheaper to
        // make than a Buffer.
        Napi::Array pair = Napi::Array::New(env, 2);
        pair.Set(0u, Strings(env, s.messages));
        napi_value types;
        napi_create_string_latin1(env, s.bytes.data(), s.bytes.size(), &types);
        pair.Set(1u, Napi::Value(env, types));
        return pair;
      }
      case schema::Result::kScan: {
        // [names, types, marks]: as kEntries, and the xattrs read, flat: index, name, value.
        Napi::Array out = Napi::Array::New(env, 3);
        out.Set(0u, Strings(env, s.scan.names));
        napi_value types;
        napi_create_string_latin1(env, s.scan.types.data(), s.scan.types.size(), &types);
        out.Set(1u, Napi::Value(env, types));
        Napi::Array marks = Napi::Array::New(env, s.scan.marks.size() * 3);
        uint32_t k = 0;
        for (const ScanMark& m : s.scan.marks) {
          marks.Set(k++, Napi::Number::New(env, m.index));
          marks.Set(k++, Napi::String::New(env, m.name));
          marks.Set(k++, Napi::Buffer<char>::Copy(env, m.value.data(), m.value.size()));
        }
        out.Set(2u, marks);
        return out;
      }
    }
    return env.Undefined();
  }

  // A batch's results, one per step; when the kernel logged messages on the batch's fs
  // contexts, they follow as one more element (an array of strings).
  Napi::Value Result(Napi::Env env) {
    if (single) return StepResult(env, 0);
    Napi::Array results = Napi::Array::New(env, steps.size() + (messages.empty() ? 0 : 1));
    for (size_t i = 0; i < steps.size(); i++) {
      Napi::Value r = StepResult(env, i);
      if (env.IsExceptionPending()) return env.Undefined();
      if (!r.IsUndefined()) results.Set(static_cast<uint32_t>(i), r);
    }
    if (!messages.empty()) results.Set(static_cast<uint32_t>(steps.size()), Strings(env, messages));
    return results;
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

}  // namespace

void InitBatch(Napi::Env env, Napi::Object exports) { ExportOp<RunStepsOp>(env, exports); }

}  // namespace ovl
