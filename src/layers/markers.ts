/**
 * The kernel's on-disk vocabulary in a layer directory: whiteouts, opaque directories,
 * redirects (written), and metacopy and origin (read only: the kernel writes them, and a wrong
 * one gives ESTALE or undefined behaviour). The xattr namespace is chosen per call:
 * trusted.overlay.* (default) or user.overlay.* for layers of a userxattr mount.
 *
 * A marker is written where its path is, and nowhere else. Each write is one batch: it opens
 * the parent directory (openat2 with RESOLVE_NO_SYMLINKS, beneath the layer `root` when one is
 * given), refuses it when it is on a mounted overlay (a refuseFsType step: through the merged
 * view a marker is an escaped xattr the kernel ignores), then makes the marker relative to that
 * fd: mknodat, or fsetxattr on the entry opened O_NOFOLLOW and kept on the parent's mount
 * (RESOLVE_NO_XDEV), one fsetxattrAt step. applyMarkers() runs thousands in one native call,
 * each parent opened and checked once. Each function has a Promise form and a …Sync form.
 *
 * Only a path's last component is split off here; the kernel resolves the rest as written, so a
 * '..' after a symbolic link means the link target's parent (and is refused with the link, when
 * no link may be followed), never the text before it. Paths are strings, or Buffers (bytes, as
 * Node's fs takes them) for names that are not UTF-8.
 */
import { constants } from 'node:os';
import { O, RESOLVE, S } from '../sys/constants.js';
import { bool, cPath, invalidArgType, invalidArgValue } from '../sys/args.js';
import { createSystemError, isSystemError, rawErrorOf, type SystemError } from '../sys/errors.js';
import { removeTree, runAsync, runSync, steps, type Task } from '../sys/io.js';
import type { FdHandle } from '../sys/native-types.js';
import type { Step } from '../sys/steps.js';
import { OverlayError } from '../spec/errors.js';
import { OVERLAYFS_SUPER_MAGIC } from '../spec/options.js';
import { readOverlayXattr, statPaths, xattrName, type XattrNamespace } from './paths.js';

export type { XattrNamespace };

const { ENODATA, ELOOP, EXDEV, ENOSYS, ENOTDIR } = constants.errno;
/** What a refuseFsType step fails with (asm-generic errno.h; os.constants lacks it). */
const EMEDIUMTYPE = 124;

export interface NamespaceOption {
  /** 'trusted' (default) or 'user' (layers of a userxattr mount). */
  namespace?: XattrNamespace;
}

/** Where a marker writer may write: how its path is resolved. */
export interface MarkerPathOptions {
  /**
   * The layer directory the path is in. The path must begin with it, as text ('//' and '.'
   * components aside; refused before any syscall otherwise), and is resolved beneath it with
   * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): no symlink below root is followed, and a
   * '..' that leads out of root is refused (EXDEV). root itself may be reached through a link.
   * A Buffer (its bytes) for a name that is not UTF-8, as the paths themselves may be.
   */
  root?: string | Buffer;
  /**
   * Follow symlinks in the directories above the marker (beneath `root`, when given, only
   * while they stay inside it). Default false: a symlink anywhere in the parent chain is
   * refused (ELOOP). The marker's own name is never followed.
   */
  followSymlinks?: boolean;
}

/** The options of the writers that take an xattr namespace. */
export interface MarkerWriteOptions extends NamespaceOption, MarkerPathOptions {}

function checkNamespace(ns: unknown): XattrNamespace {
  if (ns === undefined) return 'trusted';
  if (ns !== 'trusted' && ns !== 'user') throw invalidArgValue('namespace', "must be 'trusted' or 'user'", ns);
  return ns;
}

/** Refused because the kernel would ignore the marker where it was asked for. */
function markerError(path: string, message: string): OverlayError {
  return new OverlayError('ERR_OVERLAY_MARKER', message, { path });
}

// ---- where a marker is written ----

/** A path as the writers take it: a string, or its bytes for a name that is not UTF-8. */
type PathArg = string | Buffer;

/** A path as errors and messages name it: a Buffer's bytes read as UTF-8, as Node's fs errors do. */
function shown(p: PathArg): string {
  return typeof p === 'string' ? p : p.toString();
}

/**
 * A path as text to take apart: a string as it is, or bytes one latin1 character each, so that
 * '/' and '.' are found as bytes ('bytes' form). `bytes`: a string is wanted in that form too.
 */
function textOf(p: PathArg, bytes: boolean): string {
  return typeof p !== 'string' ? p.toString('latin1') : bytes ? Buffer.from(p).toString('latin1') : p;
}

/** Text back to a path for the kernel: bytes as a Buffer, unless they are ASCII (the same as text). */
function fromText(t: string, bytes: boolean): PathArg {
  return bytes && NOT_ASCII.test(t) ? Buffer.from(t, 'latin1') : t;
}
const NOT_ASCII = /[^\x00-\x7f]/;

interface Where {
  /** The layer root as the caller gave it (opened as named); undefined: no root. */
  root: PathArg | undefined;
  /**
   * The root absolute, with no '//' or '.' component (its '..' kept): the prefix paths must
   * have, as a string (undefined when root is a Buffer) and in the bytes form.
   */
  rootPrefix: string | undefined;
  rootBytes: string | undefined;
  follow: boolean;
}

/**
 * `p` (text) absolute, without a '//' or a '.' component, its '..' kept: the kernel's meaning,
 * with only what does not change it taken out. A '..' is never collapsed with the name before
 * it: that name may be a symbolic link, and '..' is then the link target's parent (the
 * kernel's to resolve).
 */
function absolute(p: string, bytes: boolean): string {
  const abs = p.charCodeAt(0) === 47 ? p : `${cwdText(bytes)}/${p}`;
  if (!NOT_PLAIN.test(abs)) return abs;
  const parts = abs.split('/').filter((c) => c !== '' && c !== '.');
  return `/${parts.join('/')}`;
}

function cwdText(bytes: boolean): string {
  return textOf(process.cwd(), bytes);
}

function checkWhere(options: MarkerPathOptions | undefined): Where {
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw invalidArgType('options', 'of type object', options);
  const follow = bool('followSymlinks', options?.followSymlinks);
  if (options?.root === undefined) return { root: undefined, rootPrefix: undefined, rootBytes: undefined, follow };
  const root = cPath('root', options.root);
  if (root.length === 0) throw invalidArgValue('root', 'must not be empty', root);
  return {
    root,
    rootPrefix: typeof root === 'string' ? absolute(root, false) : undefined,
    rootBytes: absolute(textOf(root, true), true),
    follow,
  };
}

/** A '//', a '.' or '..' component, or a trailing '/': what the slow path of locate() takes apart. */
const NOT_PLAIN = /\/\/|\/\.\.?(?:\/|$)|.\/$/;

/** A marker's path split for the *at calls: its parent directory and its name there. */
interface Located {
  /** As the caller gave it (errors name it; a Buffer read as UTF-8). */
  path: string;
  /** Absolute, or relative to the root ('.' for the root itself); may hold '..' (the kernel resolves it). */
  parent: PathArg;
  /** The parent as a key: the same key, the same directory (opened once). */
  key: string;
  /** The last component; '.' for the root (or '/') itself. Never '..'. */
  name: PathArg;
  /** Written with a trailing '/': it must be a directory (as the kernel reads such a path). */
  dir: boolean;
}

/**
 * Where `path` is, checked before any syscall: beneath `where.root` when there is one (its text
 * must begin with the root's; a '..' that leads out of the root is the kernel's to refuse,
 * RESOLVE_BENEATH). Only the last component is split off; the kernel resolves the rest as
 * written. `entry`: the marker is a new entry (a whiteout), so it cannot be the root itself.
 * A Buffer is split as bytes (so is a string, when the root is a Buffer).
 */
function locate(field: string, path: PathArg, where: Where, entry: boolean): Located {
  if (path.length === 0) throw invalidArgValue(field, 'must not be empty', path);
  const bytes = typeof path !== 'string' || (where.root !== undefined && where.rootPrefix === undefined);
  const text = textOf(path, bytes);
  const abs = text.charCodeAt(0) === 47 ? text : `${cwdText(bytes)}/${text}`;
  let parent: string;
  let name: string;
  let dir = false;
  if (abs.length > 1 && !NOT_PLAIN.test(abs)) {
    const slash = abs.lastIndexOf('/');
    parent = slash === 0 ? '/' : abs.slice(0, slash);
    name = abs.slice(slash + 1);
  } else {
    // Trailing slashes off, then the last component as written: '.' or '..' names no entry.
    let end = abs.length;
    while (end > 1 && abs.charCodeAt(end - 1) === 47) end--;
    const slash = abs.lastIndexOf('/', end - 1);
    name = abs.slice(slash + 1, end);
    if (name === '.' || name === '..') {
      throw invalidArgValue(field, "ends in '.' or '..': that names no entry of its own (give the directory by its own name)", path);
    }
    dir = end < abs.length;
    if (dir && entry) throw invalidArgValue(field, "ends in '/': that names a directory, and a whiteout is not one", path);
    parent = absolute(abs.slice(0, slash + 1), bytes);
    if (name === '') name = '.'; // '/' itself
  }
  const root = bytes ? where.rootBytes : where.rootPrefix;
  if (root !== undefined) {
    const full = name === '.' ? parent : parent === '/' ? `/${name}` : `${parent}/${name}`;
    if (full === root) {
      if (entry) throw invalidArgValue(field, `is not inside root '${shown(where.root!)}' (it is the root itself)`, path);
      parent = name = '.';
    } else if (root === '/') parent = parent === '/' ? '.' : parent.slice(1);
    else if (parent === root) parent = '.';
    else if (parent.length > root.length && parent.charCodeAt(root.length) === 47 && parent.startsWith(root)) parent = parent.slice(root.length + 1);
    else throw invalidArgValue(field, `is not inside root '${shown(where.root!)}'`, path);
  }
  const p = fromText(parent, bytes);
  return { path: shown(path), parent: p, key: typeof p === 'string' ? parent : `\0${parent}`, name: fromText(name, bytes), dir };
}

/** The text before the last component of `p` (trailing '/' aside), as written: '/' or '.' when there is none. */
function parentText(p: string): string {
  let end = p.length;
  while (end > 1 && p.charCodeAt(end - 1) === 47) end--;
  let cut = p.lastIndexOf('/', end - 1);
  if (cut < 0) return '.';
  while (cut > 0 && p.charCodeAt(cut - 1) === 47) cut--;
  return cut === 0 ? '/' : p.slice(0, cut);
}

const PARENT_FLAGS = O.PATH | O.DIRECTORY;
/** The entry an xattr is written on: fsetxattr refuses an O_PATH fd (EBADF), so it is opened. */
const ENTRY_FLAGS = O.RDONLY | O.NOFOLLOW | O.NONBLOCK;

/** What a step of a marker batch is for, to tell which rule a failure broke. */
type Role = 'root' | 'parent' | 'entry' | 'check' | 'write';
/** What a step works on: the error of a failed one names it (the root, the parent, or the marker). */
type Subject = 'root' | 'parent' | 'marker';

/** The step a marker batch failed at. */
interface Failure {
  step: number;
  role: Role;
  subject: Subject;
  /** The op it belongs to, and that op's path. */
  op: number;
  o: Located;
  err: SystemError;
}

/**
 * The steps of marker writes, built op by op: each parent directory opened and checked once
 * (and closed after its last use), each write relative to it. Remembers which op each step
 * belongs to, to make a failed step the caller's error.
 */
class MarkerBatch {
  readonly steps: Step[] = [];
  readonly #opOf: number[] = [];
  readonly #role: Role[] = [];
  readonly #subject: Subject[] = [];
  readonly #ops: readonly Located[];
  readonly #where: Where;
  readonly #resolve: number;
  #rootFd = -1;
  readonly #parents = new Map<string, { fd: number; checked: boolean }>();
  /** Per op, the parents whose last use it is. */
  readonly #closeAfter: Array<string[] | undefined>;
  readonly #mountPoints: ReadonlySet<number>;

  /**
   * `ops`: every op's path, located (and so checked) before any step is made; the batch makes
   * those from `from` on. `mountPoints`: the ops whose entry is known to be a mount point.
   */
  constructor(where: Where, ops: readonly Located[], from = 0, mountPoints: ReadonlySet<number> = new Set()) {
    this.#where = where;
    this.#ops = ops;
    this.#mountPoints = mountPoints;
    this.#resolve = (where.root !== undefined ? RESOLVE.BENEATH : 0) | (where.follow ? 0 : RESOLVE.NO_SYMLINKS);
    const last = new Map<string, number>();
    for (let i = from; i < ops.length; i++) last.set(ops[i]!.key, i);
    this.#closeAfter = new Array<string[] | undefined>(ops.length);
    for (const [key, i] of last) (this.#closeAfter[i] ??= []).push(key);
  }

  #push(op: number, role: Role, step: Step, subject: Subject = role === 'root' || role === 'parent' ? role : 'marker'): number {
    this.#opOf.push(op);
    this.#role.push(role);
    this.#subject.push(subject);
    return this.steps.push(step) - 1;
  }

  /** Fails the batch (EMEDIUMTYPE) when `fd` (op `op`'s `subject`) is on an overlay: nothing after it is made. */
  #check(op: number, fd: number | FdHandle, subject: Subject): void {
    this.#push(op, 'check', { op: 'refuseFsType', fd, fsType: OVERLAYFS_SUPER_MAGIC }, subject);
  }

  /** Opens a directory of op `op`'s path: relative to the root, or absolute. */
  #open(op: number, path: PathArg, flags: number, keep: boolean): number {
    const where = this.#where;
    if (where.root !== undefined) {
      // The root is the caller's: opened as named, links and all.
      if (this.#rootFd < 0) this.#rootFd = this.#push(op, 'root', { op: 'open', path: where.root, flags: PARENT_FLAGS });
      if (path === '.' && flags === PARENT_FLAGS && !keep) return this.#rootFd;
      return this.#push(op, 'parent', { op: 'openat2', dirfd: this.#rootFd, path, flags, resolve: this.#resolve, keep });
    }
    if (where.follow) return this.#push(op, 'parent', { op: 'open', path, flags, keep });
    return this.#push(op, 'parent', { op: 'openat2', path, flags, resolve: this.#resolve, keep });
  }

  /** The parent directory of op `op` (a step index), opened once; checked once when `check`. */
  #parent(op: number, check: boolean): number {
    const { parent, key } = this.#ops[op]!;
    let p = this.#parents.get(key);
    if (p === undefined) {
      p = { fd: this.#open(op, parent, PARENT_FLAGS, false), checked: false };
      this.#parents.set(key, p);
    }
    if (check && !p.checked) {
      this.#check(op, p.fd, 'parent');
      p.checked = true;
    }
    return p.fd;
  }

  /**
   * The parent of op `op` opened for reading (its own xattrs read and written), checked, and
   * kept: returned as a handle in the step's result, for a second batch.
   */
  keepParent(op: number): number {
    const fd = this.#open(op, this.#ops[op]!.parent, O.RDONLY | O.DIRECTORY, true);
    this.#check(op, fd, 'parent');
    return fd;
  }

  /** A step on the marker (or, `subject`, its parent) through an fd this batch opened or a handle kept by an earlier one. */
  write(op: number, step: Step, subject: Subject = 'marker'): number {
    return this.#push(op, 'write', step, subject);
  }

  /** A whiteout: mknodat(parent, name, S_IFCHR, 0/0), which never follows the name. */
  whiteout(op: number): void {
    this.write(op, { op: 'mknod', dirfd: this.#parent(op, true), path: this.#ops[op]!.name, mode: S.IFCHR });
    this.#done(op);
  }

  /**
   * An xattr set (`value`) or removed (undefined) on the entry itself, opened O_NOFOLLOW in its
   * parent (O_DIRECTORY where only a directory will do: `extraFlags`, or a path written with a
   * trailing '/'), in one step. The open's RESOLVE_NO_XDEV keeps the entry on the parent's
   * mount, so the parent's check is the entry's: one check per parent, not per entry. An entry
   * that is a mount point fails that open (EXDEV), and runMarkers() makes it again with a check
   * of its own (`mountPoints`).
   */
  xattr(op: number, name: string, value: Buffer | string | undefined, extraFlags = 0): void {
    const { name: path, dir } = this.#ops[op]!;
    const flags = ENTRY_FLAGS | extraFlags | (dir ? O.DIRECTORY : 0);
    if (!this.#mountPoints.has(op)) {
      const dirfd = this.#parent(op, true);
      const resolve = RESOLVE.NO_SYMLINKS | RESOLVE.NO_XDEV;
      this.#push(
        op,
        'entry',
        value === undefined
          ? { op: 'fremovexattrAt', dirfd, path, flags, resolve, name, okErrno: ENODATA }
          : { op: 'fsetxattrAt', dirfd, path, flags, resolve, name, value },
      );
    } else {
      const fd = this.#push(op, 'entry', { op: 'openat2', dirfd: this.#parent(op, false), path, flags, resolve: RESOLVE.NO_SYMLINKS });
      this.#check(op, fd, 'marker');
      this.write(op, value === undefined ? { op: 'fremovexattr', fd, name, okErrno: ENODATA } : { op: 'fsetxattr', fd, name, value });
      this.write(op, { op: 'close', fd });
    }
    this.#done(op);
  }

  /** Closes the parents op `op` was the last to use (not the root's fd, shared by all). */
  #done(op: number): void {
    for (const key of this.#closeAfter[op] ?? []) {
      const p = this.#parents.get(key);
      if (p === undefined) continue;
      this.#parents.delete(key);
      if (p.fd !== this.#rootFd) this.write(op, { op: 'close', fd: p.fd }, 'parent');
    }
  }

  /** The step a batch failed at (`at`: a recorded failure's step): its role and its op. */
  failedAt(e: unknown, at?: number): Failure | undefined {
    if (!isSystemError(e)) return undefined;
    const step = at ?? e.step;
    if (typeof step !== 'number') return undefined;
    const op = this.#opOf[step];
    let role = this.#role[step];
    const subject = this.#subject[step];
    if (op === undefined || role === undefined || subject === undefined) return undefined;
    // An fsetxattrAt step opens the entry, then writes: which of the two failed.
    if (role === 'entry' && e.syscall !== 'openat2') role = 'write';
    return { step, role, subject, op, o: this.#ops[op]!, err: e };
  }

  /**
   * A failure of this batch as the caller's error: a refused check is an OverlayError, a
   * failed syscall Node's fs error naming what failed: the root, the marker's parent directory
   * (as the caller wrote it), or the marker (and, in bulk, the op's index as `step`).
   */
  error(e: unknown, bulk: boolean, at?: number): unknown {
    const failed = this.failedAt(e, at);
    if (failed === undefined) return e;
    const { role, subject, op, o, err } = failed;
    if (role === 'check' && err.errno === -EMEDIUMTYPE) return onOverlay(o, bulk ? op : undefined);
    const raw = rawErrorOf(err);
    raw.path = subject === 'root' ? shown(this.#where.root!) : subject === 'parent' && o.name !== '.' ? parentText(o.path) : o.path;
    if (bulk) raw.step = op;
    else delete raw.step;
    return createSystemError(raw, errorDetail(-err.errno, role));
  }
}

/** Words for what refused a marker's path, where the errno alone does not say. */
function errorDetail(errno: number, role: Role): string | undefined {
  if (errno === ELOOP && role === 'entry') return 'it is a symbolic link: a marker is never written through one';
  if (errno === ELOOP && role === 'parent') return 'it or a directory above it is a symbolic link: followSymlinks: true follows those';
  if (errno === EXDEV && role === 'parent') return "a '..' or a symbolic link leads out of root";
  if (errno === ENOSYS) return 'openat2 needs Linux 5.6';
  return undefined;
}

/** The refusal of a marker on an overlay; `op`: its index in applyMarkers' ops. */
function onOverlay(o: Located, op: number | undefined): OverlayError {
  return new OverlayError(
    'ERR_OVERLAY_MARKER',
    `'${o.path}' is on a mounted overlay: a marker written through the merged view is not one (the kernel keeps an ` +
      `escaped overlay.overlay.* xattr in the upper layer, or refuses it); write it into the layer directory (the ` +
      `upper or a lower dir) instead`,
    op === undefined ? { path: o.path } : { path: o.path, field: `ops[${op}].path` },
  );
}

/** Runs a planned batch; a failed step is thrown as the caller's error. */
function* runBatch(batch: MarkerBatch, bulk: boolean): Task<unknown[]> {
  try {
    return (yield* steps(batch.steps)).results;
  } catch (e) {
    throw batch.error(e, bulk);
  }
}

/**
 * Makes the markers `ops` (located) in one batch, `write` adding each op's steps. An xattr
 * entry found to be a mount point ends the batch there (the ops before it are made); the rest
 * are made in another batch, that entry checked by itself. `refine`: a failure the writer
 * words itself (setOpaque's "not a directory"), else the batch's error.
 */
function* runMarkers(
  where: Where,
  ops: readonly Located[],
  write: (batch: MarkerBatch, op: number) => void,
  bulk: boolean,
  refine?: (failed: Failure) => Error | undefined,
): Task<void> {
  const mountPoints = new Set<number>();
  for (let from = 0; ; ) {
    const batch = new MarkerBatch(where, ops, from, mountPoints);
    for (let i = from; i < ops.length; i++) write(batch, i);
    try {
      yield* steps(batch.steps);
      return;
    } catch (e) {
      const failed = batch.failedAt(e);
      if (failed?.role === 'entry' && failed.err.errno === -EXDEV && !mountPoints.has(failed.op)) {
        mountPoints.add(failed.op);
        from = failed.op;
        continue;
      }
      throw (failed && refine?.(failed)) ?? batch.error(e, bulk);
    }
  }
}

/** Runs `task` on the calling thread and off it: a marker function's two forms. */
function both<A extends unknown[], R>(task: (...args: A) => Task<R>): readonly [(...args: A) => Promise<R>, (...args: A) => R] {
  return [async (...args: A) => runAsync(task(...args)), (...args: A) => runSync(task(...args))];
}

// ---- whiteouts ----

/**
 * A device whiteout: a character device 0/0 (mode 000, as the kernel makes them), made with
 * mknodat in its parent directory (see MarkerPathOptions for how that is found). A path ending
 * in '/' names a directory, which a whiteout is not: refused, as by every whiteout writer.
 */
export const [createWhiteout, createWhiteoutSync] = both(function* (path: string | Buffer, options?: MarkerPathOptions): Task<void> {
  const where = checkWhere(options);
  yield* runMarkers(where, [locate('path', cPath('path', path), where, true)], (b, i) => b.whiteout(i), false);
});

export type WhiteoutKind = 'device' | 'xattr';

/**
 * Whether `path` is a whiteout: a 0/0 character device (including the kernel's own, which are
 * hard links to one shared whiteout inode), or a zero-size file with overlay.whiteout.
 * undefined when it is neither (or does not exist).
 */
export const [whiteoutKind, whiteoutKindSync] = both(function* (path: string | Buffer, options: NamespaceOption = {}): Task<WhiteoutKind | undefined> {
  const [info] = yield* statPaths([cPath('path', path)], ['whiteout'], checkNamespace(options.namespace), ['file']);
  if (info === undefined) return undefined;
  if (info.whiteoutDevice) return 'device';
  if (info.type === 'file' && info.size === 0 && info.xattr('whiteout') !== undefined) return 'xattr';
  return undefined;
});

export const [isWhiteout, isWhiteoutSync] = both(function* (path: string | Buffer, options: NamespaceOption = {}): Task<boolean> {
  const [info] = yield* statPaths([cPath('path', path)], ['whiteout'], checkNamespace(options.namespace), ['file']);
  return info !== undefined && (info.whiteoutDevice || (info.type === 'file' && info.size === 0 && info.xattr('whiteout') !== undefined));
});

export interface XattrWhiteoutOptions extends MarkerWriteOptions {
  /**
   * Where the layer will sit. The kernel honours xattr whiteouts in readdir only in a lower
   * layer that is not the lowermost one, so 'upper' and 'lowermost' are refused.
   */
  layer: 'lower' | 'upper' | 'lowermost';
}

/**
 * An xattr whiteout (Linux 6.7): a zero-size file with overlay.whiteout, its parent marked
 * opaque=x so readdir hides it. For prepared lower layers, e.g. where mknod(0/0) is refused.
 * Like every marker, written into the layer directory, never through a mounted overlay.
 */
export const [createXattrWhiteout, createXattrWhiteoutSync] = both(function* (path: string | Buffer, options: XattrWhiteoutOptions): Task<void> {
  const p = cPath('path', path);
  if (options?.layer !== 'lower') {
    throw markerError(
      shown(p),
      options?.layer === 'upper'
        ? `an xattr whiteout in the upper layer is not hidden by readdir (it lists as '-?????????'); use createWhiteout() there`
        : `the kernel ignores xattr whiteouts in the lowermost layer: there is nothing below it to hide`,
    );
  }
  const ns = checkNamespace(options.namespace);
  const where = checkWhere(options);
  const located = locate('path', p, where, true);
  // One batch opens the parent (kept for the next), checks it and reads its opaque mark...
  const first = new MarkerBatch(where, [located]);
  const at = first.keepParent(0);
  const read = first.write(0, { op: 'fgetxattr', fd: at, name: xattrName(ns, 'opaque'), recordError: true }, 'parent');
  const results = yield* runBatch(first, false);
  const parent = results[at] as FdHandle;
  try {
    const opaque = results[read];
    if (opaque instanceof Error && !(isSystemError(opaque) && ['ENODATA', 'ENOTSUP', 'EOPNOTSUPP'].includes(opaque.code))) throw first.error(opaque, false, read);
    // ...the next makes the file in it (O_CREAT|O_EXCL never follows a link at the name).
    const second = new MarkerBatch(where, [located]);
    const file = second.write(0, { op: 'openat2', dirfd: parent, path: located.name, flags: O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW, mode: 0o644, resolve: RESOLVE.NO_SYMLINKS });
    second.write(0, { op: 'fsetxattr', fd: file, name: xattrName(ns, 'whiteout'), value: Buffer.alloc(0) });
    if (!(Buffer.isBuffer(opaque) && opaque.toString() === 'y')) {
      second.write(0, { op: 'fsetxattr', fd: parent, name: xattrName(ns, 'opaque'), value: 'x' }, 'parent');
    }
    try {
      yield* steps(second.steps);
    } catch (e) {
      // Made but not marked, it is a plain empty file, which the merged view would show. Removed
      // through the parent's fd: the path may lead elsewhere by now.
      const failed = second.failedAt(e);
      if (failed !== undefined && failed.step > file) {
        const at = `/proc/self/fd/${parent.fd}/`;
        yield* removeTree(typeof located.name === 'string' ? at + located.name : Buffer.concat([Buffer.from(at), located.name]));
      }
      throw second.error(e, false);
    }
  } finally {
    parent.close();
  }
});

// ---- opaque directories ----

export type Opaque = 'y' | 'x';

/** 'y' (hides the same-name directories below), 'x' (a merge dir holding xattr whiteouts), or undefined. */
export const [getOpaque, getOpaqueSync] = both(function* (dir: string | Buffer, options: NamespaceOption = {}): Task<Opaque | undefined> {
  const v = (yield* readOverlayXattr(cPath('dir', dir), 'opaque', checkNamespace(options.namespace)))?.toString();
  return v === 'y' || v === 'x' ? v : undefined;
});

/** Marks a directory opaque ('y', default) or as a merge dir holding xattr whiteouts ('x'). */
export const [setOpaque, setOpaqueSync] = both(function* (dir: string | Buffer, value: Opaque = 'y', options: MarkerWriteOptions = {}): Task<void> {
  if (value !== 'y' && value !== 'x') throw invalidArgValue('value', "must be 'y' or 'x'", value);
  const ns = checkNamespace(options?.namespace);
  const where = checkWhere(options);
  const name = xattrName(ns, 'opaque');
  // The entry is opened O_DIRECTORY|O_NOFOLLOW: ENOTDIR for a file, ELOOP for a symbolic link.
  yield* runMarkers(where, [locate('dir', cPath('dir', dir), where, false)], (b, i) => b.xattr(i, name, value, O.DIRECTORY), false, (failed) =>
    failed.role === 'entry' && (failed.err.errno === -ENOTDIR || failed.err.errno === -ELOOP)
      ? markerError(failed.o.path, `'${failed.o.path}' is not a directory: only directories can be opaque`)
      : undefined,
  );
});

/** Removes the opaque mark; no error when there was none. */
export const [clearOpaque, clearOpaqueSync] = both(function* (dir: string | Buffer, options: MarkerWriteOptions = {}): Task<void> {
  const where = checkWhere(options);
  const name = xattrName(checkNamespace(options?.namespace), 'opaque');
  yield* runMarkers(where, [locate('dir', cPath('dir', dir), where, false)], (b, i) => b.xattr(i, name, undefined), false);
});

// ---- redirect ----

/** A relative name (same parent) or an absolute path from the layer root; undefined when unset. */
export const [getRedirect, getRedirectSync] = both(function* (path: string | Buffer, options: NamespaceOption = {}): Task<string | undefined> {
  return (yield* readOverlayXattr(cPath('path', path), 'redirect', checkNamespace(options.namespace)))?.toString();
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

export const [setRedirect, setRedirectSync] = both(function* (path: string | Buffer, target: string, options: MarkerWriteOptions = {}): Task<void> {
  const p = cPath('path', path);
  const value = checkRedirect(shown(p), target);
  const name = xattrName(checkNamespace(options?.namespace), 'redirect');
  const where = checkWhere(options);
  yield* runMarkers(where, [locate('path', p, where, false)], (b, i) => b.xattr(i, name, value), false);
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
export const [getMetacopy, getMetacopySync] = both(function* (path: string | Buffer, options: NamespaceOption = {}): Task<Metacopy | undefined> {
  const raw = yield* readOverlayXattr(cPath('path', path), 'metacopy', checkNamespace(options.namespace));
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
export const [getOrigin, getOriginSync] = both(function* (path: string | Buffer, options: NamespaceOption = {}): Task<Origin | undefined> {
  const raw = yield* readOverlayXattr(cPath('path', path), 'origin', checkNamespace(options.namespace));
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
  | { op: 'whiteout'; path: string | Buffer }
  | { op: 'opaque'; path: string | Buffer; value?: Opaque }
  | { op: 'clear-opaque'; path: string | Buffer }
  | { op: 'redirect'; path: string | Buffer; target: string };

const OPAQUE_Y = Buffer.from('y');
const OPAQUE_X = Buffer.from('x');

/**
 * Many markers in ONE native call (applying a layer writes thousands). Every op is checked
 * before any is made, with the rules of the single-marker functions; then it stops at the
 * first failure: the error's `step` is the index of the op that failed (an OverlayError's
 * `field` names it: `ops[3].path`), and the ones before it are done.
 */
export const [applyMarkers, applyMarkersSync] = both(function* (ops: readonly MarkerOp[], options: MarkerWriteOptions = {}): Task<void> {
  if (!Array.isArray(ops)) throw invalidArgType('ops', 'an instance of Array', ops);
  const ns = checkNamespace(options?.namespace);
  const where = checkWhere(options);
  const located = new Array<Located>(ops.length);
  /** Per op: the opaque value, the redirect target, null to clear the opaque mark, undefined for a whiteout. */
  const values = new Array<Buffer | string | null | undefined>(ops.length);
  for (let i = 0; i < ops.length; i++) {
    const o: MarkerOp | null | undefined = ops[i];
    if (typeof o !== 'object' || o === null) throw invalidArgType(`ops[${i}]`, 'of type object', o);
    const field = `ops[${i}].path`;
    const path = cPath(field, o.path);
    switch (o.op) {
      case 'whiteout':
        break;
      case 'opaque': {
        const value = o.value ?? 'y';
        if (value !== 'y' && value !== 'x') throw invalidArgValue(`ops[${i}].value`, "must be 'y' or 'x'", value);
        values[i] = value === 'y' ? OPAQUE_Y : OPAQUE_X;
        break;
      }
      case 'clear-opaque':
        values[i] = null;
        break;
      case 'redirect':
        values[i] = checkRedirect(shown(path), o.target);
        break;
      default:
        throw invalidArgValue(`ops[${i}].op`, "must be 'whiteout', 'opaque', 'clear-opaque' or 'redirect'", (o as { op: unknown }).op);
    }
    located[i] = locate(field, path, where, o.op === 'whiteout');
  }
  if (ops.length === 0) return;
  const opaque = xattrName(ns, 'opaque');
  const redirect = xattrName(ns, 'redirect');
  yield* runMarkers(
    where,
    located,
    (batch, i) => {
      const value = values[i];
      if (value === undefined) batch.whiteout(i);
      else if (value === null) batch.xattr(i, opaque, undefined);
      else batch.xattr(i, ops[i]!.op === 'redirect' ? redirect : opaque, value);
    },
    true,
  );
});
