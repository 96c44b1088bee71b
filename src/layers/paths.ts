/**
 * What layer readers need to know of a path, asked in bulk: its type (and device numbers, for
 * whiteouts) and the overlay xattrs it has, for many paths in one or two native calls (a statx
 * and an llistxattr of each path that needs them, then a getxattr of each overlay xattr that is
 * there). One call per path would cost a thread-pool hop each in the Promise forms.
 */
import { constants } from 'node:os';
import { AT, S, STATX } from '../sys/constants.js';
import { isSystemError } from '../sys/errors.js';
import { steps, type Task } from '../sys/io.js';
import type { StatxResult } from '../sys/native-types.js';
import type { Step } from '../sys/steps.js';

/** Which xattr namespace the layers use: trusted.overlay.* (default) or user.overlay.* (userxattr). */
export type XattrNamespace = 'trusted' | 'user';

/** For readers: one namespace, or 'auto' to accept either (trusted first). */
export type ReadNamespace = XattrNamespace | 'auto';

export function xattrName(ns: XattrNamespace, name: string): string {
  return `${ns}.overlay.${name}`;
}

/** The full xattr names `name` may have in namespace `ns` ('auto': trusted, then user). */
export function xattrNames(ns: ReadNamespace, name: string): string[] {
  return ns === 'auto' ? [xattrName('trusted', name), xattrName('user', name)] : [xattrName(ns, name)];
}

export type PathType = 'dir' | 'file' | 'symlink' | 'chr' | 'other';

export interface PathInfo {
  /** From lstat; undefined when the type was not asked for. */
  type?: PathType;
  size: number;
  /** A character device 0/0: a whiteout. */
  whiteoutDevice: boolean;
  /** Reads an overlay xattr ('opaque', 'redirect', ...) in the namespace asked for. */
  xattr(name: string): Buffer | undefined;
}

/** What to ask of one path: its lstat, its overlay xattrs, or both. */
export interface PathQuestion {
  /** A string, or bytes for a name that is not UTF-8. */
  path: string | Buffer;
  stat: boolean;
  xattrs: boolean;
}

const S_IFLNK = 0o120000;
const ENOENT = constants.errno.ENOENT;
const NONE = (): undefined => undefined;

function typeOf(mode: number): PathType {
  switch (mode & S.IFMT) {
    case S.IFDIR:
      return 'dir';
    case S.IFREG:
      return 'file';
    case S_IFLNK:
      return 'symlink';
    case S.IFCHR:
      return 'chr';
    default:
      return 'other';
  }
}

const absent = (e: unknown) => isSystemError(e) && (e.code === 'ENOENT' || e.code === 'ENOTDIR');
/** A filesystem without xattrs, or a path whose xattrs are none of our business (a device). */
const noXattrs = (e: unknown) => isSystemError(e) && (e.code === 'ENOTSUP' || e.code === 'EOPNOTSUPP');

/**
 * Answers `questions` about paths (undefined for a path that does not exist); `names` are the
 * overlay xattrs to read ('opaque', 'redirect', ...), in namespace `ns`.
 */
export function* askPaths(
  questions: readonly PathQuestion[],
  names: readonly string[],
  ns: ReadNamespace,
  /** Other steps to run in the same first batch; their results are put in `results`. */
  extra?: { steps: readonly Step[]; results?: unknown[] },
  /** The types whose xattrs are read, of paths asked for both. */
  xattrsOf: readonly PathType[] = ['dir', 'file'],
): Task<Array<PathInfo | undefined>> {
  if (questions.length === 0 && !extra?.steps.length) return [];
  // Up to three rounds, each one batch for every path: lstat; then llistxattr of the paths that
  // exist and may carry overlay xattrs (most lookups in lower layers miss, and a miss costs one
  // statx, answered ENOENT without an error made for it); then getxattr of the ones listed.
  const first: Step[] = [...(extra?.steps ?? [])];
  const statAt = questions.map((q) => (q.stat ? first.push({ op: 'statx', path: q.path, flags: AT.SYMLINK_NOFOLLOW, mask: STATX.BASIC_STATS, okErrno: ENOENT, recordError: true }) - 1 : -1));
  const listAt = questions.map(() => -1);
  const listNow = questions.map((q) => !q.stat && q.xattrs);
  questions.forEach((q, i) => {
    if (listNow[i]) listAt[i] = first.push({ op: 'listxattr', path: q.path, okErrno: ENOENT, recordError: true }) - 1;
  });
  const r1 = first.length > 0 ? (yield* steps(first)).results : [];
  if (extra) extra.results = r1.slice(0, extra.steps.length);

  const infos: Array<PathInfo | undefined> = questions.map((_, i) => {
    if (statAt[i]! < 0) return { size: 0, whiteoutDevice: false, xattr: NONE };
    const st = r1[statAt[i]!];
    if (st === undefined) return undefined;
    if (st instanceof Error) {
      if (absent(st)) return undefined;
      throw st;
    }
    const s = st as StatxResult;
    const type = typeOf(s.mode);
    return { type, size: s.size, whiteoutDevice: type === 'chr' && s.rdevMajor === 0 && s.rdevMinor === 0, xattr: NONE };
  });

  const second: Step[] = [];
  const listedIn = questions.map((): unknown[] => r1);
  questions.forEach((q, i) => {
    const info = infos[i];
    if (listNow[i] || !q.xattrs || info?.type === undefined || !xattrsOf.includes(info.type)) return;
    listAt[i] = second.push({ op: 'listxattr', path: q.path, okErrno: ENOENT, recordError: true }) - 1;
    listedIn[i] = second;
  });
  const r2 = second.length > 0 ? (yield* steps(second)).results : [];

  const full = names.map((n) => xattrNames(ns, n));
  const reads: Step[] = [];
  const readOf: Array<Array<[string, number]>> = questions.map(() => []);
  questions.forEach((q, i) => {
    if (listAt[i]! < 0 || infos[i] === undefined) return;
    const listed = (listedIn[i] === second ? r2 : r1)[listAt[i]!];
    if (listed === undefined && listNow[i]) {
      infos[i] = undefined; // listxattr said ENOENT: the path is gone
      return;
    }
    if (listed instanceof Error) {
      if (absent(listed) && listNow[i]) {
        infos[i] = undefined;
        return;
      }
      if (!absent(listed) && !noXattrs(listed)) throw listed;
    }
    if (!Array.isArray(listed) || listed.length === 0) return;
    for (const variants of full) {
      for (const name of variants) {
        if (!listed.includes(name)) continue;
        readOf[i]!.push([name, reads.length]);
        reads.push({ op: 'getxattr', path: q.path, name, recordError: true });
      }
    }
  });
  const r3 = reads.length > 0 ? (yield* steps(reads)).results : [];
  infos.forEach((info, i) => {
    if (!info || readOf[i]!.length === 0) return;
    const values = new Map<string, Buffer>();
    for (const [name, k] of readOf[i]!) {
      const v = r3[k];
      if (Buffer.isBuffer(v)) values.set(name, v);
    }
    info.xattr = (name) => {
      for (const n of xattrNames(ns, name)) {
        const v = values.get(n);
        if (v !== undefined) return v;
      }
      return undefined;
    };
  });
  return infos;
}

/**
 * lstat and the overlay xattrs (`names`) of each path; undefined for a path that does not
 * exist. Xattrs are read only for the types in `xattrsOf`.
 */
export function* statPaths(paths: ReadonlyArray<string | Buffer>, names: readonly string[], ns: ReadNamespace, xattrsOf: readonly PathType[] = ['dir', 'file']): Task<Array<PathInfo | undefined>> {
  return yield* askPaths(
    paths.map((path) => ({ path, stat: true, xattrs: names.length > 0 })),
    names,
    ns,
    undefined,
    xattrsOf,
  );
}
/** One overlay xattr of one path, or undefined when absent (or the filesystem has none). */
export function* readOverlayXattr(path: string | Buffer, name: string, ns: ReadNamespace): Task<Buffer | undefined> {
  const { results } = yield* steps(xattrNames(ns, name).map((n): Step => ({ op: 'getxattr', path, name: n, recordError: true })));
  for (const r of results) {
    if (Buffer.isBuffer(r)) return r;
    if (r instanceof Error && !(isSystemError(r) && (r.code === 'ENODATA' || r.code === 'ENOTSUP' || r.code === 'EOPNOTSUPP'))) throw r;
  }
  return undefined;
}
