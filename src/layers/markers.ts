/**
 * The kernel's on-disk vocabulary in a layer directory: whiteouts, opaque directories,
 * redirects (written), and metacopy and origin (read only: the kernel writes them, and a wrong
 * one gives ESTALE or undefined behaviour). The xattr namespace is chosen per call:
 * trusted.overlay.* (default) or user.overlay.* for layers of a userxattr mount.
 */
import { lstatSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { native } from './binding.js';
import { S } from './constants.js';
import { isSystemError } from './errors.js';
import { readXattr, xattrName, type XattrNamespace } from './layers.js';
import { mknodSync } from './sys/node.js';
import { cString, invalidArgType, invalidArgValue } from './validate.js';
import { removexattrSync, setxattrSync } from './sys/xattr.js';

export type { XattrNamespace };

export interface NamespaceOption {
  /** 'trusted' (default) or 'user' (layers of a userxattr mount). */
  namespace?: XattrNamespace;
}

/** Refused because the kernel would ignore the marker where it was asked for. */
export class MarkerError extends Error {
  readonly code = 'ERR_OVERLAY_MARKER';
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.name = 'MarkerError';
    this.path = path;
  }
}

// ---- whiteouts ----

/** A device whiteout: a character device 0/0 (mode 000, as the kernel makes them). */
export function createWhiteout(path: string): void {
  mknodSync(path, S.IFCHR, 0, 0);
}

export type WhiteoutKind = 'device' | 'xattr';

/**
 * Whether `path` is a whiteout: a 0/0 character device (including the kernel's own, which are
 * hard links to one shared whiteout inode), or a zero-size file with overlay.whiteout.
 */
export function whiteoutKind(path: string, options: NamespaceOption = {}): WhiteoutKind | null {
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    if (isSystemError(e) && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) return null;
    throw e;
  }
  if (st.isCharacterDevice() && st.rdev === 0) return 'device';
  if (st.isFile() && st.size === 0 && readXattr(path, xattrName(checkNamespace(options.namespace), 'whiteout')) !== undefined) return 'xattr';
  return null;
}

export function isWhiteout(path: string, options: NamespaceOption = {}): boolean {
  return whiteoutKind(path, options) !== null;
}

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
export function createXattrWhiteout(path: string, options: XattrWhiteoutOptions): void {
  if (options.layer !== 'lower') {
    throw new MarkerError(
      path,
      options.layer === 'upper'
        ? `an xattr whiteout in the upper layer is not hidden by readdir (it lists as '-?????????'); use createWhiteout() there`
        : `the kernel ignores xattr whiteouts in the lowermost layer: there is nothing below it to hide`,
    );
  }
  const ns = checkNamespace(options.namespace);
  // 'wx' (O_CREAT|O_EXCL) never follows a symlink planted at `path`.
  writeFileSync(path, '', { flag: 'wx' });
  try {
    setxattrSync(path, xattrName(ns, 'whiteout'), Buffer.alloc(0));
  } catch (e) {
    // Without the xattr it is a plain empty file, which the merged view would show.
    unlinkSync(path);
    throw e;
  }
  const parent = dirname(path);
  if (getOpaque(parent, options) !== 'y') setxattrSync(parent, xattrName(ns, 'opaque'), 'x');
}

// ---- opaque directories ----

export type Opaque = 'y' | 'x';

/** 'y' (hides the same-name directories below), 'x' (a merge dir holding xattr whiteouts), or null. */
export function getOpaque(dir: string, options: NamespaceOption = {}): Opaque | null {
  const v = readXattr(dir, xattrName(checkNamespace(options.namespace), 'opaque'))?.toString();
  return v === 'y' || v === 'x' ? v : null;
}

export function setOpaque(dir: string, value: Opaque = 'y', options: NamespaceOption = {}): void {
  if (value !== 'y' && value !== 'x') throw invalidArgValue('value', "must be 'y' or 'x'", value);
  if (!lstatSync(dir).isDirectory()) throw new MarkerError(dir, `'${dir}' is not a directory: only directories can be opaque`);
  setxattrSync(dir, xattrName(checkNamespace(options.namespace), 'opaque'), value);
}

/** Removes the opaque mark; no error when there was none. */
export function clearOpaque(dir: string, options: NamespaceOption = {}): void {
  try {
    removexattrSync(dir, xattrName(checkNamespace(options.namespace), 'opaque'));
  } catch (e) {
    if (!(isSystemError(e) && e.code === 'ENODATA')) throw e;
  }
}

// ---- redirect ----

/** A relative name (same parent) or an absolute path from the layer root; null when unset. */
export function getRedirect(path: string, options: NamespaceOption = {}): string | null {
  return readXattr(path, xattrName(checkNamespace(options.namespace), 'redirect'))?.toString() ?? null;
}

/** The kernel's default redirect_max: longer absolute redirects are not followed. */
const REDIRECT_MAX = 256;

export function setRedirect(path: string, target: string, options: NamespaceOption = {}): void {
  setxattrSync(path, xattrName(checkNamespace(options.namespace), 'redirect'), checkRedirect(path, target));
}

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

/** The metacopy xattr of a file copied up metadata-only, or null. */
export function getMetacopy(path: string, options: NamespaceOption = {}): Metacopy | null {
  const raw = readXattr(path, xattrName(checkNamespace(options.namespace), 'metacopy'));
  if (raw === undefined) return null;
  if (raw.length < 4) return { legacy: true };
  // struct ovl_metacopy { u8 version, len, flags, digest_algo; u8 digest[]; }
  return { legacy: false, version: raw[0]!, flags: raw[2]!, digestAlgo: raw[3]!, digest: raw.subarray(4, raw[1]!) };
}

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

/** The origin xattr (file handle of the copy-up source), or null. */
export function getOrigin(path: string, options: NamespaceOption = {}): Origin | null {
  const raw = readXattr(path, xattrName(checkNamespace(options.namespace), 'origin'));
  if (raw === undefined) return null;
  if (raw.length === 0) return { raw, unknown: true };
  // struct ovl_fb { u8 version, magic (0xfb), len, flags, type; uuid_t uuid; u32 fid[]; }
  if (raw.length < 21 || raw[1] !== 0xfb) return { raw, unknown: false };
  const hex = raw.subarray(5, 21).toString('hex');
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { raw, unknown: false, version: raw[0]!, flags: raw[3]!, type: raw[4]!, uuid, fid: raw.subarray(21, raw[2]!) };
}

// ---- bulk ----

export type MarkerOp =
  | { op: 'whiteout'; path: string }
  | { op: 'opaque'; path: string; value?: Opaque }
  | { op: 'clear-opaque'; path: string }
  | { op: 'redirect'; path: string; target: string };

function checkNamespace(ns: unknown): XattrNamespace {
  if (ns === undefined) return 'trusted';
  if (ns !== 'trusted' && ns !== 'user') throw invalidArgValue('namespace', "must be 'trusted' or 'user'", ns);
  return ns;
}

/** The rules setRedirect() applies, for one place to refuse a redirect the kernel would not follow. */
function checkRedirect(path: string, target: unknown): string {
  if (typeof target !== 'string' || target.length === 0 || target.includes('\0')) {
    throw new MarkerError(path, 'a redirect must be a non-empty path without NUL bytes');
  }
  if (!target.startsWith('/') && target.includes('/')) {
    throw new MarkerError(path, `a relative redirect is a name in the same directory, not a path: '${target}'`);
  }
  if (Buffer.byteLength(target) > REDIRECT_MAX) throw new MarkerError(path, `a redirect longer than ${REDIRECT_MAX} bytes is not followed by the kernel`);
  return target;
}

type PackedMarkers = [ops: Uint32Array, paths: string[], names: string[], values: Buffer[]];

/**
 * The markers as the addon's runMarkers() takes them: per op a kind (0 mknod c 0 0, 1 setxattr,
 * 2 removexattr of an xattr that may be absent), a name index and a value index. Every op is
 * checked first, with the same rules as the single-marker functions.
 */
function packMarkers(ops: readonly MarkerOp[], ns: XattrNamespace): PackedMarkers {
  if (!Array.isArray(ops)) throw invalidArgType('ops', 'an instance of Array', ops);
  const n = ops.length;
  const packed = new Uint32Array(3 * n);
  const paths = new Array<string>(n);
  const names = [xattrName(ns, 'opaque'), xattrName(ns, 'redirect')];
  const values: Buffer[] = [Buffer.from('y'), Buffer.from('x')];
  for (let i = 0; i < n; i++) {
    const o = ops[i] as MarkerOp | null | undefined;
    if (typeof o !== 'object' || o === null) throw invalidArgType(`ops[${i}]`, 'of type object', o);
    paths[i] = cString(`ops[${i}].path`, o.path);
    switch (o.op) {
      case 'whiteout':
        break;
      case 'opaque': {
        const value = o.value ?? 'y';
        if (value !== 'y' && value !== 'x') throw invalidArgValue(`ops[${i}].value`, "must be 'y' or 'x'", value);
        packed[3 * i] = 1;
        packed[3 * i + 2] = value === 'y' ? 0 : 1;
        break;
      }
      case 'clear-opaque':
        packed[3 * i] = 2;
        break;
      case 'redirect':
        packed[3 * i] = 1;
        packed[3 * i + 1] = 1;
        packed[3 * i + 2] = values.push(Buffer.from(checkRedirect(o.path, o.target))) - 1;
        break;
      default:
        throw invalidArgValue(`ops[${i}].op`, "must be 'whiteout', 'opaque', 'clear-opaque' or 'redirect'", (o as { op: unknown }).op);
    }
  }
  return [packed, paths, names, values];
}

/**
 * Many markers in ONE native call (applying a layer writes thousands). Every op is checked
 * before any is made; then it stops at the first failure: the error's `step` is the index of
 * the op that failed, and the ones before it are done.
 */
export async function applyMarkers(ops: readonly MarkerOp[], options: NamespaceOption = {}): Promise<void> {
  await native.runMarkers(...packMarkers(ops, checkNamespace(options.namespace)));
}

export function applyMarkersSync(ops: readonly MarkerOp[], options: NamespaceOption = {}): void {
  native.runMarkersSync(...packMarkers(ops, checkNamespace(options.namespace)));
}

