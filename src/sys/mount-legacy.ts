/** mount(2) and umount2(2); mount(2) from a directory without touching the process's cwd. */
import { flagWord } from './args.js';
import type { FlagArg } from './constants.js';
import type { FdHandle } from './native-types.js';
import { rawCall } from './steps.js';

export interface MountOptions {
  /** MS_* flags, passed through unchanged (MS.BIND, MS.REC, MS.REMOUNT, propagation, ...). */
  flags?: FlagArg<'MS'>;
  /** The option data. The kernel reads at most one page (4096 bytes, the last one NUL) and silently drops the rest. */
  data?: string | null;
  /**
   * Run mount(2) on a short-lived thread that first calls unshare(CLONE_FS) and fchdir(cwd), so
   * relative paths in `data` resolve from this directory while the process's cwd (and every
   * libuv pool thread's) stays as it was.
   */
  cwd?: FdHandle | number;
}

/** mount(source, target, fstype, flags, data). man 2 mount. */
export const [mount, mountSync] = rawCall('mount', (source: string | null, target: string, fstype: string | null, options: MountOptions = {}) => ({
  source,
  target,
  fstype,
  flags: flagWord('flags', options.flags),
  data: options.data,
  cwd: options.cwd,
}));

/** umount2(target, flags): MNT.FORCE, MNT.DETACH, MNT.EXPIRE, MNT.UMOUNT_NOFOLLOW. man 2 umount. */
export const [umount2, umount2Sync] = rawCall('umount2', (target: string, options: { flags?: FlagArg<'MNT'> } = {}) => ({
  target,
  flags: flagWord('flags', options.flags),
}));
