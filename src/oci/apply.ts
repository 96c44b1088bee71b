/**
 * applyLayer(): an OCI layer (tar, gzip or zstd) onto a directory, as fast as GNU tar and safer.
 *
 * The flow is bytes → (decompress, digest) → tar entries → batched native writes beneath the
 * directory's fd. The JS side only parses headers and decides what each entry means (whiteouts,
 * opaque markers, ids); every filesystem call happens in the native layer writer, a batch of
 * entries per thread-pool call, while the next batch is parsed: one round trip per file is what
 * makes node-tar 20 times slower than GNU tar.
 *
 * Nothing half-made looks complete. A new or empty directory is filled under a temporary name
 * beside it and renamed into place only when the digests are checked; a failure removes it, and
 * one left by a crash is removed by the next apply to the same directory. Applying onto a
 * directory that already has content (flattening onto a lower layer) cannot be undone: the
 * directory carries the `user.overlayfs.incomplete` xattr until the apply has succeeded.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { constants } from 'node:os';
import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { OverlayError, OverlaySpecError, type SpecProblem } from '../spec/errors.js';
import { openLayerWriter, WriteBatch, type EntryMeta, type LayerWriter } from '../sys/layer-writer.js';
import { AT, LOCK, O } from '../sys/constants.js';
import { createSystemError } from '../sys/errors.js';
import { flock, open as openFd } from '../sys/fd.js';
import { statx } from '../sys/inodes.js';
import type { FdHandle } from '../sys/native-types.js';
import { removexattr, setxattr } from '../sys/xattr.js';
import type { Compression } from './compression.js';
import type { Digest } from './digest.js';
import { displayName, entryPath, markerOf } from './entry-name.js';
import { inInitialUserNamespace, mapId, type IdMap } from './ids.js';
import { abortError, openLayer } from './source.js';
import { TarParser, type TarEntry } from './tar/parse.js';
import { TarSplitRecorder } from './tar/split.js';

export type { IdMap };

export interface ApplyProgress {
  /** Bytes of the layer read so far (compressed, as stored). */
  compressedBytes: number;
  /** Bytes of the uncompressed tar so far. */
  bytes: number;
  entries: number;
}

export interface ApplyOptions {
  /** The layer's media type; the compression is detected from the bytes when this is not given. */
  mediaType?: string;
  compression?: Compression;
  /** The blob digest (sha256 of the bytes as given) the layer must have. */
  digest?: string;
  /** The diffID (sha256 of the uncompressed tar) the layer must have. */
  diffId?: string;
  /**
   * How whiteouts are written: 'device' (a 0/0 character device, the kernel's usual form; any
   * user may make one since Linux 5.8) or 'xattr' (an empty file with the overlay.whiteout xattr,
   * Linux 6.7, for filesystems or sandboxes that refuse device nodes). Default 'device'.
   */
  whiteouts?: 'device' | 'xattr';
  /** The xattr namespace of the markers: 'trusted' (default) or 'user' (an overlay mounted with userxattr). */
  namespace?: 'trusted' | 'user';
  /**
   * Apply onto a root filesystem instead of making a layer: whiteouts delete what they name and
   * an opaque marker empties its directory of what the layers below put there. For a flattened
   * image (a chroot) or a layer applied onto a copy of its lowers.
   */
  flatten?: boolean;
  /** Keep the entries' uid/gid (chown). Default: when running as root. */
  preserveOwner?: boolean;
  /** Map the layer's ids to host ids (rootless, user namespaces); an id outside the map is refused. */
  idMap?: IdMap;
  /**
   * Also write the layer's tar-split to this file: every byte of the tar but file content, which
   * with the applied files rebuilds the tar byte for byte (what a layer store keeps to export a
   * layer with its diffID). Removed again if the apply fails.
   */
  tarSplit?: string;
  /** Resolve paths component by component instead of with openat2 (for tests: the fallback for kernels before 5.6). */
  noOpenat2?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: ApplyProgress) => void;
}

export interface AppliedLayer {
  compression: Compression;
  /** sha256 of the layer as given. */
  digest: Digest;
  /** sha256 of the uncompressed tar. */
  diffId: Digest;
  compressedBytes: number;
  bytes: number;
  entries: number;
  /**
   * What the layer's files take, as du --apparent-size and docker's layer size count it: file
   * contents and symlink targets (a hard link's data once).
   */
  size: number;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  devices: number;
  whiteouts: number;
  opaques: number;
}

// A batch goes to the writer at this much file data or this many operations: big enough that
// the thread-pool hop is noise, small enough that memory stays bounded (two batches at most).
const FLUSH_BYTES = 4 << 20;
const FLUSH_OPS = 4096;

const { EBUSY, ENOTDIR, ENOTEMPTY } = constants.errno;

const INCOMPLETE_XATTR = 'user.overlayfs.incomplete';
const MAX_OWNER_ID = 0xfffffffe;
const OVERLAY_XATTR = /^(trusted|user)\.overlay\./;

function checkOptions(dir: unknown, options: ApplyOptions): void {
  const problems: SpecProblem[] = [];
  if (typeof dir !== 'string' || dir === '') problems.push({ field: 'dir', problem: 'must be a non-empty path' });
  if (options.whiteouts !== undefined && options.whiteouts !== 'device' && options.whiteouts !== 'xattr') {
    problems.push({ field: 'whiteouts', problem: `must be 'device' or 'xattr', not ${JSON.stringify(options.whiteouts)}` });
  }
  if (options.namespace !== undefined && options.namespace !== 'trusted' && options.namespace !== 'user') {
    problems.push({ field: 'namespace', problem: `must be 'trusted' or 'user', not ${JSON.stringify(options.namespace)}` });
  }
  if (options.flatten && options.whiteouts !== undefined) problems.push({ field: 'whiteouts', problem: 'a flattened apply writes no whiteouts: whiteouts delete' });
  if (problems.length > 0) throw new OverlaySpecError(problems);
}

/**
 * Whether this process can give files any owner: root with the whole id range (not root of a
 * user namespace that maps one id, where chown to any other id fails EINVAL).
 */
function ownsEveryId(): boolean {
  return process.geteuid?.() === 0 && inInitialUserNamespace();
}

/**
 * An owner id a file can have: 2^32 - 1 is (uid_t)-1, which chown takes as "leave it as it is",
 * and a tar's numbers go far past 32 bits. A layer error naming the entry, as any bad header.
 */
function ownerId(id: number, kind: 'uid' | 'gid', path: Buffer): number {
  if (id <= MAX_OWNER_ID) return id;
  throw new OverlayError('ERR_LAYER_FORMAT', `layer entry '${displayName(path)}' has ${kind} ${id}: no file can have it (at most ${MAX_OWNER_ID})`, { path: displayName(path) });
}

function deviceNumber(n: number, kind: 'major' | 'minor', path: Buffer): number {
  if (n <= 0xffffffff) return n;
  throw new OverlayError('ERR_LAYER_FORMAT', `layer entry '${displayName(path)}' has device ${kind} ${n}: past 32 bits`, { path: displayName(path) });
}

/** Turns tar entries into writer operations: the OCI meaning of each entry. */
class EntryConverter {
  readonly stats = { entries: 0, size: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, devices: 0, whiteouts: 0, opaques: 0 };
  batch = new WriteBatch();
  /** Data bytes of the current entry not seen yet (a file's are written, any other's skipped). */
  private remaining = 0;
  /** Where the current entry's content goes in the layer dir (a regular file), else undefined. */
  contentPath: Buffer | undefined;
  private inFile = false;
  private readonly chown: boolean;
  private readonly options: ApplyOptions;

  constructor(options: ApplyOptions) {
    this.options = options;
    this.chown = options.preserveOwner ?? ownsEveryId();
  }

  private meta(e: TarEntry, path: Buffer): EntryMeta {
    const meta: EntryMeta = { mode: e.mode & 0o7777, mtimeSec: e.mtimeSec, mtimeNsec: e.mtimeNsec };
    if (this.chown) {
      meta.uid = ownerId(this.options.idMap ? mapId(this.options.idMap.uid, e.uid, 'uid', path) : e.uid, 'uid', path);
      meta.gid = ownerId(this.options.idMap ? mapId(this.options.idMap.gid, e.gid, 'gid', path) : e.gid, 'gid', path);
    }
    if (e.xattrs.length > 0) {
      for (const [name] of e.xattrs) {
        if (OVERLAY_XATTR.test(name)) {
          throw new OverlayError('ERR_LAYER_UNSAFE', `layer entry '${displayName(path)}' carries the overlay xattr ${name}: a layer must not forge overlay markers`, {
            path: displayName(path),
          });
        }
      }
      meta.xattrs = e.xattrs;
    }
    return meta;
  }

  entry(e: TarEntry): void {
    this.stats.entries++;
    this.inFile = false;
    this.contentPath = undefined;
    this.remaining = e.size;
    const path = entryPath(e.name);
    // The layer's root ('./'): its metadata is the layer directory's own, which the caller made.
    if (path === undefined) return;
    const marker = markerOf(path);
    const b = this.batch;
    if (marker) {
      // A whiteout's own fields (a hardlink target, a size) are stale in real images: ignored.
      if (marker.kind === 'whiteout') {
        this.stats.whiteouts++;
        if (this.options.flatten) b.remove(marker.target);
        else b.whiteout(marker.target, this.options.whiteouts ?? 'device', this.options.namespace ?? 'trusted');
      } else if (marker.kind === 'opaque') {
        this.stats.opaques++;
        if (marker.dir === undefined) {
          if (this.options.flatten) b.clearDir(Buffer.alloc(0));
          // An opaque root hides nothing the kernel would show (the root is always merged).
        } else if (this.options.flatten) b.clearDir(marker.dir);
        else b.opaque(marker.dir, this.options.namespace ?? 'trusted');
      }
      return;
    }
    switch (e.type) {
      case 'dir':
        this.stats.dirs++;
        b.dir(path, this.meta(e, path));
        return;
      case 'file':
        this.stats.files++;
        this.stats.size += e.size;
        this.contentPath = path;
        b.file(path, this.meta(e, path));
        this.inFile = true;
        if (e.size === 0) this.endFile();
        return;
      case 'symlink':
        this.stats.symlinks++;
        this.stats.size += e.linkname.length;
        b.symlink(path, e.linkname, this.meta(e, path));
        return;
      case 'hardlink': {
        this.stats.hardlinks++;
        const target = entryPath(e.linkname);
        if (target === undefined) {
          throw new OverlayError('ERR_LAYER_FORMAT', `layer entry '${displayName(path)}' is a hard link to the layer's root directory`, { path: displayName(path) });
        }
        b.hardlink(path, target);
        return;
      }
      case 'char':
      case 'block':
      case 'fifo':
        this.stats.devices++;
        b.node(path, this.meta(e, path), e.type, deviceNumber(e.devMajor, 'major', path), deviceNumber(e.devMinor, 'minor', path));
        return;
    }
  }

  data(chunk: Buffer): void {
    this.remaining -= chunk.length;
    if (!this.inFile) return;
    this.batch.data(chunk);
    if (this.remaining === 0) this.endFile();
  }

  private endFile(): void {
    this.batch.endFile();
    this.inFile = false;
  }

  take(): WriteBatch {
    const b = this.batch;
    this.batch = new WriteBatch();
    return b;
  }
}

/** The native writer's refusals of a path, as the layer problem they are. */
function asLayerError(e: unknown): unknown {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'EXDEV' || err?.code === 'ELOOP') {
    const path = typeof err.path === 'string' ? err.path : '?';
    return new OverlayError(
      'ERR_LAYER_UNSAFE',
      `layer entry '${path}' would be written through a symbolic link that leaves the layer directory (or a /proc link): refused, nothing written outside (${err.code}, ${err.syscall})`,
      { path },
    );
  }
  return e;
}

/**
 * The prefix of the temporary directories beside `dir`: `.NAME.apply-`, then the pid and a
 * random part. A long NAME (up to 255 bytes is legal) is cut and a hash of it added, so the
 * whole stays well under NAME_MAX.
 */
function tempPrefix(dir: string): string {
  const name = basename(dir);
  if (Buffer.byteLength(name) <= 160) return `.${name}.apply-`;
  let cut = '';
  for (const c of name) {
    if (Buffer.byteLength(cut + c) > 120) break;
    cut += c;
  }
  return `.${cut}~${createHash('sha256').update(name).digest('hex').slice(0, 16)}.apply-`;
}

/** Temporary directories of applies that died (their pid is gone) beside `dir`. */
async function removeStaleTemps(dir: string): Promise<void> {
  const parent = dirname(dir);
  const prefix = tempPrefix(dir);
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) continue;
    if (pid === process.pid) continue; // one of ours, still running
    await rm(join(parent, name), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

type Target =
  | { kind: 'temp'; temp: string; existed: boolean } // fill temp, rename onto dir
  // dir has content, or is a mount point (no rename onto it): written into, marked incomplete
  // meanwhile, and locked (flock on `lock`) against a concurrent apply. `wasEmpty`: a failure
  // empties it again.
  | { kind: 'in-place'; lock: FdHandle; wasEmpty: boolean };

/** Whether `dir` is the root of a mount (another filesystem, or a bind mount): rename(2) cannot replace it. */
async function isMountRoot(dir: string): Promise<boolean> {
  const [self, parent] = await Promise.all([statx(dir, { flags: AT.SYMLINK_NOFOLLOW }), statx(dirname(dir))]);
  if (self.mountId !== undefined && parent.mountId !== undefined) return self.mountId !== parent.mountId;
  return self.devMajor !== parent.devMajor || self.devMinor !== parent.devMinor;
}

/**
 * The lock of an in-place apply: flock on the directory itself, so two applies (of this process
 * or of others) never write into one directory at once; the kernel drops it if the process dies.
 */
async function lockTarget(dir: string): Promise<FdHandle> {
  const fd = await openFd(dir, O.RDONLY | O.DIRECTORY | O.NOFOLLOW);
  try {
    await flock(fd, LOCK.EX | LOCK.NB);
  } catch (e) {
    fd.close();
    if ((e as NodeJS.ErrnoException).code === 'EWOULDBLOCK' || (e as NodeJS.ErrnoException).code === 'EAGAIN') {
      throw createSystemError({ errno: EBUSY, syscall: 'flock', path: dir }, "another apply to this directory is running (it holds the directory's lock); nothing was written");
    }
    throw e;
  }
  return fd;
}

async function prepareTarget(dir: string): Promise<Target> {
  await removeStaleTemps(dir);
  let existed = false;
  try {
    const st = await lstat(dir);
    if (!st.isDirectory()) throw createSystemError({ errno: ENOTDIR, syscall: 'applyLayer', path: dir });
    existed = true;
    const empty = (await readdir(dir)).length === 0;
    if (!empty || (await isMountRoot(dir))) {
      const lock = await lockTarget(dir);
      try {
        await setxattr(dir, INCOMPLETE_XATTR, Buffer.from('1'));
      } catch {
        // A filesystem without user xattrs: the error of a failed apply still says what happened.
      }
      return { kind: 'in-place', lock, wasEmpty: empty };
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await mkdir(dirname(dir), { recursive: true });
  }
  const temp = join(dirname(dir), `${tempPrefix(dir)}${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(temp, { mode: 0o755 });
  return { kind: 'temp', temp, existed };
}

async function commitTarget(dir: string, target: Target): Promise<void> {
  if (target.kind === 'in-place') {
    try {
      await removexattr(dir, INCOMPLETE_XATTR);
    } catch {
      // never set (no user xattrs there)
    }
    target.lock.close();
    return;
  }
  // rename(2) replaces an empty directory: the one the caller made, if any. A directory that
  // gained content meanwhile is not replaced (ENOTEMPTY): someone else applied there.
  try {
    await rename(target.temp, dir);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw e;
    throw createSystemError(
      { errno: -(err.errno ?? -ENOTEMPTY), syscall: 'rename', path: target.temp, dest: dir },
      'the directory gained content while this layer was applied (another apply to it?); this apply kept nothing',
    );
  }
}

async function abandonTarget(dir: string, target: Target): Promise<void> {
  if (target.kind === 'temp') {
    await rm(target.temp, { recursive: true, force: true });
    return;
  }
  try {
    // Empty before (a mount point): empty again, as if nothing happened.
    if (target.wasEmpty) {
      for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
      await removexattr(dir, INCOMPLETE_XATTR).catch(() => {});
    }
  } finally {
    target.lock.close();
  }
}

/**
 * Applies a layer to `dir`: each entry becomes a file, whiteouts and opaque markers become the
 * overlay's (or, with `flatten`, delete what they name). `source` is a path or a readable
 * stream of a plain, gzip or zstd tar. Resolves with the digests and counts once everything is
 * on disk and the digests are checked; rejects with nothing half-made left looking complete.
 */
export async function applyLayer(
  source: string | NodeJS.ReadableStream | AsyncIterable<Uint8Array>,
  dir: string,
  options: ApplyOptions = {},
): Promise<AppliedLayer> {
  checkOptions(dir, options);
  if (options.signal?.aborted) throw abortError(options.signal);
  const target = resolve(dir);
  const opened = await openLayer(source, {
    ...(options.mediaType !== undefined ? { mediaType: options.mediaType } : {}),
    ...(options.compression !== undefined ? { compression: options.compression } : {}),
    ...(options.digest !== undefined ? { expectedDigest: options.digest as Digest } : {}),
    ...(options.diffId !== undefined ? { expectedDiffId: options.diffId as Digest } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  let place: Awaited<ReturnType<typeof prepareTarget>>;
  try {
    place = await prepareTarget(target);
  } catch (e) {
    // The source was opened (a path's FileHandle): let go of it, or the GC closes it, with a warning.
    await opened.close();
    throw e;
  }
  let writer: LayerWriter | undefined;
  let inflight: Promise<void> | undefined;
  let split: TarSplitRecorder | undefined;
  let splitOut: WriteStream | undefined;
  // Errors while writing are the layer's (a path refused); after it, the commit's own.
  let writing = true;
  try {
    writer = openLayerWriter(place.kind === 'temp' ? place.temp : target, options.noOpenat2 ? { noOpenat2: true } : {});
    const convert = new EntryConverter(options);
    if (options.tarSplit !== undefined) {
      splitOut = createWriteStream(options.tarSplit, { flags: 'wx', mode: 0o600 });
      split = new TarSplitRecorder(splitOut);
    }
    const rec = split;
    const parser = rec
      ? new TarParser({
          entry: (e) => {
            convert.entry(e);
            rec.entry(convert.contentPath);
          },
          data: (c) => {
            rec.data(c);
            convert.data(c);
          },
        })
      : new TarParser({ entry: (e) => convert.entry(e), data: (c) => convert.data(c) });
    const progress = (): void => options.onProgress?.({ compressedBytes: opened.compressedBytes, bytes: parser.bytes, entries: convert.stats.entries });
    for await (const chunk of opened.tar) {
      rec?.chunk(chunk as Buffer);
      parser.write(chunk as Buffer);
      rec?.chunkDone();
      const b = convert.batch;
      if (b.dataBytes >= FLUSH_BYTES || b.ops >= FLUSH_OPS) {
        // One batch in the writer while the next is parsed: the pipeline, and the memory bound.
        if (inflight) await inflight;
        if (options.signal?.aborted) throw abortError(options.signal);
        inflight = writer.run(convert.take());
        inflight.catch(() => {}); // awaited below; not unhandled while the next chunk is read
        progress();
      }
    }
    parser.end();
    if (inflight) await inflight;
    if (convert.batch.ops > 0) await writer.run(convert.take());
    await writer.finish();
    writer = undefined;
    writing = false;
    if (split && splitOut) await split.finish(splitOut);
    // The digests are known only now: a layer that is not the one expected is not kept.
    const sums = opened.verify();
    if (options.signal?.aborted) throw abortError(options.signal);
    await commitTarget(target, place);
    progress();
    return { compression: opened.compression, ...sums, ...convert.stats };
  } catch (e) {
    // The writer's thread must be done with its fds before they are closed.
    if (inflight) await inflight.catch(() => {});
    writer?.close();
    if (split) {
      split.abort();
      if (splitOut && !splitOut.closed) {
        // A stream still opening creates its file after destroy(): wait for its close, then remove.
        const closed = new Promise<void>((resolve) => splitOut!.once('close', () => resolve()));
        splitOut.destroy();
        await closed;
      }
      await rm(options.tarSplit!, { force: true });
    }
    await abandonTarget(target, place);
    throw writing ? asLayerError(e) : e;
  }
}
