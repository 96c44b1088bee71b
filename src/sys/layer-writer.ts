/**
 * The layer writer: the filesystem half of applying an OCI layer tar beneath one directory, the
 * entries of a batch in ONE native call (one thread-pool hop for `run()`), so 17,000 small files
 * cost about what they cost GNU tar. native/layer_write.cc does the work; this file packs the
 * entries: per entry one fixed record of numbers (REC slots of a Float64Array) and its names,
 * each followed by a NUL, in one byte arena; file data and xattr values are Buffers handed over
 * by reference (never copied) and kept alive until the call ends.
 *
 * Every path is relative to the writer's directory and normalised by the caller (no leading '/',
 * no '.', '..' or empty component, no NUL); the native side checks again and fails such an entry
 * EINVAL. Nothing is ever written outside the directory: parents are resolved with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) (or, with `noOpenat2` or before Linux 5.6,
 * component by component refusing every symlink: ELOOP), and the last component is acted on
 * with *at() calls that never follow it. An entry refused for that surfaces with its errno
 * (EXDEV, ELOOP, ...) and the entry's `path`, for the caller to report as unsafe.
 */
import { native } from './binding.js';
import { cPath, invalidArgType, invalidArgValue, outOfRange } from './args.js';
import type { NativeLayerWriter } from './native-types.js';

export interface EntryMeta {
  /** Permission bits, setuid/setgid/sticky included (masked with 0o7777); the type comes from the call. */
  mode: number;
  /** chown to these (numeric) when given; omitted: no chown (rootless). */
  uid?: number;
  gid?: number;
  mtimeSec: number;
  mtimeNsec?: number;
  xattrs?: ReadonlyArray<readonly [name: string, value: Buffer]>;
}

export interface LayerWriterOptions {
  /**
   * Resolve without openat2: component by component with openat(O_NOFOLLOW|O_DIRECTORY|O_PATH),
   * never following any symlink. The fallback for kernels before 5.6, equally safe (stricter:
   * a symlink to a directory inside the layer is refused too). Used automatically when openat2
   * is unusable (ENOSYS before Linux 5.6, or EPERM from a seccomp filter that predates it).
   */
  noOpenat2?: boolean;
}

type PathArg = string | Buffer | Uint8Array;

// Record kinds and slots: native/layer_write.cc has the same numbers.
const K = { dir: 1, file: 2, data: 3, endFile: 4, symlink: 5, hardlink: 6, node: 7, whiteout: 8, opaque: 9, remove: 10, clearDir: 11, xattr: 12 } as const;
const REC = 12;
const PATH_OFF = 1, PATH_LEN = 2, MODE = 3, UID = 4, GID = 5, MTIME_SEC = 6, MTIME_NSEC = 7, A = 8, B = 9, C = 10, D = 11;
const NODE_TYPES = { char: 0, block: 1, fifo: 2 } as const;
const NAMESPACES = { trusted: 0, user: 1 } as const;
const WHITEOUT_FORMS = { device: 0, xattr: 1 } as const;
const MAX_ID = 0xfffffffe;

/**
 * `s` into `buf` at `at` when it is ASCII (a tar's names nearly always are), else -1: a byte loop
 * costs ~0.1 µs for a path where Buffer#write costs ~1 µs (a call into C++ per string).
 */
function asciiWrite(buf: Buffer, s: string, at: number): number {
  const n = s.length;
  if (n > 1024) return -1;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return -1;
    buf[at + i] = c;
  }
  return n;
}

/** What run() hands to the addon. */
interface Taken {
  recs: Float64Array;
  count: number;
  arena: Buffer;
  bufs: Buffer[];
}

const TAKE = Symbol('take');

function invalidState(message: string): Error & { code: string } {
  const err = new Error(message) as Error & { code: string };
  err.code = 'ERR_INVALID_STATE';
  return err;
}

function idOf(name: string, v: unknown): number {
  if (v === undefined) return -1;
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  if (!Number.isInteger(v) || v < 0 || v > MAX_ID) throw outOfRange(name, `>= 0 && <= ${MAX_ID}`, v);
  return v;
}

function u32(name: string, v: unknown): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw outOfRange(name, '>= 0 && <= 4294967295', v);
  return v;
}

function choice<T extends Record<string, number>>(name: string, table: T, v: unknown): number {
  const n = typeof v === 'string' && Object.hasOwn(table, v) ? table[v] : undefined;
  if (n === undefined) throw invalidArgValue(name, `must be one of ${Object.keys(table).map((k) => `'${k}'`).join(', ')}`, v);
  return n;
}

/**
 * The entries of one native call, in order. Fill it, hand it to {@link LayerWriter.run}, which
 * empties it (the batch can be filled again at once). A file begun by `file()` may get its
 * `data()` and `endFile()` in later batches.
 */
export class WriteBatch {
  #recs = new Float64Array(REC * 256);
  #count = 0;
  // Offset 0 holds a NUL: the path of the records that have none (data, endFile).
  #arena = WriteBatch.#newArena(16384);
  #used = 1;
  #bufs: Buffer[] = [];
  #ops = 0;
  #dataBytes = 0;

  /** Entries (calls) in the batch. */
  get ops(): number {
    return this.#ops;
  }

  /** Bytes of file data in the batch: flush at a size. */
  get dataBytes(): number {
    return this.#dataBytes;
  }

  static #newArena(size: number): Buffer {
    const arena = Buffer.allocUnsafe(size);
    arena[0] = 0;
    return arena;
  }

  #record(kind: number): number {
    if ((this.#count + 1) * REC > this.#recs.length) {
      const recs = new Float64Array(this.#recs.length * 2);
      recs.set(this.#recs);
      this.#recs = recs;
    }
    const at = this.#count++ * REC;
    const r = this.#recs;
    r[at] = kind;
    r[at + C] = 0;
    return at;
  }

  #room(bytes: number): void {
    if (this.#used + bytes <= this.#arena.length) return;
    const arena = Buffer.allocUnsafe(Math.max(this.#arena.length * 2, this.#used + bytes));
    this.#arena.copy(arena, 0, 0, this.#used);
    this.#arena = arena;
  }

  /** Appends `s` and a NUL to the arena; its offset and length go to slots `off` and `off + 1` of the record at `at`. */
  #str(at: number, off: number, s: PathArg, name: string): void {
    let len: number;
    if (typeof s === 'string') {
      this.#room(s.length * 3 + 1);
      len = asciiWrite(this.#arena, s, this.#used);
      if (len < 0) len = this.#arena.write(s, this.#used, 'utf8');
    } else if (s instanceof Uint8Array) {
      this.#room(s.length + 1);
      this.#arena.set(s, this.#used);
      len = s.length;
    } else {
      throw invalidArgType(name, 'of type string or an instance of Buffer or Uint8Array', s);
    }
    this.#recs[at + off] = this.#used;
    this.#recs[at + off + 1] = len;
    this.#arena[this.#used + len] = 0;
    this.#used += len + 1;
  }

  #buf(b: Buffer | Uint8Array, name: string): number {
    let buf: Buffer;
    if (Buffer.isBuffer(b)) buf = b;
    else if (b instanceof Uint8Array) buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    else throw invalidArgType(name, 'an instance of Buffer or Uint8Array', b);
    return this.#bufs.push(buf) - 1;
  }

  #meta(at: number, meta: EntryMeta): void {
    if (typeof meta !== 'object' || meta === null) throw invalidArgType('meta', 'of type object', meta);
    const { mode, mtimeSec } = meta;
    if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0) throw invalidArgValue('meta.mode', 'must be a non-negative integer', mode);
    if (typeof mtimeSec !== 'number' || !Number.isSafeInteger(mtimeSec)) throw invalidArgValue('meta.mtimeSec', 'must be an integer', mtimeSec);
    const nsec = meta.mtimeNsec ?? 0;
    if (typeof nsec !== 'number' || !Number.isInteger(nsec) || nsec < 0 || nsec > 999_999_999) throw outOfRange('meta.mtimeNsec', '>= 0 && <= 999999999', nsec);
    const r = this.#recs;
    r[at + MODE] = mode & 0o7777;
    r[at + UID] = meta.uid === undefined ? -1 : idOf('meta.uid', meta.uid);
    r[at + GID] = meta.gid === undefined ? -1 : idOf('meta.gid', meta.gid);
    r[at + MTIME_SEC] = mtimeSec;
    r[at + MTIME_NSEC] = nsec;
    const xattrs = meta.xattrs;
    if (xattrs === undefined || xattrs.length === 0) return;
    if (!Array.isArray(xattrs)) throw invalidArgType('meta.xattrs', 'an array of [name, value] pairs', xattrs);
    for (const pair of xattrs) {
      if (!Array.isArray(pair) || typeof pair[0] !== 'string') throw invalidArgType('meta.xattrs[]', 'a [name: string, value: Buffer] pair', pair);
      // A NUL would cut the name short in the C call: another attribute.
      if (pair[0] === '' || pair[0].includes('\0')) throw invalidArgValue('meta.xattrs[][0]', 'must be a non-empty name without null bytes', pair[0]);
      const x = this.#record(K.xattr);
      this.#str(x, PATH_OFF, pair[0], 'xattr name');
      this.#recs[x + A] = this.#buf(pair[1], 'xattr value');
    }
    // The record may have moved with a grown array: the count goes on the entry's own slot.
    this.#recs[at + C] = xattrs.length;
  }

  /** Adds an entry, `fill` writing its other slots; an argument error leaves the batch as it was. */
  #entry(kind: number, path: PathArg, meta: EntryMeta | undefined, fill?: (at: number) => void): void {
    const count = this.#count;
    const used = this.#used;
    const bufs = this.#bufs.length;
    try {
      const at = this.#record(kind);
      this.#str(at, PATH_OFF, path, 'path');
      if (kind === K.dir || kind === K.file || kind === K.symlink || kind === K.node) this.#meta(at, meta as EntryMeta);
      fill?.(at);
    } catch (e) {
      this.#count = count;
      this.#used = used;
      this.#bufs.length = bufs;
      throw e;
    }
    this.#ops++;
  }

  /**
   * mkdir; a directory already there is kept (merged) and gets `meta`; a non-directory there (a
   * symlink too: never followed) is replaced. Owner, xattrs and mode now (a mode without u+rwx
   * is set with them, and exactly by finish()); the mtime by finish(), after the contents.
   */
  dir(path: PathArg, meta: EntryMeta): void {
    this.#entry(K.dir, path, meta);
  }

  /** Begins a regular file: created O_CREAT|O_EXCL (what is there is replaced: a non-directory unlinked, a tree removed). */
  file(path: PathArg, meta: EntryMeta): void {
    this.#entry(K.file, path, meta);
  }

  /** Appends `chunk` to the file begun last. Not copied: the Buffer must not change until the batch has run. */
  data(chunk: Buffer | Uint8Array): void {
    const index = this.#buf(chunk, 'chunk');
    const at = this.#record(K.data);
    this.#recs[at + PATH_OFF] = 0;
    this.#recs[at + PATH_LEN] = 0;
    this.#recs[at + A] = index;
    this.#dataBytes += chunk.byteLength;
    this.#ops++;
  }

  /** Ends the file: fchown (when uid/gid), fchmod (after it: chown clears setuid), fsetxattr each xattr, futimens, close. */
  endFile(): void {
    this.#ops++;
    const at = this.#record(K.endFile);
    this.#recs[at + PATH_OFF] = 0;
    this.#recs[at + PATH_LEN] = 0;
  }

  /** symlinkat(target, parent, name); lchown; xattrs; utimensat(AT_SYMLINK_NOFOLLOW). */
  symlink(path: PathArg, target: PathArg, meta: EntryMeta): void {
    this.#entry(K.symlink, path, meta, (at) => this.#str(at, A, target, 'target'));
  }

  /** linkat(targetParent, targetName, parent, name, 0): `target` resolved beneath the same directory, its last component not followed. */
  hardlink(path: PathArg, target: PathArg): void {
    this.#entry(K.hardlink, path, undefined, (at) => this.#str(at, A, target, 'target'));
  }

  /** mknodat (a character or block device, or a fifo) and `meta`; the node is never opened. */
  node(path: PathArg, meta: EntryMeta, type: 'char' | 'block' | 'fifo', major?: number, minor?: number): void {
    const t = choice('type', NODE_TYPES, type);
    const maj = u32('major', major);
    const min = u32('minor', minor);
    this.#entry(K.node, path, meta, (at) => {
      this.#recs[at + A] = t;
      this.#recs[at + B] = maj;
      this.#recs[at + D] = min;
    });
  }

  /**
   * A whiteout at `path`: 'device', a character device 0/0 (replacing what is there); 'xattr',
   * an empty regular file with `<ns>.overlay.whiteout`, its parent marked `<ns>.overlay.opaque=x`
   * (unless it is already "y"), which is what makes readdir hide it (Linux 6.7+).
   */
  whiteout(path: PathArg, form: 'device' | 'xattr', ns: 'trusted' | 'user'): void {
    const f = choice('form', WHITEOUT_FORMS, form);
    const n = choice('ns', NAMESPACES, ns);
    this.#entry(K.whiteout, path, undefined, (at) => {
      this.#recs[at + A] = f;
      this.#recs[at + B] = n;
    });
  }

  /** `<ns>.overlay.opaque=y` on the directory at `path` ('' is the writer's directory), made 0755 when missing. */
  opaque(path: PathArg, ns: 'trusted' | 'user'): void {
    const n = choice('ns', NAMESPACES, ns);
    this.#entry(K.opaque, path, undefined, (at) => {
      this.#recs[at + B] = n;
    });
  }

  /** Removes what is at `path`, a whole tree for a directory (never following a symlink); absent is fine. */
  remove(path: PathArg): void {
    this.#entry(K.remove, path, undefined);
  }

  /**
   * Removes every child of the directory at `path` ('' is the writer's directory) that this writer
   * did not create (a flattened apply of an opaque marker); directories that were there and that
   * this writer wrote into are kept and cleared the same way. Absent is fine.
   */
  clearDir(path: PathArg): void {
    this.#entry(K.clearDir, path, undefined);
  }

  /** The packed batch for the addon; the batch starts over empty. */
  [TAKE](): Taken {
    const taken = { recs: this.#recs, count: this.#count, arena: this.#arena, bufs: this.#bufs };
    this.#recs = new Float64Array(Math.min(this.#recs.length, REC * 4096));
    this.#count = 0;
    this.#arena = WriteBatch.#newArena(Math.min(this.#arena.length, 1 << 20));
    this.#used = 1;
    this.#bufs = [];
    this.#ops = 0;
    this.#dataBytes = 0;
    return taken;
  }
}

/**
 * A directory being written by batches. One batch at a time (a second concurrent run() is
 * refused); the first failing entry rejects with a Node-shaped error (`code`, `errno`, `syscall`,
 * `path` = the entry's path as given, `step` = its index in the batch, `dest` = a hard link's
 * target) and closes the writer.
 */
export class LayerWriter {
  readonly #native: NativeLayerWriter;

  /** @internal Use {@link openLayerWriter}. */
  constructor(handle: NativeLayerWriter) {
    this.#native = handle;
  }

  /** True once finished, closed, or failed. */
  get closed(): boolean {
    return this.#native.closed;
  }

  #check(): void {
    if (this.#native.busy) throw invalidState('the layer writer is already running a batch: await it first');
    if (this.#native.closed) throw invalidState('the layer writer is closed (finished, closed, or failed)');
  }

  /** The whole batch in one thread-pool call. */
  async run(batch: WriteBatch): Promise<void> {
    if (!(batch instanceof WriteBatch)) throw invalidArgType('batch', 'an instance of WriteBatch', batch);
    this.#check();
    const t = batch[TAKE]();
    return this.#native.run(t.recs, t.count, t.arena, t.bufs);
  }

  runSync(batch: WriteBatch): void {
    if (!(batch instanceof WriteBatch)) throw invalidArgType('batch', 'an instance of WriteBatch', batch);
    this.#check();
    const t = batch[TAKE]();
    this.#native.runSync(t.recs, t.count, t.arena, t.bufs);
  }

  /** Sets the deferred directory metadata (mtimes after the contents, deepest first), then closes everything. */
  async finish(): Promise<void> {
    this.#check();
    return this.#native.finish();
  }

  finishSync(): void {
    this.#check();
    this.#native.finishSync();
  }

  /** Abandons the writer: every fd closed (after the batch in flight, if any). Idempotent. */
  close(): void {
    this.#native.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Opens a writer on `dir`, which must be a directory (opened O_PATH|O_DIRECTORY, a final symlink
 * not followed: ENOTDIR). Fails with a Node-shaped error.
 */
export function openLayerWriter(dir: PathArg, options: LayerWriterOptions = {}): LayerWriter {
  const path = cPath('dir', dir);
  if (typeof options !== 'object' || options === null) throw invalidArgType('options', 'of type object', options);
  const noOpenat2 = options.noOpenat2 ?? false;
  if (typeof noOpenat2 !== 'boolean') throw invalidArgType('options.noOpenat2', 'of type boolean', noOpenat2);
  return new LayerWriter(new (native().LayerWriter)(path, noOpenat2));
}
