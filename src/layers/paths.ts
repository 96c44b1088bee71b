/**
 * What layer readers need to know of a path, asked in bulk: its type (and device numbers, for
 * whiteouts) and the overlay xattrs it has, for many paths in two native calls (a statx and an
 * llistxattr of each, then a getxattr of each overlay xattr that is there). One call per path
 * would cost a thread-pool hop each in the Promise forms.
 */
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
  type: PathType;
  size: number;
  /** A character device 0/0: a whiteout. */
  whiteoutDevice: boolean;
  /** Reads an overlay xattr ('opaque', 'redirect', ...) in the namespace asked for. */
  xattr(name: string): Buffer | undefined;
}

const S_IFLNK = 0o120000;

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

/**
 * lstat and the overlay xattrs (`names`, short: 'opaque', 'redirect', ...) of each path;
 * undefined for a path that does not exist. Xattrs are read only for the types in `xattrsOf`.
 */
export function* statPaths(paths: readonly string[], names: readonly string[], ns: ReadNamespace, xattrsOf: readonly PathType[] = ['dir', 'file']): Task<Array<PathInfo | undefined>> {
  if (paths.length === 0) return [];
  const first: Step[] = [];
  for (const path of paths) {
    first.push({ op: 'statx', path, flags: AT.SYMLINK_NOFOLLOW, mask: STATX.BASIC_STATS, recordError: true });
    first.push({ op: 'listxattr', path, recordError: true });
  }
  const r1 = (yield* steps(first)).results;
  const full = names.map((n) => xattrNames(ns, n));
  const reads: Step[] = [];
  const readOf: Array<Array<[string, number]>> = paths.map(() => []);
  const infos: Array<PathInfo | undefined> = paths.map((path, i) => {
    const st = r1[2 * i];
    if (st instanceof Error) {
      if (absent(st)) return undefined;
      throw st;
    }
    const s = st as StatxResult;
    const type = typeOf(s.mode);
    const listed = r1[2 * i + 1];
    if (xattrsOf.includes(type) && Array.isArray(listed) && listed.length > 0) {
      for (const variants of full) {
        for (const name of variants) {
          if (!listed.includes(name)) continue;
          readOf[i]!.push([name, reads.length]);
          reads.push({ op: 'getxattr', path, name, recordError: true });
        }
      }
    }
    return { type, size: s.size, whiteoutDevice: type === 'chr' && s.rdevMajor === 0 && s.rdevMinor === 0, xattr: () => undefined };
  });
  const r2 = reads.length > 0 ? (yield* steps(reads)).results : [];
  infos.forEach((info, i) => {
    if (!info || readOf[i]!.length === 0) return;
    const values = new Map<string, Buffer>();
    for (const [name, k] of readOf[i]!) {
      const v = r2[k];
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

/** One overlay xattr of one path, or undefined when absent (or the filesystem has none). */
export function* readOverlayXattr(path: string, name: string, ns: ReadNamespace): Task<Buffer | undefined> {
  const { results } = yield* steps(xattrNames(ns, name).map((n): Step => ({ op: 'getxattr', path, name: n, recordError: true })));
  for (const r of results) {
    if (Buffer.isBuffer(r)) return r;
    if (r instanceof Error && !(isSystemError(r) && (r.code === 'ENODATA' || r.code === 'ENOTSUP' || r.code === 'EOPNOTSUPP'))) throw r;
  }
  return undefined;
}
