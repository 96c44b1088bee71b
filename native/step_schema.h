// Generated from src/sys/step-schema.ts by scripts/gen-step-schema.mjs (npm run gen:schema).
// Do not edit: test/unit/step-schema.test.ts fails when this differs from the table.
#pragma once

#include <cstdint>

namespace ovl::schema {

constexpr int kHeaderNums = 3;  // opcode, bits (1 keep, 2 recordError), okErrno
constexpr int kFdSlots = 2;
constexpr int kNumSlots = 4;
constexpr int kStrSlots = 4;
constexpr int kNumsPerStep = 9;
constexpr uint32_t kKeep = 1, kRecordError = 2;

enum class Op : uint32_t {
  kOpen = 0,
  kLseek = 1,
  kClose = 2,
  kOpenat2 = 3,
  kFlock = 4,
  kExpectFile = 5,
  kRefuseFsType = 6,
  kReadFile = 7,
  kFsopen = 8,
  kFspick = 9,
  kFsconfigSetFlag = 10,
  kFsconfigSetString = 11,
  kFsconfigSetBinary = 12,
  kFsconfigSetPath = 13,
  kFsconfigSetFd = 14,
  kFsconfigCreate = 15,
  kFsconfigCreateExcl = 16,
  kFsconfigReconfigure = 17,
  kFsReadLog = 18,
  kFsmount = 19,
  kMoveMount = 20,
  kOpenTree = 21,
  kMountSetattr = 22,
  kMount = 23,
  kUmount2 = 24,
  kStatmount = 25,
  kStatx = 26,
  kMknod = 27,
  kRealpath = 28,
  kReaddir = 29,
  kStatfs = 30,
  kGetxattr = 31,
  kSetxattr = 32,
  kListxattr = 33,
  kRemovexattr = 34,
  kFgetxattr = 35,
  kFsetxattr = 36,
  kFlistxattr = 37,
  kFremovexattr = 38,
  kFsetxattrAt = 39,
  kFremovexattrAt = 40,
  kKernelLog = 41,
  kListmount = 42,
  kExpectMount = 43,
  kUserns = 44,
  kScanDir = 45,
};
constexpr uint32_t kOpCount = 46;

enum class FdKind : uint8_t { kNone, kFd, kFdOrCwd, kFs, kStep };
enum class NumKind : uint8_t { kNone, kU32, kU64, kInt, kBool };
enum class StrKind : uint8_t { kNone, kStr, kOptStr };
enum class Result : uint8_t { kNone, kStatx, kBuffer, kNames, kMessages, kNumber, kString, kStatmount, kEntries, kIds, kScan };

struct Field {
  const char* name;  // nullptr: slot unused
  uint8_t kind;      // FdKind, NumKind or StrKind by slot class
};

struct OpInfo {
  const char* name;
  const char* syscall;
  const char* makes;  // handle kind of the fd it opens, or nullptr
  Result result;
  Field fd[kFdSlots];
  Field num[kNumSlots];
  Field str[kStrSlots];
  const char* buf;  // name of the bytes field, or nullptr
};

inline constexpr OpInfo kOps[kOpCount] = {
    {"open", "open", "file", Result::kNone, {{"dirfd", static_cast<uint8_t>(FdKind::kFdOrCwd)}, {nullptr, 0}}, {{"flags", static_cast<uint8_t>(NumKind::kU32)}, {"mode", static_cast<uint8_t>(NumKind::kU32)}, {nullptr, 0}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"lseek", "lseek", nullptr, Result::kNumber, {{"fd", static_cast<uint8_t>(FdKind::kFd)}, {nullptr, 0}}, {{"offset", static_cast<uint8_t>(NumKind::kInt)}, {"whence", static_cast<uint8_t>(NumKind::kU32)}, {nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"close", "close", nullptr, Result::kNone, {{"fd", static_cast<uint8_t>(FdKind::kStep)}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"openat2", "openat2", "file", Result::kNone, {{"dirfd", static_cast<uint8_t>(FdKind::kFdOrCwd)}, {nullptr, 0}}, {{"flags", static_cast<uint8_t>(NumKind::kU32)}, {"mode", static_cast<uint8_t>(NumKind::kU32)}, {"resolve", static_cast<uint8_t>(NumKind::kU64)}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"flock", "flock", nullptr, Result::kNone, {{"fd", static_cast<uint8_t>(FdKind::kFd)}, {nullptr, 0}}, {{"operation", static_cast<uint8_t>(NumKind::kU32)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"expectFile", "statx", nullptr, Result::kNone, {{"fd", static_cast<uint8_t>(FdKind::kFd)}, {nullptr, 0}}, {{"devMajor", static_cast<uint8_t>(NumKind::kU32)}, {"devMinor", static_cast<uint8_t>(NumKind::kU32)}, {"ino", static_cast<uint8_t>(NumKind::kU64)}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"refuseFsType", "fstatfs", nullptr, Result::kNone, {{"fd", static_cast<uint8_t>(FdKind::kFd)}, {nullptr, 0}}, {{"fsType", static_cast<uint8_t>(NumKind::kU64)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"readFile", "read", nullptr, Result::kBuffer, {{nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"fsopen", "fsopen", "fs", Result::kNone, {{nullptr, 0}, {nullptr, 0}}, {{"flags", static_cast<uint8_t>(NumKind::kU32)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"fsname", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"fspick", "fspick", "fs", Result::kNone, {{"dirfd", static_cast<uint8_t>(FdKind::kFdOrCwd)}, {nullptr, 0}}, {{"flags", static_cast<uint8_t>(NumKind::kU32)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"fsconfigSetFlag", "fsconfig", nullptr, Result::kNone, {{"fs", static_cast<uint8_t>(FdKind::kFs)}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"key", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"fsconfigSetString", "fsconfig", nullptr, Result::kNone, {{"fs", static_cast<uint8_t>(FdKind::kFs)}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"key", static_cast<uint8_t>(StrKind::kStr)}, {"value", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"fsconfigSetBinary", "fsconfig", nullptr, Result::kNone, {{"fs", static_cast<uint8_t>(FdKind::kFs)}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"key", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, "value"},
    {"fsconfigSetPath", "fsconfig", nullptr, Result::kNone, {{"fs", static_cast<uint8_t>(FdKind::kFs)}, {"dirfd", static_cast<uint8_t>(FdKind::kFdOrCwd)}}, {{"emptyPath", static_cast<uint8_t>(NumKind::kBool)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"key", static_cast<uint8_t>(StrKind::kStr)}, {"path", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"fsconfigSetFd", "fsconfig", nullptr, Result::kNone, {{"fs", static_cast<uint8_t>(FdKind::kFs)}, {"fd", static_cast<uint8_t>(FdKind::kFd)}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"key", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"fsconfigCreate", "fsconfig", nullptr, Result::kNone, {{"fs", static_cast<uint8_t>(FdKind::kFs)}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"fsconfigCreateExcl", "fsconfig", nullptr, Result::kNone, {{"fs", static_cast<uint8_t>(FdKind::kFs)}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"fsconfigReconfigure", "fsconfig", nullptr, Result::kNone, {{"fs", static_cast<uint8_t>(FdKind::kFs)}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"fsReadLog", "read", nullptr, Result::kMessages, {{"fs", static_cast<uint8_t>(FdKind::kFs)}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"fsmount", "fsmount", "mount", Result::kNone, {{"fs", static_cast<uint8_t>(FdKind::kFs)}, {nullptr, 0}}, {{"flags", static_cast<uint8_t>(NumKind::kU32)}, {"attrs", static_cast<uint8_t>(NumKind::kU32)}, {nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"moveMount", "move_mount", nullptr, Result::kNone, {{"from", static_cast<uint8_t>(FdKind::kFdOrCwd)}, {"to", static_cast<uint8_t>(FdKind::kFdOrCwd)}}, {{"flags", static_cast<uint8_t>(NumKind::kU32)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"fromPath", static_cast<uint8_t>(StrKind::kStr)}, {"toPath", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"openTree", "open_tree", "mount", Result::kNone, {{"dirfd", static_cast<uint8_t>(FdKind::kFdOrCwd)}, {nullptr, 0}}, {{"flags", static_cast<uint8_t>(NumKind::kU32)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"mountSetattr", "mount_setattr", nullptr, Result::kNone, {{"dirfd", static_cast<uint8_t>(FdKind::kFdOrCwd)}, {"userns", static_cast<uint8_t>(FdKind::kFdOrCwd)}}, {{"flags", static_cast<uint8_t>(NumKind::kU32)}, {"attrSet", static_cast<uint8_t>(NumKind::kU64)}, {"attrClr", static_cast<uint8_t>(NumKind::kU64)}, {"propagation", static_cast<uint8_t>(NumKind::kU64)}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"mount", "mount", nullptr, Result::kNone, {{"cwd", static_cast<uint8_t>(FdKind::kFdOrCwd)}, {nullptr, 0}}, {{"flags", static_cast<uint8_t>(NumKind::kU32)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"source", static_cast<uint8_t>(StrKind::kOptStr)}, {"target", static_cast<uint8_t>(StrKind::kStr)}, {"fstype", static_cast<uint8_t>(StrKind::kOptStr)}, {"data", static_cast<uint8_t>(StrKind::kOptStr)}}, nullptr},
    {"umount2", "umount2", nullptr, Result::kNone, {{nullptr, 0}, {nullptr, 0}}, {{"flags", static_cast<uint8_t>(NumKind::kU32)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"target", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"statmount", "statmount", nullptr, Result::kStatmount, {{nullptr, 0}, {nullptr, 0}}, {{"mountId", static_cast<uint8_t>(NumKind::kU64)}, {"mask", static_cast<uint8_t>(NumKind::kU64)}, {nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"statx", "statx", nullptr, Result::kStatx, {{"dirfd", static_cast<uint8_t>(FdKind::kFdOrCwd)}, {nullptr, 0}}, {{"flags", static_cast<uint8_t>(NumKind::kU32)}, {"mask", static_cast<uint8_t>(NumKind::kU32)}, {nullptr, 0}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"mknod", "mknod", nullptr, Result::kNone, {{"dirfd", static_cast<uint8_t>(FdKind::kFdOrCwd)}, {nullptr, 0}}, {{"mode", static_cast<uint8_t>(NumKind::kU32)}, {"major", static_cast<uint8_t>(NumKind::kU32)}, {"minor", static_cast<uint8_t>(NumKind::kU32)}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"realpath", "realpath", nullptr, Result::kString, {{nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"readdir", "scandir", nullptr, Result::kEntries, {{nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"statfs", "statfs", nullptr, Result::kNumber, {{nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"getxattr", "getxattr", nullptr, Result::kBuffer, {{nullptr, 0}, {nullptr, 0}}, {{"follow", static_cast<uint8_t>(NumKind::kBool)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {"name", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"setxattr", "setxattr", nullptr, Result::kNone, {{nullptr, 0}, {nullptr, 0}}, {{"flags", static_cast<uint8_t>(NumKind::kU32)}, {"follow", static_cast<uint8_t>(NumKind::kBool)}, {nullptr, 0}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {"name", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}}, "value"},
    {"listxattr", "listxattr", nullptr, Result::kNames, {{nullptr, 0}, {nullptr, 0}}, {{"follow", static_cast<uint8_t>(NumKind::kBool)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"removexattr", "removexattr", nullptr, Result::kNone, {{nullptr, 0}, {nullptr, 0}}, {{"follow", static_cast<uint8_t>(NumKind::kBool)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {"name", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"fgetxattr", "fgetxattr", nullptr, Result::kBuffer, {{"fd", static_cast<uint8_t>(FdKind::kFd)}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"name", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"fsetxattr", "fsetxattr", nullptr, Result::kNone, {{"fd", static_cast<uint8_t>(FdKind::kFd)}, {nullptr, 0}}, {{"flags", static_cast<uint8_t>(NumKind::kU32)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"name", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, "value"},
    {"flistxattr", "flistxattr", nullptr, Result::kNames, {{"fd", static_cast<uint8_t>(FdKind::kFd)}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"fremovexattr", "fremovexattr", nullptr, Result::kNone, {{"fd", static_cast<uint8_t>(FdKind::kFd)}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"name", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"fsetxattrAt", "fsetxattr", nullptr, Result::kNone, {{"dirfd", static_cast<uint8_t>(FdKind::kFdOrCwd)}, {nullptr, 0}}, {{"flags", static_cast<uint8_t>(NumKind::kU32)}, {"resolve", static_cast<uint8_t>(NumKind::kU64)}, {"xattrFlags", static_cast<uint8_t>(NumKind::kU32)}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {"name", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}}, "value"},
    {"fremovexattrAt", "fremovexattr", nullptr, Result::kNone, {{"dirfd", static_cast<uint8_t>(FdKind::kFdOrCwd)}, {nullptr, 0}}, {{"flags", static_cast<uint8_t>(NumKind::kU32)}, {"resolve", static_cast<uint8_t>(NumKind::kU64)}, {nullptr, 0}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {"name", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"kernelLog", "read", nullptr, Result::kMessages, {{"fd", static_cast<uint8_t>(FdKind::kFd)}, {nullptr, 0}}, {{"since", static_cast<uint8_t>(NumKind::kU64)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"listmount", "listmount", nullptr, Result::kIds, {{nullptr, 0}, {nullptr, 0}}, {{"mountId", static_cast<uint8_t>(NumKind::kU64)}, {"since", static_cast<uint8_t>(NumKind::kU64)}, {nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"expectMount", "statx", nullptr, Result::kNone, {{nullptr, 0}, {nullptr, 0}}, {{"mountId", static_cast<uint8_t>(NumKind::kU64)}, {"unique", static_cast<uint8_t>(NumKind::kBool)}, {nullptr, 0}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"userns", "clone", "file", Result::kNone, {{nullptr, 0}, {nullptr, 0}}, {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"uidMap", static_cast<uint8_t>(StrKind::kStr)}, {"gidMap", static_cast<uint8_t>(StrKind::kStr)}, {nullptr, 0}, {nullptr, 0}}, nullptr},
    {"scanDir", "scandir", nullptr, Result::kScan, {{nullptr, 0}, {nullptr, 0}}, {{"flags", static_cast<uint8_t>(NumKind::kU32)}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}}, {{"path", static_cast<uint8_t>(StrKind::kStr)}, {"xattrs", static_cast<uint8_t>(StrKind::kOptStr)}, {nullptr, 0}, {nullptr, 0}}, nullptr},
};

// Each field's slot within its class (fd, num, str; bytes have one slot).
struct Open { static constexpr int kDirfd = 0; static constexpr int kPath = 0; static constexpr int kFlags = 0; static constexpr int kMode = 1; };
struct Lseek { static constexpr int kFd = 0; static constexpr int kOffset = 0; static constexpr int kWhence = 1; };
struct Close { static constexpr int kFd = 0; };
struct Openat2 { static constexpr int kDirfd = 0; static constexpr int kPath = 0; static constexpr int kFlags = 0; static constexpr int kMode = 1; static constexpr int kResolve = 2; };
struct Flock { static constexpr int kFd = 0; static constexpr int kOperation = 0; };
struct ExpectFile { static constexpr int kFd = 0; static constexpr int kDevMajor = 0; static constexpr int kDevMinor = 1; static constexpr int kIno = 2; };
struct RefuseFsType { static constexpr int kFd = 0; static constexpr int kFsType = 0; };
struct ReadFile { static constexpr int kPath = 0; };
struct Fsopen { static constexpr int kFsname = 0; static constexpr int kFlags = 0; };
struct Fspick { static constexpr int kDirfd = 0; static constexpr int kPath = 0; static constexpr int kFlags = 0; };
struct FsconfigSetFlag { static constexpr int kFs = 0; static constexpr int kKey = 0; };
struct FsconfigSetString { static constexpr int kFs = 0; static constexpr int kKey = 0; static constexpr int kValue = 1; };
struct FsconfigSetBinary { static constexpr int kFs = 0; static constexpr int kKey = 0; };
struct FsconfigSetPath { static constexpr int kFs = 0; static constexpr int kKey = 0; static constexpr int kDirfd = 1; static constexpr int kPath = 1; static constexpr int kEmptyPath = 0; };
struct FsconfigSetFd { static constexpr int kFs = 0; static constexpr int kKey = 0; static constexpr int kFd = 1; };
struct FsconfigCreate { static constexpr int kFs = 0; };
struct FsconfigCreateExcl { static constexpr int kFs = 0; };
struct FsconfigReconfigure { static constexpr int kFs = 0; };
struct FsReadLog { static constexpr int kFs = 0; };
struct Fsmount { static constexpr int kFs = 0; static constexpr int kFlags = 0; static constexpr int kAttrs = 1; };
struct MoveMount { static constexpr int kFrom = 0; static constexpr int kFromPath = 0; static constexpr int kTo = 1; static constexpr int kToPath = 1; static constexpr int kFlags = 0; };
struct OpenTree { static constexpr int kDirfd = 0; static constexpr int kPath = 0; static constexpr int kFlags = 0; };
struct MountSetattr { static constexpr int kDirfd = 0; static constexpr int kPath = 0; static constexpr int kFlags = 0; static constexpr int kAttrSet = 1; static constexpr int kAttrClr = 2; static constexpr int kPropagation = 3; static constexpr int kUserns = 1; };
struct Mount { static constexpr int kSource = 0; static constexpr int kTarget = 1; static constexpr int kFstype = 2; static constexpr int kFlags = 0; static constexpr int kData = 3; static constexpr int kCwd = 0; };
struct Umount2 { static constexpr int kTarget = 0; static constexpr int kFlags = 0; };
struct Statmount { static constexpr int kMountId = 0; static constexpr int kMask = 1; };
struct Statx { static constexpr int kDirfd = 0; static constexpr int kPath = 0; static constexpr int kFlags = 0; static constexpr int kMask = 1; };
struct Mknod { static constexpr int kDirfd = 0; static constexpr int kPath = 0; static constexpr int kMode = 0; static constexpr int kMajor = 1; static constexpr int kMinor = 2; };
struct Realpath { static constexpr int kPath = 0; };
struct Readdir { static constexpr int kPath = 0; };
struct Statfs { static constexpr int kPath = 0; };
struct Getxattr { static constexpr int kPath = 0; static constexpr int kName = 1; static constexpr int kFollow = 0; };
struct Setxattr { static constexpr int kPath = 0; static constexpr int kName = 1; static constexpr int kFlags = 0; static constexpr int kFollow = 1; };
struct Listxattr { static constexpr int kPath = 0; static constexpr int kFollow = 0; };
struct Removexattr { static constexpr int kPath = 0; static constexpr int kName = 1; static constexpr int kFollow = 0; };
struct Fgetxattr { static constexpr int kFd = 0; static constexpr int kName = 0; };
struct Fsetxattr { static constexpr int kFd = 0; static constexpr int kName = 0; static constexpr int kFlags = 0; };
struct Flistxattr { static constexpr int kFd = 0; };
struct Fremovexattr { static constexpr int kFd = 0; static constexpr int kName = 0; };
struct FsetxattrAt { static constexpr int kDirfd = 0; static constexpr int kPath = 0; static constexpr int kFlags = 0; static constexpr int kResolve = 1; static constexpr int kName = 1; static constexpr int kXattrFlags = 2; };
struct FremovexattrAt { static constexpr int kDirfd = 0; static constexpr int kPath = 0; static constexpr int kFlags = 0; static constexpr int kResolve = 1; static constexpr int kName = 1; };
struct KernelLog { static constexpr int kFd = 0; static constexpr int kSince = 0; };
struct Listmount { static constexpr int kMountId = 0; static constexpr int kSince = 1; };
struct ExpectMount { static constexpr int kPath = 0; static constexpr int kMountId = 0; static constexpr int kUnique = 1; };
struct Userns { static constexpr int kUidMap = 0; static constexpr int kGidMap = 1; };
struct ScanDir { static constexpr int kPath = 0; static constexpr int kFlags = 0; static constexpr int kXattrs = 1; };

}  // namespace ovl::schema
