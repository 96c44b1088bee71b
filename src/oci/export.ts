/**
 * exportLayer(): an overlay upper directory as an OCI layer tar (image-spec layer.md), the
 * changeset of the upper over its lower layers:
 * - added and changed files and directories in full (a changed directory is its own header;
 *   its unchanged children are not repeated);
 * - a whiteout (0/0 device) in the upper as an empty file `.wh.NAME`; a directory whose lower
 *   content is hidden (opaque, or redirected away) as `.wh..wh..opq`, first in it, and only when
 *   a lower layer has that directory (as containers/storage does);
 * - a directory renamed with redirect_dir=on as what it is now: its merged content at the new
 *   name (read through the redirect in the lowers, and the upper's own entries), and a whiteout
 *   at the old name;
 * - a metacopy file with its data, from the lower file its metacopy (and redirect) point to;
 * - hard links inside the layer as tar hard links (first occurrence the file, by dev+ino);
 * - every xattr but the overlay's own (trusted.overlay.*, user.overlay.*) as SCHILY.xattr.*.
 *
 * The walk is layers/changes.ts (changeRecords()); the entries are read in batches by one native
 * call each (sys/layer-reader.ts: statx, link target, xattrs and small files' contents), the next
 * batch read while the previous one is encoded, hashed and pushed. Larger files are read in
 * chunks as the consumer takes them, so memory stays bounded whatever the file sizes.
 */
import { read as fsRead } from 'node:fs';
import { posix } from 'node:path';
import { addAbortSignal, finished, pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { cString, invalidArgType, invalidArgValue } from '../sys/args.js';
import { O, RESOLVE } from '../sys/constants.js';
import { open, openat2 } from '../sys/fd.js';
import { runAsync } from '../sys/io.js';
import { PoolHasher, readEntries, type EntryRead, type EntryRequest } from '../sys/layer-reader.js';
import type { FdHandle } from '../sys/native-types.js';
import { OverlayError } from '../spec/errors.js';
import { checkIdMap } from '../spec/shape.js';
import { unmapId, unmapXattr, type IdMap } from './ids.js';
import { changeRecords, type ChangeRecord } from '../layers/changes.js';
import { LayerStack } from '../layers/lookup.js';
import type { ReadNamespace } from '../layers/paths.js';
import { createCompressor, type Compression } from './compression.js';
import { Hasher, type Digest } from './digest.js';
import { END_OF_ARCHIVE, encodeHeader, padding, type TarEntryInput } from './tar/write.js';

export interface ExportOptions {
  /** Default 'none'. */
  compression?: Compression;
  /** The compressor's level (gzip 0-9, zstd 1-19). */
  level?: number;
  /**
   * The xattr namespace of the upper's overlay markers: 'trusted' (a mount without userxattr),
   * 'user' (with it), or 'auto' (either; default). Overlay xattrs of both never leave.
   */
  namespace?: ReadNamespace;
  /**
   * Deterministic output. Names are always sorted (UTF-8 byte order, per directory); with this,
   * mtimes are clamped to at most `mtime` (seconds since the epoch, as SOURCE_DATE_EPOCH) and
   * the owner is `uid`/`gid` when given.
   */
  reproducible?: { mtime?: number; uid?: number; gid?: number };
  /**
   * The upper of a container with an id map (an idmapped overlay): its files have the host's
   * ids, and the layer gets the container's again (`outside` → `inside`). An id no range covers
   * becomes 65534, as the kernel shows an unmapped id (overflowuid). applyLayer's idMap the
   * other way round.
   */
  idMap?: IdMap;
  signal?: AbortSignal;
  /** Called after each batch: tar entries and uncompressed bytes so far. */
  onProgress?: (p: { entries: number; bytes: number }) => void;
}

export interface ExportResult {
  /** sha256 of the uncompressed tar: the config's rootfs.diff_ids entry. */
  diffId: Digest;
  /** sha256 of the bytes of `stream`: the manifest's layer digest (the diffId when uncompressed). */
  digest: Digest;
  compression: Compression;
  /** Uncompressed tar bytes. */
  bytes: number;
  /** Bytes of `stream`. */
  compressedBytes: number;
  /** Tar entries (whiteouts and opaque markers included). */
  entries: number;
}

export interface ExportedLayer {
  /** The layer (compressed if asked). Nothing is read until it is consumed; it honours backpressure. */
  stream: Readable;
  /** Resolves when the stream has ended; rejects (and the stream errors) on failure. */
  result: Promise<ExportResult>;
}

/** Contents read per batch at most, and names per batch. */
const BUDGET = 8 << 20;
const MAX_BATCH = 1024;
/** How many reads the walk may queue ahead of them. */
const WALK_AHEAD = 4 * MAX_BATCH;
/** A file larger than what is left of a batch is read in chunks of this size. */
const CHUNK = 1 << 20;
const EMPTY = Buffer.alloc(0);
const NO_XATTRS: ReadonlyArray<readonly [string, Buffer]> = [];

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const S_IFSOCK = 0o140000;

const WH = '.wh.';
const OPQ = '.wh..wh..opq';

function isOverlayXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}

interface Item {
  record: ChangeRecord;
  /** Index into the batch's requests, or -1 when nothing is read for it. */
  req: number;
}

interface Batch {
  items: Item[];
  reads: EntryRead[];
  buffer: Buffer;
}

interface Checked {
  upper: string;
  lowers: string[];
  compression: Compression;
  level: number | undefined;
  namespace: ReadNamespace;
  mtime: number | undefined;
  uid: number | undefined;
  gid: number | undefined;
  idMap: IdMap | undefined;
  signal: AbortSignal | undefined;
  onProgress: ExportOptions['onProgress'];
}

function check(upper: unknown, lowers: unknown, options: unknown): Checked {
  const u = cString('upper', upper);
  if (!Array.isArray(lowers)) throw invalidArgType('lowers', 'an instance of Array', lowers);
  const l = lowers.map((p, i) => cString(`lowers[${i}]`, p));
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw invalidArgType('options', 'of type object', options);
  const o = (options ?? {}) as ExportOptions;
  const compression = o.compression ?? 'none';
  if (compression !== 'none' && compression !== 'gzip' && compression !== 'zstd') throw invalidArgValue('options.compression', "must be 'none', 'gzip' or 'zstd'", compression);
  if (o.level !== undefined && !Number.isInteger(o.level)) throw invalidArgValue('options.level', 'must be an integer', o.level);
  const namespace = o.namespace ?? 'auto';
  if (namespace !== 'trusted' && namespace !== 'user' && namespace !== 'auto') throw invalidArgValue('options.namespace', "must be 'trusted', 'user' or 'auto'", namespace);
  const r = o.reproducible;
  if (r !== undefined && (typeof r !== 'object' || r === null)) throw invalidArgType('options.reproducible', 'of type object', r);
  const whole = (field: string, v: unknown): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalidArgValue(`options.reproducible.${field}`, 'must be a non-negative integer', v);
    return v;
  };
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalidArgType('options.signal', 'an instance of AbortSignal', o.signal);
  if (o.idMap !== undefined) {
    const problem = checkIdMap(o.idMap)[0] ?? (!('uid' in o.idMap) || !Array.isArray(o.idMap.gid) ? { field: 'idmap', problem: 'must have uid and gid ranges' } : undefined);
    if (problem) throw invalidArgValue(`options.${problem.field.replace(/^idmap/, 'idMap')}`, problem.problem, o.idMap);
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw invalidArgType('options.onProgress', 'of type function', o.onProgress);
  return {
    upper: u,
    lowers: l,
    compression,
    level: o.level,
    namespace,
    mtime: whole('mtime', r?.mtime),
    uid: whole('uid', r?.uid),
    gid: whole('gid', r?.gid),
    idMap: o.idMap,
    signal: o.signal,
    onProgress: o.onProgress,
  };
}

function readChunk(fd: number, buffer: Buffer, length: number): Promise<number> {
  return new Promise((resolve, reject) => fsRead(fd, buffer, 0, length, null, (e, n) => (e ? reject(e) : resolve(n))));
}

/**
 * The chunks of one batch. The native read laid the batch out as a tar (a 512-byte gap before
 * each entry, its contents, zeros to the block): a header that fits its gap is written into it,
 * and runs of the batch go out as views, without a copy. A longer header (PAX records), a
 * marker with no gap of its own, or data from elsewhere cuts the run there.
 */
class Layout {
  readonly buf: Buffer;
  /** Start of the part of `buf` not given out yet. */
  #cursor = 0;
  /** End of the last region placed: where an entry without a gap of its own goes. */
  #pos = 0;
  readonly chunks: Buffer[] = [];

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  #cut(to: number): void {
    if (to > this.#cursor) this.chunks.push(this.buf.subarray(this.#cursor, to));
    this.#cursor = to;
  }

  /** `header` (one block or more, or none) for the entry read into the region of `e`; its data in the region is kept when `keepData`. */
  place(e: EntryRead, header: Buffer, keepData: boolean): void {
    const gap = e.tarOffset!;
    const end = e.tarEnd!;
    // Data in the region that is not to go out (a hard link's, a metacopy file's) is skipped.
    const skip = !keepData && end > gap + 512;
    if (header.length === 512) {
      header.copy(this.buf, gap);
      if (skip) {
        this.#cut(gap + 512);
        this.#cursor = end;
      }
    } else {
      this.#cut(gap);
      if (header.length > 0) this.chunks.push(header);
      this.#cursor = skip ? end : gap + 512;
    }
    this.#pos = end;
  }

  /** Bytes with no region of their own (a marker, data read elsewhere), after what was placed. */
  insert(b: Buffer): void {
    this.#cut(this.#pos);
    if (b.length > 0) this.chunks.push(b);
  }

  /** The chunks so far, taken. */
  take(): Buffer[] {
    this.#cut(this.#pos);
    return this.chunks.splice(0, this.chunks.length);
  }
}

/** The tar bytes of the layer, produced as the stream is read. */
class LayerTar {
  readonly c: Checked;
  /** The tar's sha256, computed on the thread pool as the batches go out. */
  readonly #diff = new PoolHasher();
  diffId: Digest | undefined;
  bytes = 0;
  entries = 0;
  #roots: FdHandle[] = [];
  #records: AsyncIterator<ChangeRecord[]> | undefined;
  #recordsDone = false;
  #stopped = false;
  #walkError: unknown;
  #walking: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #arrived: (() => void) | undefined;
  /** Records pulled but not yet read (a batch stopped at the budget before them). */
  #queue: Item[] = [];
  #queueReqs: EntryRequest[] = [];
  #links = new Map<string, string>();
  #stack: LayerStack | undefined;

  constructor(c: Checked) {
    this.c = c;
  }

  async #open(): Promise<void> {
    for (const dir of [this.c.upper, ...this.c.lowers]) this.#roots.push(await open(dir, O.PATH | O.DIRECTORY));
    this.#records = changeRecords(this.c.upper, this.c.lowers, { namespace: this.c.namespace })[Symbol.asyncIterator]();
    this.#walking = this.#walk();
  }

  /** What to read for a record, or undefined. */
  #request(r: ChangeRecord): EntryRequest | undefined {
    if (r.kind === 'D') {
      // The upper's own whiteout, for its owner, mode and time (as Docker takes them).
      if (r.hidden || r.cause !== 'whiteout') return undefined;
      return { root: 0, name: r.path.slice(1), data: false, xattrs: false, type: 'other' };
    }
    if (r.source === undefined) return undefined;
    const name = posix.basename(r.path);
    if (name.startsWith(WH)) {
      throw new OverlayError('ERR_LAYER_FORMAT', `'${r.path}': a name that begins with '${WH}' cannot be in an OCI layer (it would read as a whiteout)`, { path: r.path });
    }
    return { root: r.source.layer, name: r.source.path, data: r.type === 'file', xattrs: true, type: r.type === 'file' ? 'file' : r.type === 'dir' ? 'dir' : 'other' };
  }

  /**
   * The walk, run ahead of the reads (its own hops overlap theirs) until WALK_AHEAD reads are
   * queued. `#wake` resumes it, `#arrived` tells nextBatch() that records came.
   */
  async #walk(): Promise<void> {
    try {
      while (!this.#recordsDone && !this.#stopped) {
        if (this.#queueReqs.length >= WALK_AHEAD) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
          continue;
        }
        const n = await this.#records!.next();
        if (n.done) this.#recordsDone = true;
        else {
          for (const record of n.value) {
            const req = this.#request(record);
            this.#queue.push({ record, req: req ? this.#queueReqs.push(req) - 1 : -1 });
          }
        }
        this.#arrived?.();
      }
    } catch (e) {
      this.#walkError = e;
      this.#recordsDone = true;
      this.#arrived?.();
    }
  }

  /** The next batch: up to MAX_BATCH queued reads in one native call, and the records up to the first not read. */
  async nextBatch(): Promise<Batch | null> {
    while (!this.#recordsDone && this.#queueReqs.length < MAX_BATCH) await new Promise<void>((resolve) => (this.#arrived = resolve));
    this.#arrived = undefined;
    if (this.#walkError !== undefined) throw this.#walkError;
    if (this.#queue.length === 0) return null;
    const reqs = this.#queueReqs.length > MAX_BATCH ? this.#queueReqs.slice(0, MAX_BATCH) : this.#queueReqs;
    const got = reqs.length > 0 ? await readEntries(this.#roots, reqs, BUDGET, { tar: true }) : { count: 0, entries: [], buffer: EMPTY };
    if (this.#walkError !== undefined) throw this.#walkError;
    // The items up to the first request not read, which starts the next batch.
    let end = this.#queue.length;
    if (got.count < this.#queueReqs.length) end = this.#queue.findIndex((it) => it.req === got.count);
    const items = this.#queue.splice(0, end);
    this.#queueReqs.splice(0, got.count);
    for (const it of this.#queue) if (it.req >= 0) it.req -= got.count;
    if (this.#queueReqs.length < WALK_AHEAD) {
      this.#wake?.();
      this.#wake = undefined;
    }
    return { items, reads: got.entries, buffer: got.buffer };
  }

  #mtime(sec: number): number {
    const clamp = this.c.mtime;
    return clamp !== undefined && sec > clamp ? clamp : sec;
  }

  /**
   * A header's fields, every one set and in one order (one object shape for encodeHeader, which
   * reads thousands); `type`, `size`, `linkname` and the device numbers are set by the caller.
   */
  #input(name: string, mode: number, e: EntryRead | undefined, xattrs: ReadonlyArray<readonly [string, Buffer]>): TarEntryInput {
    return {
      name,
      type: 'file',
      mode,
      uid: this.c.uid ?? (e === undefined ? 0 : this.c.idMap ? unmapId(this.c.idMap.uid, e.uid) : e.uid),
      gid: this.c.gid ?? (e === undefined ? 0 : this.c.idMap ? unmapId(this.c.idMap.gid, e.gid) : e.gid),
      uname: '',
      gname: '',
      size: 0,
      mtimeSec: this.#mtime(e?.mtimeSec ?? 0),
      mtimeNsec: 0,
      linkname: EMPTY,
      devMajor: 0,
      devMinor: 0,
      xattrs,
    };
  }

  /** A header, counted. */
  #header(entry: TarEntryInput): Buffer {
    this.entries++;
    return encodeHeader(entry);
  }

  #marker(name: string, e?: EntryRead): Buffer {
    return this.#header(this.#input(name, e ? e.mode & 0o777 : 0, e, NO_XATTRS));
  }

  /** The tar chunks of one batch; a large file's data is read as the chunks are taken. */
  async *encode(batch: Batch): AsyncGenerator<Buffer> {
    const out = new Layout(batch.buffer);
    for (const { record: r, req } of batch.items) {
      const e = req >= 0 ? batch.reads[req] : undefined;
      if (e?.error) throw e.error;
      const name = r.path.slice(1);
      if (r.kind === 'D') {
        if (r.hidden) continue;
        const dir = posix.dirname(name);
        const h = this.#marker(dir === '.' ? `${WH}${name}` : `${dir}/${WH}${posix.basename(name)}`, e);
        if (e) out.place(e, h, false);
        else out.insert(h);
        continue;
      }
      if (r.path === '/') {
        if (r.opaque) out.insert(this.#marker(OPQ));
        continue;
      }
      if (e === undefined) continue;
      yield* this.#entry(out, name, r, e);
      if (r.opaque) out.insert(this.#marker(`${name}/${OPQ}`));
    }
    yield* out.take();
  }

  async *#entry(out: Layout, name: string, r: ChangeRecord, e: EntryRead): AsyncGenerator<Buffer> {
    const fmt = e.mode & S_IFMT;
    const kept = e.xattrs === undefined ? NO_XATTRS : e.xattrs.filter(([n]) => !isOverlayXattr(n));
    const h = this.#input(name, e.mode & 0o7777, e, this.c.idMap && kept.length > 0 ? kept.map(([n, v]) => [n, unmapXattr(n, v, this.c.idMap!)] as const) : kept);
    if (fmt === S_IFDIR) {
      h.type = 'dir';
      out.place(e, this.#header(h), false);
      return;
    }
    // A socket: no tar type holds one (GNU tar leaves them out too). Before the links below:
    // a name that is not in the layer must not become the target of a later name's hard link.
    if (fmt === S_IFSOCK) {
      out.place(e, EMPTY, false);
      return;
    }
    // Hard links inside the layer: the first name is the entry, the later ones link to it.
    if (e.nlink > 1) {
      const key = `${e.devMajor}:${e.devMinor}:${e.ino}`;
      const first = this.#links.get(key);
      if (first !== undefined) {
        h.type = 'hardlink';
        h.linkname = first;
        out.place(e, this.#header(h), false);
        return;
      }
      this.#links.set(key, name);
    }
    switch (fmt) {
      case S_IFREG:
        yield* this.#file(out, h, r, e);
        return;
      case S_IFLNK:
        h.type = 'symlink';
        h.linkname = e.linkTarget ?? EMPTY;
        out.place(e, this.#header(h), false);
        return;
      case S_IFCHR:
      case S_IFBLK:
        h.type = fmt === S_IFCHR ? 'char' : 'block';
        h.devMajor = e.rdevMajor;
        h.devMinor = e.rdevMinor;
        out.place(e, this.#header(h), false);
        return;
      case S_IFIFO:
        h.type = 'fifo';
        out.place(e, this.#header(h), false);
        return;
      default:
        // No other type is left (sockets went above); nothing to write for one.
        out.place(e, EMPTY, false);
        return;
    }
  }

  async *#file(out: Layout, h: TarEntryInput, r: ChangeRecord, e: EntryRead): AsyncGenerator<Buffer> {
    let root = r.source!.layer;
    let path = r.source!.path;
    const metacopy = e.xattrs?.some(([n]) => n === 'trusted.overlay.metacopy' || n === 'user.overlay.metacopy');
    if (!metacopy || (this.c.namespace !== 'auto' && !e.xattrs!.some(([n]) => n === `${this.c.namespace}.overlay.metacopy`))) {
      if (e.data !== undefined) {
        h.size = e.data.length;
        out.place(e, this.#header(h), true);
        return;
      }
      h.size = e.size;
      out.place(e, this.#header(h), false);
      yield* this.#stream(out, root, path, e.size);
      return;
    }
    // metacopy: the data is in the lower file the metacopy (and its redirect) point to.
    this.#stack ??= new LayerStack([this.c.upper, ...this.c.lowers], { namespace: this.c.namespace });
    const found = await runAsync(this.#stack.resolve(r.path));
    if (!found.found || found.dataFrom === undefined) {
      throw new OverlayError('ERR_LAYER_FORMAT', `'${r.path}': a metacopy file whose data is in no lower layer`, { path: r.path });
    }
    root = found.dataFrom.layer;
    path = found.dataFrom.path.slice(1);
    const got = await readEntries(this.#roots, [{ root, name: path, data: true, type: 'file' }], BUDGET);
    const d = got.entries[0]!;
    if (d.error) throw d.error;
    const size = d.data !== undefined ? d.data.length : d.size;
    h.size = size;
    out.place(e, this.#header(h), false);
    if (d.data !== undefined) {
      out.insert(d.data);
      out.insert(padding(size));
      return;
    }
    yield* this.#stream(out, root, path, size);
  }

  /** `size` bytes of a file larger than a batch, read in chunks as the consumer takes them, then its padding. */
  async *#stream(out: Layout, root: number, path: string, size: number): AsyncGenerator<Buffer> {
    yield* out.take();
    const fd = await openat2(path, O.RDONLY | O.NOFOLLOW | O.NONBLOCK, { dirfd: this.#roots[root]!, resolve: RESOLVE.BENEATH | RESOLVE.NO_MAGICLINKS });
    try {
      let left = size;
      while (left > 0) {
        const want = Math.min(left, CHUNK);
        const buf = Buffer.allocUnsafe(want);
        let n = await readChunk(fd.fd, buf, want);
        // Shorter than its size now: zeros for the rest, as GNU tar does ("file shrank").
        if (n === 0) {
          buf.fill(0);
          n = want;
        }
        left -= n;
        yield n === want ? buf : buf.subarray(0, n);
      }
    } finally {
      fd.close();
    }
    out.insert(padding(size));
  }

  /** Every chunk of the tar, hashed as it goes. */
  async *chunks(): AsyncGenerator<Buffer> {
    let pending: Promise<Batch | null> | undefined;
    let hashing: Promise<void> = Promise.resolve();
    let unhashed: Buffer[] = [];
    let unhashedBytes = 0;
    // The previous hash must be done before the next is queued: at most two batches in memory.
    const hash = async () => {
      await hashing;
      hashing = this.#diff.update(unhashed);
      hashing.catch(() => {});
      unhashed = [];
      unhashedBytes = 0;
    };
    try {
      await this.#open();
      pending = this.nextBatch();
      pending.catch(() => {});
      for (;;) {
        const batch = await pending;
        if (batch === null) break;
        this.c.signal?.throwIfAborted();
        // The next batch is read (off the main thread) while this one is encoded and taken.
        pending = this.nextBatch();
        pending.catch(() => {});
        for await (const chunk of this.encode(batch)) {
          this.bytes += chunk.length;
          unhashed.push(chunk);
          unhashedBytes += chunk.length;
          yield chunk;
          if (unhashedBytes >= BUDGET) await hash();
        }
        await hash();
        this.c.onProgress?.({ entries: this.entries, bytes: this.bytes });
      }
      unhashed.push(END_OF_ARCHIVE);
      this.bytes += END_OF_ARCHIVE.length;
      await hash();
      this.diffId = `sha256:${await this.#diff.digest()}`;
      yield END_OF_ARCHIVE;
    } finally {
      // A read in flight keeps its fds (leased) until it ends; wait for it, then close them.
      await hashing.catch(() => {});
      await pending?.catch(() => {});
      this.#stopped = true;
      this.#wake?.();
      await this.#walking;
      await this.#records?.return?.(undefined).catch(() => {});
      for (const h of this.#roots) h.close();
      this.#roots = [];
    }
  }
}

/** A Readable over an async generator that, when destroyed, finishes the generator (its cleanup) before it closes. */
class GeneratorStream extends Readable {
  readonly #gen: AsyncGenerator<Buffer>;
  #reading = false;

  constructor(gen: AsyncGenerator<Buffer>) {
    super({ highWaterMark: 1 << 20 });
    this.#gen = gen;
  }

  override _read(): void {
    if (this.#reading) return;
    this.#reading = true;
    void this.#pump();
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        const n = await this.#gen.next();
        if (this.destroyed) return;
        if (n.done) {
          this.push(null);
          return;
        }
        if (!this.push(n.value)) return;
      }
    } catch (e) {
      this.destroy(e as Error);
    } finally {
      this.#reading = false;
    }
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    // return() runs the generator's finally blocks (after a step in flight ends).
    this.#gen.return(undefined).then(
      () => cb(err),
      (e: unknown) => cb(err ?? (e as Error)),
    );
  }
}

/** Counts and hashes what passes. */
class Tap extends Transform {
  readonly hash = new Hasher();
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    cb(null, chunk);
  }
}

/**
 * The changes of `upper` over `lowers` (top first) as an OCI layer tar, compressed if asked.
 * Nothing is read until the stream is consumed. The upper (and lowers) must not change while
 * it is read: export an unmounted upper, or a frozen one.
 */
export function exportLayer(upper: string, lowers: readonly string[], options: ExportOptions = {}): ExportedLayer {
  const c = check(upper, lowers, options);
  const tar = new LayerTar(c);
  const source = new GeneratorStream(tar.chunks());
  const closed = new Promise<void>((resolve) => source.once('close', resolve));
  let stream: Readable;
  let tap: Tap | undefined;
  if (c.compression === 'none') stream = source;
  else {
    const compressor = createCompressor(c.compression, c.level === undefined ? {} : { level: c.level });
    tap = new Tap();
    stream = tap;
    pipeline(source, compressor, tap, () => {});
  }
  if (c.signal) addAbortSignal(c.signal, stream);
  const result = new Promise<ExportResult>((resolve, reject) => {
    finished(stream, { readable: true, writable: false }, (err) => {
      // Settles once the walk has closed its fds.
      void closed.then(() => {
        if (err) return reject(err);
        const diffId = tar.diffId!;
        resolve({
          diffId,
          digest: tap ? tap.hash.digest() : diffId,
          compression: c.compression,
          bytes: tar.bytes,
          compressedBytes: tap ? tap.hash.bytes : tar.bytes,
          entries: tar.entries,
        });
      });
    });
  });
  // The caller may only read the stream; its error is the stream's.
  result.catch(() => {});
  return { stream, result };
}
