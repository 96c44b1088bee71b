/** Filesystem nodes: mknod(2) for whiteouts and statx(2) with the mount id. */
import { native } from '../binding.js';
import { STATX } from '../constants.js';
import type { FdHandle, StatxResult } from '../native-types.js';
import { cString, dirFd, flags, uint } from '../validate.js';
import { pair } from './pair.js';

export type { StatxResult };

/**
 * mknodat(dirfd, path, mode, makedev(major, minor)). `mode` includes the type: a whiteout is
 * `S.IFCHR | 0o000` with device 0/0 (no CAP_MKNOD needed for 0/0 since Linux 5.8). man 2 mknod.
 */
export const [mknod, mknodSync] = pair(
  (path: string, mode: number, major: number, minor: number, options: { dirfd?: FdHandle | number | null } = {}) =>
    [
      dirFd('dirfd', options.dirfd),
      cString('path', path),
      flags('mode', mode),
      uint('major', major, 0xfff),
      uint('minor', minor, 0xfffff),
    ] as const,
  native.mknod,
  native.mknodSync,
);

export interface StatxOptions {
  dirfd?: FdHandle | number | null;
  /** AT.SYMLINK_NOFOLLOW, AT.EMPTY_PATH, ... */
  flags?: number;
  /** Default: STATX.BASIC_STATS | STATX.MNT_ID. Add STATX.MNT_ID_UNIQUE for the 64-bit id (6.8). */
  mask?: number;
}

const statxArgs = (path: string, options: StatxOptions = {}): Parameters<typeof native.statx> => [
  dirFd('dirfd', options.dirfd),
  cString('path', path),
  flags('flags', options.flags),
  options.mask === undefined ? STATX.BASIC_STATS | STATX.MNT_ID : flags('mask', options.mask),
];

/** statx(2). `mountId` tells whether two paths are on the same mount. man 2 statx. */
export const statx = async (path: string, options: StatxOptions = {}): Promise<StatxResult> => native.statx(...statxArgs(path, options));

// The sync form reads the fields from one array and makes the object here: the addon setting
// thirteen properties costs more than the syscall, and validation stats every layer.
const fields = new Float64Array(13);

/** statx(2) on the calling thread. */
export function statxSync(path: string, options: StatxOptions = {}): StatxResult {
  native.statxSync(...statxArgs(path, options), fields);
  const st: StatxResult = {
    mask: fields[0]!,
    mode: fields[1]!,
    nlink: fields[2]!,
    uid: fields[3]!,
    gid: fields[4]!,
    ino: fields[5]!,
    size: fields[6]!,
    devMajor: fields[7]!,
    devMinor: fields[8]!,
    rdevMajor: fields[9]!,
    rdevMinor: fields[10]!,
  };
  if (!Number.isNaN(fields[11])) {
    st.mountId = fields[11]!;
    st.mountIdUnique = fields[12] === 1;
  }
  return st;
}
