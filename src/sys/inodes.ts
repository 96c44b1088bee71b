/** Filesystem nodes: mknod(2) for whiteouts, statx(2) with the mount id, and realpath(3). */
import { flagWord, uintUpTo } from './args.js';
import { STATX, type FlagArg } from './constants.js';
import type { FdHandle, StatxResult } from './native-types.js';
import { rawCall } from './steps.js';

export type { StatxResult };

export interface MknodOptions {
  dirfd?: FdHandle | number | null;
  /** Device numbers (0/0, the default, is a whiteout). */
  major?: number;
  minor?: number;
}

/**
 * mknodat(dirfd, path, mode, makedev(major, minor)). `mode` includes the type: a whiteout is
 * `S.IFCHR` with device 0/0 (no CAP_MKNOD needed for 0/0 since Linux 5.8). man 2 mknod.
 */
export const [mknod, mknodSync] = rawCall('mknod', (path: string, mode: number, options: MknodOptions = {}) => ({
  path,
  mode,
  dirfd: options.dirfd,
  // The kernel's dev_t: 12 bits of major, 20 of minor.
  major: uintUpTo('major', options.major, 0xfff),
  minor: uintUpTo('minor', options.minor, 0xfffff),
}));

export interface StatxOptions {
  dirfd?: FdHandle | number | null;
  /** AT.SYMLINK_NOFOLLOW, AT.EMPTY_PATH, ... */
  flags?: FlagArg<'AT'>;
  /** Default: STATX.BASIC_STATS | STATX.MNT_ID. Add STATX.MNT_ID_UNIQUE for the 64-bit id (6.8). */
  mask?: FlagArg<'STATX'>;
}

/** statx(2). `mountId` tells whether two paths are on the same mount. man 2 statx. */
export const [statx, statxSync] = rawCall('statx', (path: string, options: StatxOptions = {}) => ({
  path,
  dirfd: options.dirfd,
  flags: flagWord('flags', options.flags),
  mask: options.mask === undefined ? STATX.BASIC_STATS | STATX.MNT_ID : flagWord('mask', options.mask),
}));

/** realpath(3): the path with every symlink, '.' and '..' resolved as the kernel resolves them. */
export const [realpath, realpathSync] = rawCall('realpath', (path: string) => ({ path }));
