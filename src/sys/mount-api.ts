/**
 * The new mount API, one function per syscall mode (as rustix does). Each failure is a
 * Node-shaped error; the fsconfig/fsmount ones carry `key` and the fs-context log in
 * `kernelMessages`.
 */
import { native } from '../binding.js';
import type { FdHandle } from '../native-types.js';
import { bool, buffer, cString, dirFd, fd, flags, fsHandle, uint } from '../validate.js';
import { pair } from './pair.js';

type Fd = FdHandle | number;
/** An fs context: a handle from fsopen or fspick. */
type Fs = FdHandle;

/** fsopen(fsname, FSOPEN_CLOEXEC | flags) → fs-context handle. man 2 fsopen. */
export const [fsopen, fsopenSync] = pair(
  (fsname: string, openFlags?: number) => [cString('fsname', fsname), flags('flags', openFlags)] as const,
  native.fsopen,
  native.fsopenSync,
);

/** fspick(dirfd, path, FSPICK_CLOEXEC | flags) → fs context of an existing superblock. man 2 fspick. */
export const [fspick, fspickSync] = pair(
  (path: string, options: { dirfd?: Fd | null; flags?: number } = {}) =>
    [dirFd('dirfd', options.dirfd), cString('path', path), flags('flags', options.flags)] as const,
  native.fspick,
  native.fspickSync,
);

/** fsconfig(fs, FSCONFIG_SET_FLAG, key, NULL, 0). man 2 fsconfig. */
export const [fsconfigSetFlag, fsconfigSetFlagSync] = pair(
  (fs: Fs, key: string) => [fsHandle('fs', fs), cString('key', key)] as const,
  native.fsconfigSetFlag,
  native.fsconfigSetFlagSync,
);

/** fsconfig(fs, FSCONFIG_SET_STRING, key, value, 0). The kernel caps `value` at 255 bytes (EINVAL, no message). */
export const [fsconfigSetString, fsconfigSetStringSync] = pair(
  (fs: Fs, key: string, value: string) => [fsHandle('fs', fs), cString('key', key), cString('value', value)] as const,
  native.fsconfigSetString,
  native.fsconfigSetStringSync,
);

/** fsconfig(fs, FSCONFIG_SET_BINARY, key, value, value.length). */
export const [fsconfigSetBinary, fsconfigSetBinarySync] = pair(
  (fs: Fs, key: string, value: Buffer | Uint8Array) => [fsHandle('fs', fs), cString('key', key), buffer('value', value)] as const,
  native.fsconfigSetBinary,
  native.fsconfigSetBinarySync,
);

/** fsconfig(fs, FSCONFIG_SET_PATH or SET_PATH_EMPTY, key, path, dirfd). Overlay rejects both ("Bad value"). */
export const [fsconfigSetPath, fsconfigSetPathSync] = pair(
  (fs: Fs, key: string, path: string, options: { dirfd?: Fd | null; emptyPath?: boolean } = {}) =>
    [
      fsHandle('fs', fs),
      cString('key', key),
      dirFd('dirfd', options.dirfd),
      cString('path', path),
      bool('emptyPath', options.emptyPath),
    ] as const,
  native.fsconfigSetPath,
  native.fsconfigSetPathSync,
);

/** fsconfig(fs, FSCONFIG_SET_FD, key, NULL, fd): overlay layers by fd (Linux 6.13). */
export const [fsconfigSetFd, fsconfigSetFdSync] = pair(
  (fs: Fs, key: string, valueFd: Fd) => [fsHandle('fs', fs), cString('key', key), fd('fd', valueFd)] as const,
  native.fsconfigSetFd,
  native.fsconfigSetFdSync,
);

/** fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0). After a failure the context is dead (EBUSY). */
export const [fsconfigCreate, fsconfigCreateSync] = pair(
  (fs: Fs) => [fsHandle('fs', fs)] as const,
  native.fsconfigCreate,
  native.fsconfigCreateSync,
);

/** fsconfig(fs, FSCONFIG_CMD_CREATE_EXCL, ...): never shares an existing superblock (Linux 6.6). */
export const [fsconfigCreateExcl, fsconfigCreateExclSync] = pair(
  (fs: Fs) => [fsHandle('fs', fs)] as const,
  native.fsconfigCreateExcl,
  native.fsconfigCreateExclSync,
);

/** fsconfig(fs, FSCONFIG_CMD_RECONFIGURE, ...) on an fspick() context. */
export const [fsconfigReconfigure, fsconfigReconfigureSync] = pair(
  (fs: Fs) => [fsHandle('fs', fs)] as const,
  native.fsconfigReconfigure,
  native.fsconfigReconfigureSync,
);

/** fsmount(fs, FSMOUNT_CLOEXEC | flags, attrs) → detached mount handle. `attrs` are MOUNT_ATTR_*. man 2 fsmount. */
export const [fsmount, fsmountSync] = pair(
  (fs: Fs, options: { flags?: number; attrs?: number } = {}) =>
    [fsHandle('fs', fs), flags('flags', options.flags), flags('attrs', options.attrs)] as const,
  native.fsmount,
  native.fsmountSync,
);

/**
 * move_mount(from, fromPath, to, toPath, flags). Attach a detached mount with
 * `moveMount(mnt, '', null, '/target', MOVE_MOUNT.F_EMPTY_PATH)`, then close `mnt` at once:
 * an open mount fd keeps umount EBUSY. man 2 move_mount.
 */
export const [moveMount, moveMountSync] = pair(
  (from: Fd | null, fromPath: string, to: Fd | null, toPath: string, moveFlags?: number) =>
    [
      dirFd('from', from),
      cString('fromPath', fromPath),
      dirFd('to', to),
      cString('toPath', toPath),
      flags('flags', moveFlags),
    ] as const,
  native.moveMount,
  native.moveMountSync,
);

/** open_tree(dirfd, path, OPEN_TREE_CLOEXEC | flags); OPEN_TREE.CLONE gives a detached copy. man 2 open_tree. */
export const [openTree, openTreeSync] = pair(
  (path: string, options: { dirfd?: Fd | null; flags?: number } = {}) =>
    [dirFd('dirfd', options.dirfd), cString('path', path), flags('flags', options.flags)] as const,
  native.openTree,
  native.openTreeSync,
);

export interface MountSetattrOptions {
  dirfd?: Fd | null;
  /** AT_EMPTY_PATH, AT_RECURSIVE, AT_SYMLINK_NOFOLLOW, AT_NO_AUTOMOUNT */
  flags?: number;
  attrSet?: number;
  attrClr?: number;
  /** MS_PRIVATE, MS_SHARED, MS_SLAVE or MS_UNBINDABLE */
  propagation?: number;
  /** With MOUNT_ATTR.IDMAP in attrSet: an fd of the user namespace (/proc/PID/ns/user). */
  userns?: Fd | null;
}

/** mount_setattr(dirfd, path, flags, &{attr_set, attr_clr, propagation, userns_fd}, 32). man 2 mount_setattr. */
export const [mountSetattr, mountSetattrSync] = pair(
  (path: string, options: MountSetattrOptions = {}) =>
    [
      dirFd('dirfd', options.dirfd),
      cString('path', path),
      flags('flags', options.flags),
      uint('attrSet', options.attrSet),
      uint('attrClr', options.attrClr),
      uint('propagation', options.propagation),
      dirFd('userns', options.userns),
    ] as const,
  native.mountSetattr,
  native.mountSetattrSync,
);

/** Drains the fs-context message log: read(2) on the fs fd until ENODATA. Takes an 'fs' handle only. */
export const [fsReadLog, fsReadLogSync] = pair(
  (fs: FdHandle) => [fsHandle('fs', fs)] as const,
  native.fsReadLog,
  native.fsReadLogSync,
);
