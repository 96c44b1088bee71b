/**
 * The new mount API, one function per syscall mode (as rustix does). Each failure is a
 * Node-shaped error; the fsconfig/fsmount ones carry `key` and the fs-context log in
 * `kernelMessages`. Required operands are positional; dirfds and flags are options.
 */
import { flagWord } from './args.js';
import type { FlagArg } from './constants.js';
import type { FdHandle } from './native-types.js';
import { rawCall } from './steps.js';

type Fd = FdHandle | number;
/** An fs context: a handle from fsopen or fspick. */
type Fs = FdHandle;

/** fsopen(fsname, FSOPEN_CLOEXEC | flags) → fs-context handle. man 2 fsopen. */
export const [fsopen, fsopenSync] = rawCall('fsopen', (fsname: string, options: { flags?: FlagArg<'FSOPEN'> } = {}) => ({
  fsname,
  flags: flagWord('flags', options.flags),
}));

/** fspick(dirfd, path, FSPICK_CLOEXEC | flags) → fs context of an existing superblock. man 2 fspick. */
export const [fspick, fspickSync] = rawCall('fspick', (path: string, options: { dirfd?: Fd | null; flags?: FlagArg<'FSPICK'> } = {}) => ({
  path,
  dirfd: options.dirfd,
  flags: flagWord('flags', options.flags),
}));

/** fsconfig(fs, FSCONFIG_SET_FLAG, key, NULL, 0). man 2 fsconfig. */
export const [fsconfigSetFlag, fsconfigSetFlagSync] = rawCall('fsconfigSetFlag', (fs: Fs, key: string) => ({ fs, key }));

/** fsconfig(fs, FSCONFIG_SET_STRING, key, value, 0). The kernel caps `value` at 255 bytes (EINVAL, no message). */
export const [fsconfigSetString, fsconfigSetStringSync] = rawCall('fsconfigSetString', (fs: Fs, key: string, value: string) => ({ fs, key, value }));

/** fsconfig(fs, FSCONFIG_SET_BINARY, key, value, value.length). */
export const [fsconfigSetBinary, fsconfigSetBinarySync] = rawCall('fsconfigSetBinary', (fs: Fs, key: string, value: Buffer | Uint8Array | string) => ({
  fs,
  key,
  value,
}));

/** fsconfig(fs, FSCONFIG_SET_PATH or SET_PATH_EMPTY, key, path, dirfd). Overlay rejects both ("Bad value"). */
export const [fsconfigSetPath, fsconfigSetPathSync] = rawCall(
  'fsconfigSetPath',
  (fs: Fs, key: string, path: string, options: { dirfd?: Fd | null; emptyPath?: boolean } = {}) => ({
    fs,
    key,
    path,
    dirfd: options.dirfd,
    emptyPath: options.emptyPath,
  }),
);

/** fsconfig(fs, FSCONFIG_SET_FD, key, NULL, fd): overlay layers by fd (Linux 6.13). */
export const [fsconfigSetFd, fsconfigSetFdSync] = rawCall('fsconfigSetFd', (fs: Fs, key: string, fd: Fd) => ({ fs, key, fd }));

/** fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0). After a failure the context is dead (EBUSY). */
export const [fsconfigCreate, fsconfigCreateSync] = rawCall('fsconfigCreate', (fs: Fs) => ({ fs }));

/** fsconfig(fs, FSCONFIG_CMD_CREATE_EXCL, ...): never shares an existing superblock (Linux 6.6). */
export const [fsconfigCreateExcl, fsconfigCreateExclSync] = rawCall('fsconfigCreateExcl', (fs: Fs) => ({ fs }));

/** fsconfig(fs, FSCONFIG_CMD_RECONFIGURE, ...) on an fspick() context. */
export const [fsconfigReconfigure, fsconfigReconfigureSync] = rawCall('fsconfigReconfigure', (fs: Fs) => ({ fs }));

/** Drains the fs-context message log: read(2) on the fs fd until ENODATA. Takes an 'fs' handle only. */
export const [fsReadLog, fsReadLogSync] = rawCall('fsReadLog', (fs: Fs) => ({ fs }));

/** fsmount(fs, FSMOUNT_CLOEXEC | flags, attrs) → detached mount handle. man 2 fsmount. */
export const [fsmount, fsmountSync] = rawCall(
  'fsmount',
  (fs: Fs, options: { flags?: FlagArg<'FSMOUNT'>; attrs?: FlagArg<'MOUNT_ATTR'> } = {}) => ({
    fs,
    flags: flagWord('flags', options.flags),
    attrs: flagWord('attrs', options.attrs),
  }),
);

export interface MoveMountOptions {
  /** The directory `fromPath` is relative to; with MOVE_MOUNT.F_EMPTY_PATH and fromPath '', the mount itself. */
  from?: Fd | null;
  /** The directory `toPath` is relative to. */
  to?: Fd | null;
  flags?: FlagArg<'MOVE_MOUNT'>;
}

/**
 * move_mount(from, fromPath, to, toPath, flags). Attach a detached mount with
 * `moveMount('', '/target', { from: mnt, flags: MOVE_MOUNT.F_EMPTY_PATH })`, then close `mnt` at
 * once: an open mount fd keeps umount EBUSY. man 2 move_mount.
 */
export const [moveMount, moveMountSync] = rawCall('moveMount', (fromPath: string, toPath: string, options: MoveMountOptions = {}) => ({
  from: options.from,
  fromPath,
  to: options.to,
  toPath,
  flags: flagWord('flags', options.flags),
}));

/** open_tree(dirfd, path, OPEN_TREE_CLOEXEC | flags); OPEN_TREE.CLONE gives a detached copy. man 2 open_tree. */
export const [openTree, openTreeSync] = rawCall(
  'openTree',
  (path: string, options: { dirfd?: Fd | null; flags?: FlagArg<'OPEN_TREE' | 'AT'> } = {}) => ({
    path,
    dirfd: options.dirfd,
    flags: flagWord('flags', options.flags),
  }),
);

export interface MountSetattrOptions {
  dirfd?: Fd | null;
  /** AT.EMPTY_PATH, AT.RECURSIVE, AT.SYMLINK_NOFOLLOW, AT.NO_AUTOMOUNT */
  flags?: FlagArg<'AT'>;
  attrSet?: FlagArg<'MOUNT_ATTR'>;
  attrClr?: FlagArg<'MOUNT_ATTR'>;
  /** MS.PRIVATE, MS.SHARED, MS.SLAVE or MS.UNBINDABLE */
  propagation?: FlagArg<'MS'>;
  /** With MOUNT_ATTR.IDMAP in attrSet: an fd of the user namespace (/proc/PID/ns/user). */
  userns?: Fd | null;
}

/** mount_setattr(dirfd, path, flags, &{attr_set, attr_clr, propagation, userns_fd}, 32). man 2 mount_setattr. */
export const [mountSetattr, mountSetattrSync] = rawCall('mountSetattr', (path: string, options: MountSetattrOptions = {}) => ({
  path,
  dirfd: options.dirfd,
  flags: flagWord('flags', options.flags),
  attrSet: flagWord('attrSet', options.attrSet),
  attrClr: flagWord('attrClr', options.attrClr),
  propagation: flagWord('propagation', options.propagation),
  userns: options.userns,
}));

/**
 * A user namespace that carries an id mapping, for mount_setattr(MOUNT_ATTR.IDMAP): `uidMap`
 * and `gidMap` as /proc/PID/uid_map takes them ("inside outside count" per line). A child is
 * cloned into the new namespace, the maps are written, /proc/PID/ns/user is opened and the
 * child is reaped before the call returns: the handle alone keeps the namespace. man 7
 * user_namespaces.
 */
export const [userns, usernsSync] = rawCall('userns', (uidMap: string, gidMap: string) => ({ uidMap, gidMap }));
