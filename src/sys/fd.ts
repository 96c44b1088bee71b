/** fds: open(2), lseek(2), and handles for fds opened elsewhere. */
import { native } from './binding.js';
import { flagWord, invalidArgType, invalidArgValue, outOfRange, uintUpTo } from './args.js';
import type { FlagArg } from './constants.js';
import type { FdHandle } from './native-types.js';
import { rawCall } from './steps.js';

export type { FdHandle };

export interface OpenOptions {
  /** Resolve a relative `path` from this directory (default: the current directory). */
  dirfd?: FdHandle | number | null;
  /** Permission bits for a file O_CREAT makes. */
  mode?: number;
}

/**
 * openat(dirfd, path, flags | O_CLOEXEC, mode) → handle. With `O.PATH | O.DIRECTORY` this gives
 * the layer fds of the `fd` strategy. man 2 open.
 */
export const [open, openSync] = rawCall('open', (path: string, flags: FlagArg<'O'> = 0, options: OpenOptions = {}) => ({
  path,
  flags: flagWord('flags', flags),
  dirfd: options.dirfd,
  mode: uintUpTo('mode', options.mode, 0o7777),
}));

export interface Openat2Options extends OpenOptions {
  /** RESOLVE_* flags: RESOLVE.BENEATH keeps the lookup under `dirfd`, RESOLVE.NO_SYMLINKS follows none. */
  resolve?: FlagArg<'RESOLVE'>;
}

/**
 * openat2(dirfd, path, {flags | O_CLOEXEC, mode, resolve}) → handle: open with the lookup
 * constrained (Linux 5.6). man 2 openat2.
 */
export const [openat2, openat2Sync] = rawCall('openat2', (path: string, flags: FlagArg<'O'> = 0, options: Openat2Options = {}) => ({
  path,
  flags: flagWord('flags', flags),
  dirfd: options.dirfd,
  mode: uintUpTo('mode', options.mode, 0o7777),
  resolve: flagWord('resolve', options.resolve ?? 0),
}));

/**
 * flock(fd, operation): LOCK.SH, LOCK.EX or LOCK.UN, | LOCK.NB to fail EWOULDBLOCK instead of
 * waiting. The lock belongs to the open file: closing the handle releases it. man 2 flock.
 */
export const [flock, flockSync] = rawCall('flock', (fd: FdHandle | number, operation: FlagArg<'LOCK'>) => ({
  fd,
  operation: flagWord('operation', operation),
}));

/** lseek(fd, offset, whence) → the new offset. whence: 0 SEEK_SET, 1 SEEK_CUR, 2 SEEK_END. man 2 lseek. */
export const [lseek, lseekSync] = rawCall('lseek', (fd: FdHandle | number, offset: number, whence: 0 | 1 | 2 | 3 | 4) => ({
  fd,
  offset,
  whence,
}));

/** Takes ownership of `fd` (e.g. from fs.openSync): the handle closes it. */
export function adoptFd(fd: number, kind: FdHandle['kind'] = 'file'): FdHandle {
  if (kind !== 'file' && kind !== 'fs' && kind !== 'mount') throw invalidArgValue('kind', "must be 'file', 'fs' or 'mount'", kind);
  if (typeof fd !== 'number') throw invalidArgType('fd', 'of type number', fd);
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw outOfRange('fd', '>= 0 && <= 2147483647', fd);
  return native().adoptFd(fd, kind);
}

/** How many fds a finalizer had to close because their handle was garbage-collected while open (for tests). */
export function leakedFdCount(): number {
  return native().leakedFdCount();
}
