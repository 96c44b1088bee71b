/**
 * Kernel ABI constants for the raw calls, with the values from the kernel's uapi headers.
 * test/native/constants.test.ts checks each one against the C headers the addon was built with.
 *
 * Each flag family has its own type (Flags<'MS'>, Flags<'MOUNT_ATTR'>, ...): a constant of one
 * family passed where another belongs (MS.RDONLY as a MOUNT_ATTR) does not compile. Combine
 * flags with `|` or as an array (`[MS.BIND, MS.REC]`); an array keeps the check on every member.
 */

declare const family: unique symbol;
/** A flag word of one family. A plain number is accepted too (e.g. `MS.BIND | MS.REC`). */
export type Flags<F extends string> = number & { readonly [family]?: F };
/** A flag argument: one word, or an array of flags that are OR-ed together. */
export type FlagArg<F extends string> = Flags<F> | readonly Flags<F>[];

/** Each member of `table` typed as a flag of family `F`. */
function flagFamily<F extends string>() {
  return <T extends Record<string, number>>(table: T): { readonly [K in keyof T]: Flags<F> } => table;
}

/** mount(2) flags (MS_*). */
export const MS = flagFamily<'MS'>()({
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  MOVE: 0x2000,
  REC: 0x4000,
  SILENT: 0x8000,
  POSIXACL: 0x10000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  KERNMOUNT: 0x400000,
  I_VERSION: 0x800000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
});

/** umount2(2) flags. */
export const MNT = flagFamily<'MNT'>()({
  FORCE: 0x1,
  DETACH: 0x2,
  EXPIRE: 0x4,
  UMOUNT_NOFOLLOW: 0x8,
});

/** fsopen(2), fspick(2) and fsmount(2) flags. The *_CLOEXEC flags are always added by the addon. */
export const FSOPEN = flagFamily<'FSOPEN'>()({ CLOEXEC: 0x1 });
export const FSPICK = flagFamily<'FSPICK'>()({ CLOEXEC: 0x1, SYMLINK_NOFOLLOW: 0x2, NO_AUTOMOUNT: 0x4, EMPTY_PATH: 0x8 });
export const FSMOUNT = flagFamily<'FSMOUNT'>()({ CLOEXEC: 0x1 });

/** fsconfig(2) commands. CMD_CREATE_EXCL needs Linux 6.6. */
export const FSCONFIG = {
  SET_FLAG: 0,
  SET_STRING: 1,
  SET_BINARY: 2,
  SET_PATH: 3,
  SET_PATH_EMPTY: 4,
  SET_FD: 5,
  CMD_CREATE: 6,
  CMD_RECONFIGURE: 7,
  CMD_CREATE_EXCL: 8,
} as const;

/** Mount attributes for fsmount(2) and mount_setattr(2). The atime modes share the _ATIME field. */
export const MOUNT_ATTR = flagFamily<'MOUNT_ATTR'>()({
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  _ATIME: 0x70,
  RELATIME: 0x0,
  NOATIME: 0x10,
  STRICTATIME: 0x20,
  NODIRATIME: 0x80,
  IDMAP: 0x100000,
  NOSYMFOLLOW: 0x200000,
});

/** move_mount(2) flags. BENEATH needs Linux 6.5. */
export const MOVE_MOUNT = flagFamily<'MOVE_MOUNT'>()({
  F_SYMLINKS: 0x1,
  F_AUTOMOUNTS: 0x2,
  F_EMPTY_PATH: 0x4,
  T_SYMLINKS: 0x10,
  T_AUTOMOUNTS: 0x20,
  T_EMPTY_PATH: 0x40,
  SET_GROUP: 0x100,
  BENEATH: 0x200,
});

/** open_tree(2) flags (with AT.RECURSIVE, AT.EMPTY_PATH, AT.SYMLINK_NOFOLLOW). */
export const OPEN_TREE = flagFamily<'OPEN_TREE'>()({ CLONE: 0x1, CLOEXEC: 0x80000 });

/** *at(2) flags. */
export const AT = flagFamily<'AT'>()({
  SYMLINK_NOFOLLOW: 0x100,
  NO_AUTOMOUNT: 0x800,
  EMPTY_PATH: 0x1000,
  RECURSIVE: 0x8000,
});

// O_DIRECTORY and O_NOFOLLOW differ by architecture: x86 has 0200000/0400000, arm and arm64
// (asm/fcntl.h) 040000/0100000. The rest are the generic values on both.
const ARM = process.arch === 'arm64' || process.arch === 'arm';

/** open(2) flags used by the raw calls (O_CLOEXEC is always added). */
export const O = flagFamily<'O'>()({
  RDONLY: 0x0,
  WRONLY: 0x1,
  CREAT: 0x40,
  EXCL: 0x80,
  NONBLOCK: 0x800,
  DIRECTORY: ARM ? 0x4000 : 0x10000,
  NOFOLLOW: ARM ? 0x8000 : 0x20000,
  CLOEXEC: 0x80000,
  PATH: 0x200000,
});

/** openat2(2) resolve flags (struct open_how's `resolve`, Linux 5.6). */
export const RESOLVE = flagFamily<'RESOLVE'>()({
  NO_XDEV: 0x01,
  NO_MAGICLINKS: 0x02,
  NO_SYMLINKS: 0x04,
  BENEATH: 0x08,
  IN_ROOT: 0x10,
  CACHED: 0x20,
});

/** flock(2) operations. */
export const LOCK = flagFamily<'LOCK'>()({ SH: 1, EX: 2, NB: 4, UN: 8 });

/** setxattr(2) flags. */
export const XATTR = flagFamily<'XATTR'>()({ CREATE: 0x1, REPLACE: 0x2 });

/** File type bits of st_mode. */
export const S = { IFMT: 0o170000, IFDIR: 0o040000, IFCHR: 0o020000, IFREG: 0o100000 } as const;

/** statx(2) masks. STATX_MNT_ID_UNIQUE needs Linux 6.8. */
export const STATX = flagFamily<'STATX'>()({ TYPE: 0x1, MODE: 0x2, BASIC_STATS: 0x7ff, MNT_ID: 0x1000, MNT_ID_UNIQUE: 0x4000 });

/** statmount(2) request mask bits (Linux 6.8+; OPT_ARRAY 6.10+). */
export const STATMOUNT = flagFamily<'STATMOUNT'>()({
  SB_BASIC: 0x1,
  MNT_BASIC: 0x2,
  PROPAGATE_FROM: 0x4,
  MNT_ROOT: 0x8,
  MNT_POINT: 0x10,
  FS_TYPE: 0x20,
  MNT_NS_ID: 0x40,
  MNT_OPTS: 0x80,
  FS_SUBTYPE: 0x100,
  SB_SOURCE: 0x200,
  OPT_ARRAY: 0x400,
  OPT_SEC_ARRAY: 0x800,
  SUPPORTED_MASK: 0x1000,
  MNT_UIDMAP: 0x2000,
  MNT_GIDMAP: 0x4000,
});
