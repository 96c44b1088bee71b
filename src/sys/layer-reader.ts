/**
 * Batched reads of layer entries beneath directory fds (native/layer_read.cc): for many names
 * in one native call, what a tar entry needs — statx, a symlink's target, every xattr, and the
 * contents of regular files up to a byte budget, in one Buffer for the batch. Each entry is
 * opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) and O_NOFOLLOW relative to its
 * root fd, and read through that fd. One thread-pool hop per batch, not one per file.
 */
import { native } from './binding.js';
import { cPath, invalidArgType, isHandle, outOfRange } from './args.js';
import { createSystemError, type SystemError } from './errors.js';
import type { FdHandle } from './native-types.js';

/** What to read of one entry; `type` is the one readdir gave (d_type), which picks how it is opened. */
export interface EntryRequest {
  /** Index into the roots given with the batch. */
  root: number;
  /** Path relative to that root (no leading '/'); bytes for a name that is not UTF-8. */
  name: string | Buffer;
  /** Read a regular file's contents (when they fit the budget). */
  data?: boolean;
  /** Read every xattr. */
  xattrs?: boolean;
  /**
   * 'file' and 'dir' are opened O_RDONLY; anything else (and a 'file' that is not one any more)
   * O_PATH, so a device or FIFO is never opened for I/O.
   */
  type?: 'file' | 'dir' | 'other';
}

export interface EntryRead {
  /** Set when reading the entry failed (ENOENT: removed meanwhile); the rest is then unset. */
  error?: SystemError | undefined;
  /** st_mode: type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeSec: number;
  mtimeNsec: number;
  nlink: number;
  ino: number;
  devMajor: number;
  devMinor: number;
  rdevMajor: number;
  rdevMinor: number;
  /** A symlink's target. */
  linkTarget?: Buffer | undefined;
  /**
   * A regular file's contents when asked for and within the budget; a view into the batch's one
   * Buffer. undefined: read it in chunks (openat2 + read).
   */
  data?: Buffer | undefined;
  /** Every xattr, name and value, as listxattr lists them; undefined when there are none. */
  xattrs?: Array<[string, Buffer]> | undefined;
  /**
   * With the tar layout: where the entry's 512-byte header goes in the batch's `buffer` (its
   * `data` follows it, then zeros to a 512-byte boundary: the entry ends at `tarEnd`).
   */
  tarOffset?: number | undefined;
  tarEnd?: number | undefined;
}

export interface EntriesRead {
  /**
   * How many of the requests were done, from the first: a regular file that does not fit what
   * is left of the budget ends the batch before it (the next batch starts with it), unless it
   * is the first (then it comes without `data`).
   */
  count: number;
  entries: EntryRead[];
  /** The batch's contents: with the tar layout, the entries as a tar once their headers are written in. */
  buffer: Buffer;
}

export interface ReadOptions {
  /**
   * Lay the batch out as a tar: before each entry a 512-byte gap for its header (uninitialised:
   * the caller writes it), after each file's contents zeros to a 512-byte boundary.
   */
  tar?: boolean;
}

const DATA = 1;
const XATTRS = 2;
const REGULAR = 4;
const DIR = 8;
const TAR = 16;
// The row layout of native/layer_read.cc.
const FIELDS = 20;
const MAX_BUDGET = 1 << 30;

type Raw = [number, Float64Array, Buffer, Array<Array<[string, Buffer]> | undefined>, Buffer];

let syscalls: string[] | undefined;

function pack(roots: ReadonlyArray<FdHandle | number>, requests: readonly EntryRequest[], budget: number, options: ReadOptions): [Array<FdHandle | number>, Array<string | Buffer>, Uint32Array] {
  if (!Array.isArray(roots)) throw invalidArgType('roots', 'an instance of Array', roots);
  roots.forEach((r, i) => {
    if (!isHandle(r) && !(typeof r === 'number' && Number.isInteger(r) && r >= 0)) throw invalidArgType(`roots[${i}]`, 'an fd handle or a non-negative integer', r);
  });
  if (!Array.isArray(requests)) throw invalidArgType('requests', 'an instance of Array', requests);
  if (typeof budget !== 'number' || !Number.isInteger(budget) || budget < 0 || budget > MAX_BUDGET) throw outOfRange('budget', `>= 0 && <= ${MAX_BUDGET}`, budget);
  const names = new Array<string | Buffer>(requests.length);
  const flags = new Uint32Array(requests.length);
  const tar = options.tar === true ? TAR : 0;
  for (let i = 0; i < requests.length; i++) {
    const r = requests[i]!;
    if (!Number.isInteger(r.root) || r.root < 0 || r.root >= roots.length) throw outOfRange(`requests[${i}].root`, `>= 0 && < ${roots.length}`, r.root);
    names[i] = typeof r.name === 'string' && r.name.length > 0 && !r.name.includes('\0') ? r.name : cPath(`requests[${i}].name`, r.name);
    flags[i] = (r.root << 8) | (r.data ? DATA : 0) | (r.xattrs ? XATTRS : 0) | (r.type === 'file' ? REGULAR : r.type === 'dir' ? DIR : 0) | tar;
  }
  return [[...roots], names, flags];
}

function unpack(raw: Raw, requests: readonly EntryRequest[]): EntriesRead {
  const [count, stats, data, xattrs, links] = raw;
  const entries = new Array<EntryRead>(count);
  for (let i = 0; i < count; i++) {
    const o = i * FIELDS;
    // Every field set, in one order: one object shape for every entry.
    const e: EntryRead = {
      error: undefined,
      mode: stats[o + 2]!,
      uid: stats[o + 3]!,
      gid: stats[o + 4]!,
      size: stats[o + 5]!,
      mtimeSec: stats[o + 6]!,
      mtimeNsec: stats[o + 7]!,
      nlink: stats[o + 8]!,
      ino: stats[o + 9]!,
      devMajor: stats[o + 10]!,
      devMinor: stats[o + 11]!,
      rdevMajor: stats[o + 12]!,
      rdevMinor: stats[o + 13]!,
      linkTarget: undefined,
      data: undefined,
      xattrs: undefined,
      tarOffset: undefined,
      tarEnd: undefined,
    };
    const errno = stats[o]!;
    if (errno !== 0) {
      syscalls ??= native().readEntriesSyscalls;
      const name = requests[i]!.name;
      e.error = createSystemError({ errno, syscall: syscalls[stats[o + 1]!] ?? 'read', path: typeof name === 'string' ? name : name.toString() });
    }
    const len = stats[o + 15]!;
    if (len >= 0) {
      const at = stats[o + 14]!;
      const view = data.subarray(at, at + len);
      if ((e.mode & 0o170000) === 0o120000) e.linkTarget = view;
      else e.data = view;
    }
    const gap = stats[o + 17]!;
    if (gap >= 0) {
      e.tarOffset = gap;
      e.tarEnd = gap + 512 + (len >= 0 && e.data !== undefined ? Math.ceil(len / 512) * 512 : 0);
      const linkLen = stats[o + 19]!;
      if (linkLen > 0 || (e.mode & 0o170000) === 0o120000) e.linkTarget = links.subarray(stats[o + 18]!, stats[o + 18]! + linkLen);
    }
    const x = xattrs[i];
    if (x !== undefined) e.xattrs = x;
    entries[i] = e;
  }
  return { count, entries, buffer: data };
}

/**
 * Reads `requests` (entries beneath `roots`) in one native call off the main thread, contents
 * included up to `budget` bytes in all. See EntriesRead.count for where a batch may stop.
 */
export async function readEntries(roots: ReadonlyArray<FdHandle | number>, requests: readonly EntryRequest[], budget: number, options: ReadOptions = {}): Promise<EntriesRead> {
  const [r, names, flags] = pack(roots, requests, budget, options);
  const raw = (await native().readEntries(r, names, flags, budget)) as Raw;
  return unpack(raw, requests);
}

/** readEntries() on the calling thread. */
export function readEntriesSync(roots: ReadonlyArray<FdHandle | number>, requests: readonly EntryRequest[], budget: number, options: ReadOptions = {}): EntriesRead {
  const [r, names, flags] = pack(roots, requests, budget, options);
  return unpack(native().readEntriesSync(r, names, flags, budget) as Raw, requests);
}

/**
 * sha256 on the thread pool (OpenSSL's EVP, as Node's crypto uses): a layer's bytes hashed off
 * the main thread while it encodes the next batch. Updates run one at a time, in the order
 * given; the buffers must not change until their update has settled.
 */
export class PoolHasher {
  readonly #state: unknown = native().sha256Create();
  #chain: Promise<void> = Promise.resolve();
  #bytes = 0;
  #hex: string | undefined;

  /** Queues `buffers`; the promise settles when they are hashed (a failure also fails digest()). */
  update(buffers: readonly Buffer[]): Promise<void> {
    if (this.#hex !== undefined) throw new Error('PoolHasher.update() after digest()');
    for (const b of buffers) this.#bytes += b.length;
    const list = [...buffers];
    this.#chain = this.#chain.then(() => native().sha256Update(this.#state, list));
    return this.#chain;
  }

  /** Bytes queued so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The lowercase hex digest of everything queued, once it is hashed. Repeatable. */
  async digest(): Promise<string> {
    if (this.#hex === undefined) {
      await this.#chain;
      this.#hex ??= native().sha256Digest(this.#state).toString('hex');
    }
    return this.#hex;
  }
}
