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
  error?: SystemError;
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
  linkTarget?: Buffer;
  /**
   * A regular file's contents when asked for and within the budget; a view into the batch's one
   * Buffer. undefined: read it in chunks (openat2 + read).
   */
  data?: Buffer;
  /** Every xattr, name and value, as listxattr lists them; undefined when there are none. */
  xattrs?: Array<[string, Buffer]>;
}

export interface EntriesRead {
  /**
   * How many of the requests were done, from the first: a regular file that does not fit what
   * is left of the budget ends the batch before it (the next batch starts with it), unless it
   * is the first (then it comes without `data`).
   */
  count: number;
  entries: EntryRead[];
}

const DATA = 1;
const XATTRS = 2;
const REGULAR = 4;
const DIR = 8;
// The row layout of native/layer_read.cc.
const FIELDS = 17;
const MAX_BUDGET = 1 << 30;

type Raw = [number, Float64Array, Buffer, Array<Array<[string, Buffer]> | undefined>];

let syscalls: string[] | undefined;

function pack(roots: ReadonlyArray<FdHandle | number>, requests: readonly EntryRequest[], budget: number): [Array<FdHandle | number>, Array<string | Buffer>, Uint32Array] {
  if (!Array.isArray(roots)) throw invalidArgType('roots', 'an instance of Array', roots);
  roots.forEach((r, i) => {
    if (!isHandle(r) && !(typeof r === 'number' && Number.isInteger(r) && r >= 0)) throw invalidArgType(`roots[${i}]`, 'an fd handle or a non-negative integer', r);
  });
  if (!Array.isArray(requests)) throw invalidArgType('requests', 'an instance of Array', requests);
  if (typeof budget !== 'number' || !Number.isInteger(budget) || budget < 0 || budget > MAX_BUDGET) throw outOfRange('budget', `>= 0 && <= ${MAX_BUDGET}`, budget);
  const names = new Array<string | Buffer>(requests.length);
  const flags = new Uint32Array(requests.length);
  for (let i = 0; i < requests.length; i++) {
    const r = requests[i]!;
    if (!Number.isInteger(r.root) || r.root < 0 || r.root >= roots.length) throw outOfRange(`requests[${i}].root`, `>= 0 && < ${roots.length}`, r.root);
    names[i] = typeof r.name === 'string' && r.name.length > 0 && !r.name.includes('\0') ? r.name : cPath(`requests[${i}].name`, r.name);
    flags[i] = (r.root << 8) | (r.data ? DATA : 0) | (r.xattrs ? XATTRS : 0) | (r.type === 'file' ? REGULAR : r.type === 'dir' ? DIR : 0);
  }
  return [[...roots], names, flags];
}

function unpack(raw: Raw, requests: readonly EntryRequest[]): EntriesRead {
  const [count, stats, data, xattrs] = raw;
  const entries = new Array<EntryRead>(count);
  for (let i = 0; i < count; i++) {
    const o = i * FIELDS;
    const e: EntryRead = {
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
    const x = xattrs[i];
    if (x !== undefined) e.xattrs = x;
    entries[i] = e;
  }
  return { count, entries };
}

/**
 * Reads `requests` (entries beneath `roots`) in one native call off the main thread, contents
 * included up to `budget` bytes in all. See EntriesRead.count for where a batch may stop.
 */
export async function readEntries(roots: ReadonlyArray<FdHandle | number>, requests: readonly EntryRequest[], budget: number): Promise<EntriesRead> {
  const [r, names, flags] = pack(roots, requests, budget);
  const raw = (await native().readEntries(r, names, flags, budget)) as Raw;
  return unpack(raw, requests);
}

/** readEntries() on the calling thread. */
export function readEntriesSync(roots: ReadonlyArray<FdHandle | number>, requests: readonly EntryRequest[], budget: number): EntriesRead {
  const [r, names, flags] = pack(roots, requests, budget);
  return unpack(native().readEntriesSync(r, names, flags, budget) as Raw, requests);
}
