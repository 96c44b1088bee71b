// Module init: per-environment state, the export table, and teardown of open fds.
#include "addon.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/file.h>
#include <linux/openat2.h>

#include <cstring>

#include "args.h"
#include "errors.h"
#include "fd.h"
#include "sys.h"

namespace ovl {

void InitBatch(Napi::Env env, Napi::Object exports);
void InitLayerWrite(Napi::Env env, Napi::Object exports);
void InitLayerRead(Napi::Env env, Napi::Object exports);

namespace {

using StateHolder = std::shared_ptr<AddonState>;

void CloseLiveHandles(void* data) {
  StateHolder& state = *static_cast<StateHolder*>(data);
  // Copy: closing does not erase, but a later finalizer might.
  for (FdHandle* h : std::unordered_set<FdHandle*>(state->live)) h->CloseForTeardown();
}

// The finalizer drops the JS references while the environment can still delete them; handles
// that outlive it keep only the plain data alive.
void FinalizeState(Napi::Env, StateHolder* holder) {
  (*holder)->error_factory.Reset();
  (*holder)->handle_ctor.Reset();
  delete holder;
}

// setErrorFactory(fn): fn(raw) builds the Node-shaped error (src/errors.ts).
Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) {
    ThrowTypeError(info.Env(), "The \"factory\" argument must be a function");
    return info.Env().Undefined();
  }
  GetState(info.Env())->error_factory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// errnoName(n) -> [name or null, description] from the C library, for errnos Node's map lacks.
Napi::Value ErrnoName(const Napi::CallbackInfo& info) {
  int n;
  if (!ArgInt(info, 0, "errno", n)) return info.Env().Undefined();
  const char* name = ErrnoNameOrNull(n);
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, name ? Napi::Value(Napi::String::New(info.Env(), name)) : info.Env().Null());
  out.Set(1u, Napi::String::New(info.Env(), strerror(n)));
  return out;
}

// The values the C headers give, so a test can check src/constants.ts against them.
Napi::Object HeaderConstants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* k, double v) { c.Set(k, Napi::Number::New(env, v)); };
#define OVL_CONST(name) set(#name, static_cast<double>(name))
  OVL_CONST(MS_RDONLY); OVL_CONST(MS_NOSUID); OVL_CONST(MS_NODEV); OVL_CONST(MS_NOEXEC);
  OVL_CONST(MS_SYNCHRONOUS); OVL_CONST(MS_REMOUNT); OVL_CONST(MS_MANDLOCK); OVL_CONST(MS_DIRSYNC);
  OVL_CONST(MS_NOSYMFOLLOW); OVL_CONST(MS_NOATIME); OVL_CONST(MS_NODIRATIME); OVL_CONST(MS_BIND);
  OVL_CONST(MS_MOVE); OVL_CONST(MS_REC); OVL_CONST(MS_SILENT); OVL_CONST(MS_POSIXACL);
  OVL_CONST(MS_UNBINDABLE); OVL_CONST(MS_PRIVATE); OVL_CONST(MS_SLAVE); OVL_CONST(MS_SHARED);
  OVL_CONST(MS_RELATIME); OVL_CONST(MS_KERNMOUNT); OVL_CONST(MS_I_VERSION); OVL_CONST(MS_STRICTATIME);
  OVL_CONST(MS_LAZYTIME);
  OVL_CONST(MNT_FORCE); OVL_CONST(MNT_DETACH); OVL_CONST(MNT_EXPIRE); OVL_CONST(UMOUNT_NOFOLLOW);
  OVL_CONST(FSOPEN_CLOEXEC); OVL_CONST(FSPICK_CLOEXEC); OVL_CONST(FSPICK_SYMLINK_NOFOLLOW);
  OVL_CONST(FSPICK_NO_AUTOMOUNT); OVL_CONST(FSPICK_EMPTY_PATH); OVL_CONST(FSMOUNT_CLOEXEC);
  OVL_CONST(MOUNT_ATTR_RDONLY); OVL_CONST(MOUNT_ATTR_NOSUID); OVL_CONST(MOUNT_ATTR_NODEV);
  OVL_CONST(MOUNT_ATTR_NOEXEC); OVL_CONST(MOUNT_ATTR__ATIME); OVL_CONST(MOUNT_ATTR_RELATIME);
  OVL_CONST(MOUNT_ATTR_NOATIME); OVL_CONST(MOUNT_ATTR_STRICTATIME); OVL_CONST(MOUNT_ATTR_NODIRATIME);
  OVL_CONST(MOUNT_ATTR_IDMAP); OVL_CONST(MOUNT_ATTR_NOSYMFOLLOW);
  OVL_CONST(MOVE_MOUNT_F_SYMLINKS); OVL_CONST(MOVE_MOUNT_F_AUTOMOUNTS); OVL_CONST(MOVE_MOUNT_F_EMPTY_PATH);
  OVL_CONST(MOVE_MOUNT_T_SYMLINKS); OVL_CONST(MOVE_MOUNT_T_AUTOMOUNTS); OVL_CONST(MOVE_MOUNT_T_EMPTY_PATH);
  OVL_CONST(MOVE_MOUNT_SET_GROUP); OVL_CONST(MOVE_MOUNT_BENEATH);
  OVL_CONST(OPEN_TREE_CLONE); OVL_CONST(OPEN_TREE_CLOEXEC);
  OVL_CONST(AT_RECURSIVE); OVL_CONST(AT_EMPTY_PATH); OVL_CONST(AT_SYMLINK_NOFOLLOW); OVL_CONST(AT_NO_AUTOMOUNT);
  OVL_CONST(O_RDONLY); OVL_CONST(O_WRONLY); OVL_CONST(O_CREAT); OVL_CONST(O_EXCL); OVL_CONST(O_NONBLOCK); OVL_CONST(O_PATH); OVL_CONST(O_DIRECTORY); OVL_CONST(O_NOFOLLOW); OVL_CONST(O_CLOEXEC);
  OVL_CONST(XATTR_CREATE); OVL_CONST(XATTR_REPLACE);
  OVL_CONST(RESOLVE_NO_XDEV); OVL_CONST(RESOLVE_NO_MAGICLINKS); OVL_CONST(RESOLVE_NO_SYMLINKS); OVL_CONST(RESOLVE_BENEATH); OVL_CONST(RESOLVE_IN_ROOT); OVL_CONST(RESOLVE_CACHED);
  OVL_CONST(LOCK_SH); OVL_CONST(LOCK_EX); OVL_CONST(LOCK_NB); OVL_CONST(LOCK_UN);
  OVL_CONST(S_IFCHR); OVL_CONST(S_IFMT); OVL_CONST(S_IFDIR); OVL_CONST(S_IFREG);
  OVL_CONST(STATX_TYPE); OVL_CONST(STATX_MODE); OVL_CONST(STATX_BASIC_STATS); OVL_CONST(STATX_MNT_ID); OVL_CONST(STATX_MNT_ID_UNIQUE);
  OVL_CONST(STATMOUNT_SB_BASIC); OVL_CONST(STATMOUNT_MNT_BASIC); OVL_CONST(STATMOUNT_PROPAGATE_FROM);
  OVL_CONST(STATMOUNT_MNT_ROOT); OVL_CONST(STATMOUNT_MNT_POINT); OVL_CONST(STATMOUNT_FS_TYPE);
  OVL_CONST(STATMOUNT_MNT_NS_ID); OVL_CONST(STATMOUNT_MNT_OPTS); OVL_CONST(STATMOUNT_FS_SUBTYPE);
  OVL_CONST(STATMOUNT_SB_SOURCE); OVL_CONST(STATMOUNT_OPT_ARRAY); OVL_CONST(STATMOUNT_OPT_SEC_ARRAY);
  OVL_CONST(STATMOUNT_SUPPORTED_MASK); OVL_CONST(STATMOUNT_MNT_UIDMAP); OVL_CONST(STATMOUNT_MNT_GIDMAP);
#undef OVL_CONST
  set("FSCONFIG_SET_FLAG", kFsconfigSetFlag);
  set("FSCONFIG_SET_STRING", kFsconfigSetString);
  set("FSCONFIG_SET_BINARY", kFsconfigSetBinary);
  set("FSCONFIG_SET_PATH", kFsconfigSetPath);
  set("FSCONFIG_SET_PATH_EMPTY", kFsconfigSetPathEmpty);
  set("FSCONFIG_SET_FD", kFsconfigSetFd);
  set("FSCONFIG_CMD_CREATE", kFsconfigCmdCreate);
  set("FSCONFIG_CMD_RECONFIGURE", kFsconfigCmdReconfigure);
  set("FSCONFIG_CMD_CREATE_EXCL", kFsconfigCmdCreateExcl);
  return c;
}

}  // namespace

std::shared_ptr<AddonState> GetState(Napi::Env env) {
  StateHolder* holder = env.GetInstanceData<StateHolder>();
  return holder ? *holder : nullptr;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* holder = new StateHolder(std::make_shared<AddonState>());
  env.SetInstanceData<StateHolder, FinalizeState>(holder);
  env.AddCleanupHook(CloseLiveHandles, static_cast<void*>(holder));

  exports.Set("setErrorFactory", Napi::Function::New<SetErrorFactory>(env, "setErrorFactory"));
  exports.Set("errnoName", Napi::Function::New<ErrnoName>(env, "errnoName"));
  exports.Set("constants", HeaderConstants(env));
  InitFd(env, exports);
  InitBatch(env, exports);
  InitLayerWrite(env, exports);
  InitLayerRead(env, exports);
  return exports;
}

}  // namespace ovl

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return ovl::Init(env, exports); }
NODE_API_MODULE(overlayfs, InitModule)
