/**
 * What applyLayer and `ovl layer apply` read from: a layer blob (a path, a Node stream or any
 * async iterable of bytes) opened as its uncompressed tar, digested on the way.
 *
 * - The compression is detected from the first bytes (peeked, not lost), as containerd and moby
 *   do: a media type, when given, must be a known layer type, but the magic number decides,
 *   and only `compression` overrides it.
 * - The blob digest is the sha256 of the bytes as read, the diffID that of the tar. For a plain
 *   tar they are one hash: the bytes are hashed once and both are that digest.
 * - Backpressure is honoured end to end: the source is read only as fast as the consumer takes
 *   the tar, so memory stays bounded whatever the layer's size.
 * - A path is read with 1 MiB reads into fresh buffers (a loop of FileHandle.read: measured a
 *   little faster than fs.createReadStream, and it checks the signal between reads); for a plain
 *   tar those same buffers are the tar's chunks (no copy).
 * - An expected digest or diffID that differs fails the last step of the iteration and verify()
 *   with ERR_DIGEST_MISMATCH, so a consumer never sees a mismatched layer end cleanly.
 * - Aborting (`signal`) rejects the iteration with an AbortError (code ABORT_ERR) and releases
 *   everything: the file, the decompressor, a zstd child process (killed and reaped).
 */
import { open } from 'node:fs/promises';
import { Readable, type Duplex } from 'node:stream';
import { compressionOfMediaType, createDecompressor, detectCompression, DETECT_BYTES, type CodecOptions, type Compression } from './compression.js';
import { PoolHasher } from '../sys/layer-reader.js';
import { digestMismatch, Hasher, parseDigest, type Digest } from './digest.js';

export interface LayerSourceOptions {
  /** The blob's media type (from the manifest): checked to be a known layer type. */
  mediaType?: string;
  /** The compression, overriding detection by magic number. */
  compression?: Compression;
  /** The blob's digest (the manifest's), checked when the tar has been read. */
  expectedDigest?: Digest;
  /** The tar's digest (the config's rootfs.diff_ids entry), checked when the tar has been read. */
  expectedDiffId?: Digest;
  /** Aborts the reading: the iteration rejects with an AbortError. */
  signal?: AbortSignal;
  /** The size of reads from a path (default 1 MiB). */
  highWaterMark?: number;
  /** For zstd: which implementation (default: the best present; see compression.ts). */
  zstd?: CodecOptions['zstd'];
}

export interface LayerVerification {
  /** sha256 of the blob as read. */
  digest: Digest;
  /** sha256 of the uncompressed tar (== digest for an uncompressed layer). */
  diffId: Digest;
  compressedBytes: number;
  /** Bytes of the uncompressed tar. */
  bytes: number;
}

export interface OpenedLayer {
  compression: Compression;
  /**
   * The uncompressed tar, in order, as Buffers; it may be read once. Backpressure is honoured
   * (bounded memory for a 10 GB layer); hashing happens as chunks pass. Its last step throws
   * ERR_DIGEST_MISMATCH when an expected digest differs. Breaking out of it releases the source.
   */
  tar: AsyncIterable<Buffer>;
  /**
   * After `tar` is fully consumed: the digests and byte counts; throws ERR_DIGEST_MISMATCH
   * (expected/actual) if an expected one differs. Call it last, before treating the layer as
   * complete. Before the end of the tar it throws (code ERR_INVALID_STATE).
   */
  verify(): LayerVerification;
  /** Compressed bytes read so far (for progress). */
  readonly compressedBytes: number;
  /** Releases the source without reading it (the file, a child process); idempotent. */
  close(): Promise<void>;
}

const DEFAULT_READ = 1 << 20;

/**
 * sha256 of the chunks as they pass, on the thread pool (sys.PoolHasher, OpenSSL as Node's
 * crypto): hashing 280 MB costs 0.3-0.7 s of CPU, which on the main thread would stand in line
 * with the tar parsing while the layer writer waits. Where the addon is not there (the unit
 * tests), Node's crypto on this thread: the same digest either way.
 */
const HASH_BACKLOG = 16 << 20;

class PassHasher {
  readonly #pool: PoolHasher | undefined;
  readonly #main: Hasher | undefined;
  #bytes = 0;
  /** Bytes queued on the pool and not hashed yet, and the last update queued. */
  #pending = 0;
  #last: Promise<void> = Promise.resolve();

  constructor() {
    let pool: PoolHasher | undefined;
    try {
      pool = new PoolHasher();
    } catch {
      pool = undefined;
    }
    this.#pool = pool;
    this.#main = pool ? undefined : new Hasher();
  }

  /** The chunk must not change afterwards (the chunks here are never reused). */
  update(b: Buffer): void {
    this.#bytes += b.length;
    if (!this.#pool) {
      this.#main!.update(b);
      return;
    }
    const n = b.length;
    this.#pending += n;
    // A failure rejects digest(); here it only stops counting.
    this.#last = this.#pool.update([b]).then(
      () => {
        this.#pending -= n;
      },
      () => {},
    );
  }

  /**
   * The reader's backpressure: a queue of chunks waiting to be hashed holds them in memory, so
   * past BACKLOG bytes the reader waits until the queue is empty.
   */
  async settle(): Promise<void> {
    if (this.#pending > HASH_BACKLOG) await this.#last;
  }

  get bytes(): number {
    return this.#bytes;
  }

  async digest(): Promise<Digest> {
    return this.#pool ? (`sha256:${await this.#pool.digest()}` as Digest) : this.#main!.digest();
  }
}

/**
 * Node's AbortError shape (as fs and streams reject with): name AbortError, code ABORT_ERR, the
 * signal's reason as `cause` (whatever it is: a DOMException, a string). Every abort in oci/
 * goes through here.
 */
export function abortError(signal: AbortSignal): Error {
  const e = new Error('The operation was aborted', { cause: signal.reason });
  e.name = 'AbortError';
  Object.defineProperty(e, 'code', { value: 'ABORT_ERR', enumerable: true });
  return e;
}

/** `p`, or an AbortError as soon as `signal` aborts. */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function toBuffer(c: unknown): Buffer {
  if (Buffer.isBuffer(c)) return c;
  if (c instanceof Uint8Array) return Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  throw new TypeError(`A layer source must yield bytes (Buffer or Uint8Array). Received ${typeof c === 'string' ? 'a string (a stream with an encoding?)' : typeof c}`);
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

function checkOptions(options: LayerSourceOptions): void {
  const { compression, highWaterMark, signal } = options;
  if (compression !== undefined && compression !== 'none' && compression !== 'gzip' && compression !== 'zstd') {
    throw new TypeError(`The "compression" option must be 'none', 'gzip' or 'zstd'. Received ${JSON.stringify(compression)}`);
  }
  if (highWaterMark !== undefined && !(Number.isInteger(highWaterMark) && highWaterMark >= 4096 && highWaterMark <= 64 << 20)) {
    throw new RangeError(`The "highWaterMark" option must be an integer from 4096 to ${64 << 20}. Received ${String(highWaterMark)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('The "signal" option must be an AbortSignal');
}

/**
 * Opens a layer blob: `source` is a path, a Node stream (process.stdin for `-`) or an async
 * iterable of bytes. Resolves once the compression is known (the first bytes were read).
 */
export async function openLayer(source: string | NodeJS.ReadableStream | AsyncIterable<Uint8Array>, options: LayerSourceOptions = {}): Promise<OpenedLayer> {
  checkOptions(options);
  const { signal } = options;
  const expectedDigest = options.expectedDigest === undefined ? undefined : parseDigest(options.expectedDigest, 'expectedDigest');
  const expectedDiffId = options.expectedDiffId === undefined ? undefined : parseDigest(options.expectedDiffId, 'expectedDiffId');
  if (options.mediaType !== undefined) compressionOfMediaType(options.mediaType);
  if (signal?.aborted) throw abortError(signal);

  // The source as an iterator of chunks, and how to let go of it.
  const readSize = options.highWaterMark ?? DEFAULT_READ;
  let input: AsyncIterator<unknown>;
  let release: (failed: boolean) => Promise<void>;
  const path = typeof source === 'string' ? source : undefined;
  if (typeof source === 'string') {
    const fh = await open(source, 'r');
    input = (async function* () {
      for (;;) {
        // Fresh buffers: a plain tar's chunks are these, and the consumer may keep them.
        const b = Buffer.allocUnsafeSlow(readSize);
        const { bytesRead } = await fh.read(b, 0, readSize, null);
        if (bytesRead === 0) return;
        yield bytesRead === readSize ? b : b.subarray(0, bytesRead);
      }
    })();
    // FileHandle.close() waits for a read in flight.
    release = () => fh.close();
  } else if (isAsyncIterable(source)) {
    const it = source[Symbol.asyncIterator]();
    input = it;
    release = async (failed) => {
      // Like pipeline(): a source we stop reading because of an error or abort is destroyed
      // (a Node stream's iterator does that on return()); a finished one is left as it is.
      if (!failed) return;
      const s = source as Partial<Readable>;
      if (typeof s.destroy === 'function') s.destroy();
      else void Promise.resolve(it.return?.()).catch(() => {});
    };
  } else {
    throw new TypeError(`The "source" argument must be a path, a readable stream or an async iterable of bytes. Received ${source === null ? 'null' : typeof source}`);
  }

  let released = false;
  const releaseOnce = async (failed: boolean) => {
    if (released) return;
    released = true;
    await release(failed);
  };

  // Peek at the first bytes; they are replayed below.
  const peeked: Buffer[] = [];
  let peekedBytes = 0;
  let inputEnded = false;
  try {
    while (peekedBytes < DETECT_BYTES) {
      const r = await abortable(input.next(), signal);
      if (r.done === true) {
        inputEnded = true;
        break;
      }
      const b = toBuffer(r.value);
      if (b.length === 0) continue;
      peeked.push(b);
      peekedBytes += b.length;
    }
  } catch (e) {
    await releaseOnce(true);
    throw e;
  }
  const head = peeked.length === 1 ? peeked[0]! : Buffer.concat(peeked);
  const compression = options.compression ?? detectCompression(head.subarray(0, DETECT_BYTES));

  const blob = new PassHasher();
  const diff = compression === 'none' ? blob : new PassHasher();
  let digests: { digest: Digest; diffId: Digest } | undefined;
  let complete = false;
  let started = false;
  let decompressor: Duplex | undefined;

  /** The blob's bytes, hashed as they pass. */
  async function* compressed(): AsyncGenerator<Buffer> {
    // One at a time: a chunk is out of `peeked` only once it is hashed (drainRest() hashes the rest).
    while (peeked.length > 0) {
      const b = peeked.shift()!;
      blob.update(b);
      yield b;
    }
    if (inputEnded) return;
    for (;;) {
      const r = await abortable(input.next(), signal);
      if (r.done === true) return;
      const b = toBuffer(r.value);
      if (b.length === 0) continue;
      blob.update(b);
      await blob.settle();
      yield b;
    }
  }

  function verification(): LayerVerification {
    const result = { ...digests!, compressedBytes: blob.bytes, bytes: diff.bytes };
    const where = path;
    if (expectedDigest !== undefined && result.digest !== expectedDigest) throw digestMismatch('layer blob', expectedDigest, result.digest, where);
    if (expectedDiffId !== undefined && result.diffId !== expectedDiffId) throw digestMismatch('layer diffID', expectedDiffId, result.diffId, where);
    return result;
  }

  async function* decompressed(): AsyncGenerator<Buffer> {
    const dec = createDecompressor(compression, options.zstd === undefined ? {} : { zstd: options.zstd });
    decompressor = dec;
    const src = Readable.from(compressed(), { objectMode: false, highWaterMark: readSize });
    const onAbort = () => {
      const e = abortError(signal!);
      src.destroy(e);
      dec.destroy(e);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    // Whatever fails (the source, the data) destroys dec, and the loop below throws it.
    src.on('error', (e) => dec.destroy(e));
    dec.on('error', () => src.destroy());
    src.pipe(dec);
    try {
      for await (const chunk of dec) {
        const b = chunk as Buffer;
        diff.update(b);
        await diff.settle();
        yield b;
      }
      // dec ended, so its input did: every byte of the blob has been hashed.
    } finally {
      signal?.removeEventListener('abort', onAbort);
      src.destroy();
      // A zstd child is reaped before 'close'.
      if (!dec.closed) {
        dec.destroy();
        await new Promise<void>((resolve) => dec.once('close', resolve));
      }
    }
  }

  /** The rest of the blob read and hashed (after the decompressor failed on it); false when it could not be. */
  async function drainRest(): Promise<boolean> {
    for (const b of peeked.splice(0)) blob.update(b);
    if (inputEnded) return true;
    for (;;) {
      const r = await abortable(input.next(), signal);
      if (r.done === true) return true;
      const b = toBuffer(r.value);
      blob.update(b);
      await blob.settle();
    }
  }

  async function* tar(): AsyncGenerator<Buffer> {
    let failed = true;
    try {
      if (compression === 'none') {
        for await (const b of compressed()) yield b;
      } else {
        try {
          yield* decompressed();
        } catch (e) {
          // A blob that does not decompress may be a download gone wrong rather than a bad
          // layer: with its digest known, the rest is read and hashed, and a mismatch is what
          // is reported (the cause), the decompressor's words otherwise.
          if (expectedDigest !== undefined && !signal?.aborted && (await drainRest().catch(() => false))) {
            const actual = await blob.digest();
            if (actual !== expectedDigest) throw digestMismatch('layer blob', expectedDigest, actual, path);
          }
          throw e;
        }
      }
      if (signal?.aborted) throw abortError(signal);
      const digest = await blob.digest();
      digests = { digest, diffId: diff === blob ? digest : await diff.digest() };
      failed = false;
      complete = true;
    } finally {
      await releaseOnce(failed);
    }
    verification();
  }

  return {
    compression,
    tar: {
      [Symbol.asyncIterator]() {
        if (started) throw new Error('the tar of an opened layer can be read only once');
        started = true;
        return tar();
      },
    },
    verify() {
      if (!complete) {
        throw Object.assign(new Error('verify() before the end of the layer tar: read `tar` to its end first (a tar reader that stops at the end-of-archive blocks must drain the rest)'), {
          code: 'ERR_INVALID_STATE',
        });
      }
      return verification();
    },
    get compressedBytes() {
      return blob.bytes;
    },
    async close() {
      if (!started) {
        started = true;
        await releaseOnce(true);
      }
      if (decompressor !== undefined && !decompressor.closed) {
        const dec = decompressor;
        dec.destroy();
        await new Promise<void>((resolve) => dec.once('close', resolve));
      }
    },
  };
}

