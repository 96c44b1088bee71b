/** fd handles: open(2) and adopting an fd opened elsewhere. */
import { native } from '../binding.js';
import type { FdHandle } from '../native-types.js';
import { cString, fd, flags, integer, invalidArgType, invalidArgValue, outOfRange, uint } from '../validate.js';
import { pair } from './pair.js';

export type { FdHandle };

/**
 * open(2) → handle. `O_CLOEXEC` is always added. With `O.PATH | O.DIRECTORY` this gives the
 * layer fds of the `fd` strategy and the directory fd of mountInDir(). man 2 open.
 */
export const [open, openSync] = pair(
  (path: string, openFlags: number, mode?: number) =>
    [cString('path', path), flags('flags', openFlags), uint('mode', mode, 0o7777)] as const,
  native.open,
  native.openSync,
);

/** lseek(fd, offset, whence) → the new offset. whence: 0 SEEK_SET, 1 SEEK_CUR, 2 SEEK_END. man 2 lseek. */
export const [lseek, lseekSync] = pair(
  (file: FdHandle | number, offset: number, whence: 0 | 1 | 2 | 3 | 4) =>
    [fd('fd', file), integer('offset', offset), flags('whence', whence)] as const,
  native.lseek,
  native.lseekSync,
);

/** Takes ownership of `fd` (e.g. from fs.openSync): the handle closes it. */
export function adoptFd(fd: number, kind: FdHandle['kind'] = 'file'): FdHandle {
  if (kind !== 'file' && kind !== 'fs' && kind !== 'mount') throw invalidArgValue('kind', "must be 'file', 'fs' or 'mount'", kind);
  if (typeof fd !== 'number') throw invalidArgType('fd', 'of type number', fd);
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw outOfRange('fd', '>= 0 && <= 2147483647', fd);
  return native.adoptFd(fd, kind);
}

/** How many fds a finalizer had to close because their handle was garbage-collected while open. */
export function leakedFdCount(): number {
  return native.leakedFdCount();
}
