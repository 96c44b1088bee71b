/**
 * The kernel's on-disk vocabulary in a layer directory: whiteouts, opaque directories,
 * redirects (written), and metacopy and origin (read only: the kernel writes them, and a wrong
 * one gives ESTALE or undefined behaviour). The xattr namespace is chosen per call:
 * trusted.overlay.* (default) or user.overlay.* for layers of a userxattr mount.
 *
 * Every marker is an ordinary step (mknod, setxattr, removexattr); applyMarkers() runs
 * thousands of them in one native call. Each function has a Promise form and a …Sync form.
 */
import { constants } from 'node:os';
import { dirname } from 'node:path';
import { O, S } from '../sys/constants.js';
import { cString, invalidArgType, invalidArgValue } from '../sys/args.js';
import { removeTree, runAsync, runSync, steps, type Task } from '../sys/io.js';
import type { Step } from '../sys/steps.js';
import { OverlayError } from '../spec/errors.js';
import { readOverlayXattr, statPaths, xattrName, type XattrNamespace } from './paths.js';

export type { XattrNamespace };

const ENODATA = constants.errno.ENODATA;

export interface NamespaceOption {
  /** 'trusted' (default) or 'user' (layers of a userxattr mount). */
  namespace?: XattrNamespace;
}

function checkNamespace(ns: unknown): XattrNamespace {
  if (ns === undefined) return 'trusted';
  if (ns !== 'trusted' && ns !== 'user') throw invalidArgValue('namespace', "must be 'trusted' or 'user'", ns);
  return ns;
}

/** Refused because the kernel would ignore the marker where it was asked for. */
function markerError(path: string, message: string): OverlayError {
  return new OverlayError('ERR_OVERLAY_MARKER', message, { path });
}

/** Runs `task` on the calling thread and off it: a marker function's two forms. */
function both<A extends unknown[], R>(task: (...args: A) => Task<R>): readonly [(...args: A) => Promise<R>, (...args: A) => R] {
  return [async (...args: A) => runAsync(task(...args)), (...args: A) => runSync(task(...args))];
}

// ---- whiteouts ----

/** A device whiteout: a character device 0/0 (mode 000, as the kernel makes them). */
export const [createWhiteout, createWhiteoutSync] = both(function* (path: string): Task<void> {
  yield* steps([{ op: 'mknod', path: cString('path', path), mode: S.IFCHR }]);
});

export type WhiteoutKind = 'device' | 'xattr';

/**
 * Whether `path` is a whiteout: a 0/0 character device (including the kernel's own, which are
 * hard links to one shared whiteout inode), or a zero-size file with overlay.whiteout.
 * undefined when it is neither (or does not exist).
 */
export const [whiteoutKind, whiteoutKindSync] = both(function* (path: string, options: NamespaceOption = {}): Task<WhiteoutKind | undefined> {
  const [info] = yield* statPaths([cString('path', path)], ['whiteout'], checkNamespace(options.namespace), ['file']);
  if (info === undefined) return undefined;
  if (info.whiteoutDevice) return 'device';
  if (info.type === 'file' && info.size === 0 && info.xattr('whiteout') !== undefined) return 'xattr';
  return undefined;
});

export const [isWhiteout, isWhiteoutSync] = both(function* (path: string, options: NamespaceOption = {}): Task<boolean> {
  const [info] = yield* statPaths([cString('path', path)], ['whiteout'], checkNamespace(options.namespace), ['file']);
  return info !== undefined && (info.whiteoutDevice || (info.type === 'file' && info.size === 0 && info.xattr('whiteout') !== undefined));
});

export interface XattrWhiteoutOptions extends NamespaceOption {
  /**
   * Where the layer will sit. The kernel honours xattr whiteouts in readdir only in a lower
   * layer that is not the lowermost one, so 'upper' and 'lowermost' are refused.
   */
  layer: 'lower' | 'upper' | 'lowermost';
}

/**
 * An xattr whiteout (Linux 6.7): a zero-size file with overlay.whiteout, its parent marked
 * opaque=x so readdir hides it. For prepared lower layers, e.g. a layer stored on an overlay
 * where mknod(0/0) is refused.
 */
export const [createXattrWhiteout, createXattrWhiteoutSync] = both(function* (path: string, options: XattrWhiteoutOptions): Task<void> {
  cString('path', path);
  if (options?.layer !== 'lower') {
    throw markerError(
      path,
      options?.layer === 'upper'
        ? `an xattr whiteout in the upper layer is not hidden by readdir (it lists as '-?????????'); use createWhiteout() there`
        : `the kernel ignores xattr whiteouts in the lowermost layer: there is nothing below it to hide`,
    );
  }
  const ns = checkNamespace(options.namespace);
  // O_CREAT|O_EXCL never follows a symlink planted at `path`.
  yield* steps([{ op: 'open', path, flags: O.WRONLY | O.CREAT | O.EXCL, mode: 0o644 }]);
  try {
    yield* steps([{ op: 'setxattr', path, name: xattrName(ns, 'whiteout'), value: Buffer.alloc(0) }]);
  } catch (e) {
    // Without the xattr it is a plain empty file, which the merged view would show.
    yield* removeTree(path);
    throw e;
  }
  const parent = dirname(path);
  if ((yield* readOverlayXattr(parent, 'opaque', ns))?.toString() !== 'y') {
    yield* steps([{ op: 'setxattr', path: parent, name: xattrName(ns, 'opaque'), value: 'x' }]);
  }
});

// ---- opaque directories ----

export type Opaque = 'y' | 'x';

/** 'y' (hides the same-name directories below), 'x' (a merge dir holding xattr whiteouts), or undefined. */
export const [getOpaque, getOpaqueSync] = both(function* (dir: string, options: NamespaceOption = {}): Task<Opaque | undefined> {
  const v = (yield* readOverlayXattr(cString('dir', dir), 'opaque', checkNamespace(options.namespace)))?.toString();
  return v === 'y' || v === 'x' ? v : undefined;
});

/** Marks a directory opaque ('y', default) or as a merge dir holding xattr whiteouts ('x'). */
export const [setOpaque, setOpaqueSync] = both(function* (dir: string, value: Opaque = 'y', options: NamespaceOption = {}): Task<void> {
  if (value !== 'y' && value !== 'x') throw invalidArgValue('value', "must be 'y' or 'x'", value);
  const ns = checkNamespace(options.namespace);
  const [info] = yield* statPaths([cString('dir', dir)], [], ns);
  if (info === undefined) yield* steps([{ op: 'statx', path: dir }]); // the Node-shaped ENOENT
  if (info?.type !== 'dir') throw markerError(dir, `'${dir}' is not a directory: only directories can be opaque`);
  yield* steps([{ op: 'setxattr', path: dir, name: xattrName(ns, 'opaque'), value }]);
});

/** Removes the opaque mark; no error when there was none. */
export const [clearOpaque, clearOpaqueSync] = both(function* (dir: string, options: NamespaceOption = {}): Task<void> {
  yield* steps([{ op: 'removexattr', path: cString('dir', dir), name: xattrName(checkNamespace(options.namespace), 'opaque'), okErrno: ENODATA }]);
});

// ---- redirect ----

/** A relative name (same parent) or an absolute path from the layer root; undefined when unset. */
export const [getRedirect, getRedirectSync] = both(function* (path: string, options: NamespaceOption = {}): Task<string | undefined> {
  return (yield* readOverlayXattr(cString('path', path), 'redirect', checkNamespace(options.namespace)))?.toString();
});

/** The kernel's default redirect_max: longer absolute redirects are not followed. */
const REDIRECT_MAX = 256;

/** The rules setRedirect() applies, for one place to refuse a redirect the kernel would not follow. */
function checkRedirect(path: string, target: unknown): string {
  if (typeof target !== 'string' || target.length === 0 || target.includes('\0')) {
    throw markerError(path, 'a redirect must be a non-empty path without NUL bytes');
  }
  if (!target.startsWith('/') && target.includes('/')) {
    throw markerError(path, `a relative redirect is a name in the same directory, not a path: '${target}'`);
  }
  if (Buffer.byteLength(target) > REDIRECT_MAX) throw markerError(path, `a redirect longer than ${REDIRECT_MAX} bytes is not followed by the kernel`);
  return target;
}

export const [setRedirect, setRedirectSync] = both(function* (path: string, target: string, options: NamespaceOption = {}): Task<void> {
  yield* steps([{ op: 'setxattr', path: cString('path', path), name: xattrName(checkNamespace(options.namespace), 'redirect'), value: checkRedirect(path, target) }]);
});

// ---- metacopy and origin (read only) ----

export interface Metacopy {
  /** Empty xattr: a legacy metacopy without digest. */
  legacy: boolean;
  version?: number;
  flags?: number;
  /** fs-verity digest algorithm (1 = sha256, 2 = sha512) and digest. */
  digestAlgo?: number;
  digest?: Buffer;
}

/** The metacopy xattr of a file copied up metadata-only, or undefined. */
export const [getMetacopy, getMetacopySync] = both(function* (path: string, options: NamespaceOption = {}): Task<Metacopy | undefined> {
  const raw = yield* readOverlayXattr(cString('path', path), 'metacopy', checkNamespace(options.namespace));
  if (raw === undefined) return undefined;
  if (raw.length < 4) return { legacy: true };
  // struct ovl_metacopy { u8 version, len, flags, digest_algo; u8 digest[]; }
  return { legacy: false, version: raw[0]!, flags: raw[2]!, digestAlgo: raw[3]!, digest: raw.subarray(4, raw[1]!) };
});

export interface Origin {
  raw: Buffer;
  /** Zero-length origin: copied up, source unknown. */
  unknown: boolean;
  /** struct ovl_fb: format version, flags, file-handle type, the lower fs uuid and the handle. */
  version?: number;
  flags?: number;
  type?: number;
  uuid?: string;
  fid?: Buffer;
}

/** The origin xattr (file handle of the copy-up source), or undefined. */
export const [getOrigin, getOriginSync] = both(function* (path: string, options: NamespaceOption = {}): Task<Origin | undefined> {
  const raw = yield* readOverlayXattr(cString('path', path), 'origin', checkNamespace(options.namespace));
  if (raw === undefined) return undefined;
  if (raw.length === 0) return { raw, unknown: true };
  // struct ovl_fb { u8 version, magic (0xfb), len, flags, type; uuid_t uuid; u32 fid[]; }
  if (raw.length < 21 || raw[1] !== 0xfb) return { raw, unknown: false };
  const hex = raw.subarray(5, 21).toString('hex');
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { raw, unknown: false, version: raw[0]!, flags: raw[3]!, type: raw[4]!, uuid, fid: raw.subarray(21, raw[2]!) };
});

// ---- bulk ----

export type MarkerOp =
  | { op: 'whiteout'; path: string }
  | { op: 'opaque'; path: string; value?: Opaque }
  | { op: 'clear-opaque'; path: string }
  | { op: 'redirect'; path: string; target: string };

const OPAQUE_Y = Buffer.from('y');
const OPAQUE_X = Buffer.from('x');

/** The markers as steps, every op checked first with the rules of the single-marker functions. */
function markerSteps(ops: readonly MarkerOp[], ns: XattrNamespace): Step[] {
  if (!Array.isArray(ops)) throw invalidArgType('ops', 'an instance of Array', ops);
  const opaque = xattrName(ns, 'opaque');
  const redirect = xattrName(ns, 'redirect');
  return ops.map((o: MarkerOp | null | undefined, i): Step => {
    if (typeof o !== 'object' || o === null) throw invalidArgType(`ops[${i}]`, 'of type object', o);
    const path = cString(`ops[${i}].path`, o.path);
    switch (o.op) {
      case 'whiteout':
        return { op: 'mknod', path, mode: S.IFCHR };
      case 'opaque': {
        const value = o.value ?? 'y';
        if (value !== 'y' && value !== 'x') throw invalidArgValue(`ops[${i}].value`, "must be 'y' or 'x'", value);
        return { op: 'setxattr', path, name: opaque, value: value === 'y' ? OPAQUE_Y : OPAQUE_X };
      }
      case 'clear-opaque':
        return { op: 'removexattr', path, name: opaque, okErrno: ENODATA };
      case 'redirect':
        return { op: 'setxattr', path, name: redirect, value: checkRedirect(path, o.target) };
      default:
        throw invalidArgValue(`ops[${i}].op`, "must be 'whiteout', 'opaque', 'clear-opaque' or 'redirect'", (o as { op: unknown }).op);
    }
  });
}

/**
 * Many markers in ONE native call (applying a layer writes thousands). Every op is checked
 * before any is made; then it stops at the first failure: the error's `step` is the index of
 * the op that failed, and the ones before it are done.
 */
export const [applyMarkers, applyMarkersSync] = both(function* (ops: readonly MarkerOp[], options: NamespaceOption = {}): Task<void> {
  yield* steps(markerSteps(ops, checkNamespace(options.namespace)));
});
