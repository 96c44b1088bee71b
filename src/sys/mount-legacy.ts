/** mount(2) and umount2(2), and mount(2) from a directory without touching the process's cwd. */
import { native } from '../binding.js';
import type { FdHandle } from '../native-types.js';
import { cString, fd, flags, optionalCString } from '../validate.js';
import { pair } from './pair.js';

/**
 * mount(source, target, fstype, flags, data): every MS_* flag passes through. The kernel reads
 * at most one page (4096 bytes, last one NUL) of `data` and silently drops the rest. man 2 mount.
 */
export const [mount, mountSync] = pair(
  (source: string | null, target: string, fstype: string | null, mountFlags?: number, data?: string | null) =>
    [
      optionalCString('source', source),
      cString('target', target),
      optionalCString('fstype', fstype),
      flags('flags', mountFlags),
      optionalCString('data', data),
    ] as const,
  native.mount,
  native.mountSync,
);

/**
 * mount(2) on a dedicated short-lived thread that first calls unshare(CLONE_FS) and
 * fchdir(dir), so relative paths in `data` resolve from `dir` while the process's cwd (and
 * every libuv pool thread's) stays as it was.
 */
export const [mountInDir, mountInDirSync] = pair(
  (
    dir: FdHandle | number,
    source: string | null,
    target: string,
    fstype: string | null,
    mountFlags?: number,
    data?: string | null,
  ) =>
    [
      fd('dir', dir),
      optionalCString('source', source),
      cString('target', target),
      optionalCString('fstype', fstype),
      flags('flags', mountFlags),
      optionalCString('data', data),
    ] as const,
  native.mountInDir,
  native.mountInDirSync,
);

/** umount2(target, flags): MNT.FORCE, MNT.DETACH, MNT.EXPIRE, MNT.UMOUNT_NOFOLLOW. man 2 umount. */
export const [umount2, umount2Sync] = pair(
  (target: string, umountFlags?: number) => [cString('target', target), flags('flags', umountFlags)] as const,
  native.umount2,
  native.umount2Sync,
);
