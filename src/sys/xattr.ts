/**
 * Extended attributes. Path forms use the l*xattr calls (no-follow: a symlink's own attributes)
 * unless `follow: true`; fd forms use f*xattr. Values are Buffers; strings are taken as UTF-8.
 */
import { native } from '../binding.js';
import type { FdHandle } from '../native-types.js';
import { bool, buffer, cString, fd, flags } from '../validate.js';
import { pair } from './pair.js';

type Fd = FdHandle | number;
interface Follow {
  /** Follow a final symlink (getxattr rather than lgetxattr). Default false. */
  follow?: boolean;
}
interface SetOptions extends Follow {
  /** XATTR.CREATE (fail if present) or XATTR.REPLACE (fail if absent). */
  flags?: number;
}

/** lgetxattr(2) (getxattr(2) with follow) → the value. ENODATA when absent. */
export const [getxattr, getxattrSync] = pair(
  (path: string, name: string, options: Follow = {}) =>
    [cString('path', path), cString('name', name), bool('follow', options.follow)] as const,
  native.getxattr,
  native.getxattrSync,
);

/** fgetxattr(2) → the value. */
export const [fgetxattr, fgetxattrSync] = pair(
  (file: Fd, name: string) => [fd('fd', file), cString('name', name)] as const,
  native.fgetxattr,
  native.fgetxattrSync,
);

/** lsetxattr(2) (setxattr(2) with follow). */
export const [setxattr, setxattrSync] = pair(
  (path: string, name: string, value: Buffer | Uint8Array | string, options: SetOptions = {}) =>
    [
      cString('path', path),
      cString('name', name),
      buffer('value', value),
      flags('flags', options.flags),
      bool('follow', options.follow),
    ] as const,
  native.setxattr,
  native.setxattrSync,
);

/** fsetxattr(2). */
export const [fsetxattr, fsetxattrSync] = pair(
  (file: Fd, name: string, value: Buffer | Uint8Array | string, options: { flags?: number } = {}) =>
    [fd('fd', file), cString('name', name), buffer('value', value), flags('flags', options.flags)] as const,
  native.fsetxattr,
  native.fsetxattrSync,
);

/** llistxattr(2) (listxattr(2) with follow) → names. */
export const [listxattr, listxattrSync] = pair(
  (path: string, options: Follow = {}) => [cString('path', path), bool('follow', options.follow)] as const,
  native.listxattr,
  native.listxattrSync,
);

/** flistxattr(2) → names. */
export const [flistxattr, flistxattrSync] = pair(
  (file: Fd) => [fd('fd', file)] as const,
  native.flistxattr,
  native.flistxattrSync,
);

/** lremovexattr(2) (removexattr(2) with follow). */
export const [removexattr, removexattrSync] = pair(
  (path: string, name: string, options: Follow = {}) =>
    [cString('path', path), cString('name', name), bool('follow', options.follow)] as const,
  native.removexattr,
  native.removexattrSync,
);

/** fremovexattr(2). */
export const [fremovexattr, fremovexattrSync] = pair(
  (file: Fd, name: string) => [fd('fd', file), cString('name', name)] as const,
  native.fremovexattr,
  native.fremovexattrSync,
);
