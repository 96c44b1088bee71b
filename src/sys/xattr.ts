/**
 * Extended attributes. Path forms use the l*xattr calls (no-follow: a symlink's own attributes)
 * unless `follow: true`; fd forms use f*xattr. Values are Buffers; strings are taken as UTF-8.
 */
import { flagWord } from './args.js';
import type { FlagArg } from './constants.js';
import type { FdHandle } from './native-types.js';
import { rawCall } from './steps.js';

type Fd = FdHandle | number;
interface Follow {
  /** Follow a final symlink (getxattr rather than lgetxattr). Default false. */
  follow?: boolean;
}
interface SetOptions {
  /** XATTR.CREATE (fail if present) or XATTR.REPLACE (fail if absent). */
  flags?: FlagArg<'XATTR'>;
}
type Value = Buffer | Uint8Array | string;

/** lgetxattr(2) (getxattr(2) with follow) → the value. ENODATA when absent. */
export const [getxattr, getxattrSync] = rawCall('getxattr', (path: string, name: string, options: Follow = {}) => ({
  path,
  name,
  follow: options.follow,
}));

/** fgetxattr(2) → the value. */
export const [fgetxattr, fgetxattrSync] = rawCall('fgetxattr', (fd: Fd, name: string) => ({ fd, name }));

/** lsetxattr(2) (setxattr(2) with follow). */
export const [setxattr, setxattrSync] = rawCall('setxattr', (path: string, name: string, value: Value, options: SetOptions & Follow = {}) => ({
  path,
  name,
  value,
  flags: flagWord('flags', options.flags),
  follow: options.follow,
}));

/** fsetxattr(2). */
export const [fsetxattr, fsetxattrSync] = rawCall('fsetxattr', (fd: Fd, name: string, value: Value, options: SetOptions = {}) => ({
  fd,
  name,
  value,
  flags: flagWord('flags', options.flags),
}));

/** llistxattr(2) (listxattr(2) with follow) → names. */
export const [listxattr, listxattrSync] = rawCall('listxattr', (path: string, options: Follow = {}) => ({ path, follow: options.follow }));

/** flistxattr(2) → names. */
export const [flistxattr, flistxattrSync] = rawCall('flistxattr', (fd: Fd) => ({ fd }));

/** lremovexattr(2) (removexattr(2) with follow). */
export const [removexattr, removexattrSync] = rawCall('removexattr', (path: string, name: string, options: Follow = {}) => ({
  path,
  name,
  follow: options.follow,
}));

/** fremovexattr(2). */
export const [fremovexattr, fremovexattrSync] = rawCall('fremovexattr', (fd: Fd, name: string) => ({ fd, name }));
