/**
 * Tar-split, as Docker's layer store keeps one (vbatts/tar-split): every byte of a layer tar
 * that is not file content (headers, PAX and GNU records, padding, the end marker), and for
 * file content only which file and how many bytes. With the files the layer was applied to,
 * that rebuilds the tar byte for byte: the same diffID, so an image saved or pushed from a
 * store is the image that came in.
 *
 * Recording costs no copy of file data: the parser hands content on as subarrays of the input
 * chunks, so what lies between them in a chunk is exactly the rest.
 *
 * The format (gzip'd): records of a type byte, then
 *   1 (raw):  u32 length, the bytes
 *   2 (file): u32 name length, the name (bytes, as the layer dir holds it), f64 size
 */
import { createReadStream, fstat, read, type Stats } from 'node:fs';
import { createGunzip, createGzip, type Gzip } from 'node:zlib';
import { OverlayError } from '../../spec/errors.js';
import { RESOLVE, O } from '../../sys/constants.js';
import { openat2 } from '../../sys/fd.js';
import { displayName } from '../entry-name.js';

const RAW = 1;
const FILE = 2;

export class TarSplitRecorder {
  readonly #gzip: Gzip;
  #chunk: Buffer = Buffer.alloc(0);
  #cursor = 0;
  /** The file whose content comes next (its path in the layer dir), or undefined. */
  #file: Buffer | undefined;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #out: Buffer[] = [];
  #outBytes = 0;
  /** Content of the current file seen so far (one record per file: no raw byte comes between its chunks). */
  #pendingFile: { name: Buffer; size: number } | undefined;

  /** Writes the split to `out` (a writable stream: a file) as it is recorded. */
  constructor(out: NodeJS.WritableStream) {
    this.#gzip = createGzip({ level: 1 });
    this.#gzip.pipe(out);
  }

  /** Before the parser gets `chunk`. */
  chunk(chunk: Buffer): void {
    this.#chunk = chunk;
    this.#cursor = 0;
  }

  /** An entry's header was parsed: `path` is where its content will be on disk (regular files only). */
  entry(path: Buffer | undefined): void {
    // Copied: the name may lie in the chunk.
    this.#file = path === undefined ? undefined : Buffer.from(path);
  }

  /** Content of the current entry: a subarray of the current chunk. */
  data(sub: Buffer): void {
    const offset = sub.byteOffset - this.#chunk.byteOffset;
    if (sub.buffer !== this.#chunk.buffer || offset < this.#cursor || offset + sub.length > this.#chunk.length) {
      throw new OverlayError('ERR_LAYER_FORMAT', 'tar-split: file content that is not part of the input chunk');
    }
    if (offset > this.#cursor) this.#raw(this.#chunk.subarray(this.#cursor, offset));
    if (this.#file === undefined) {
      // Content of an entry that leaves no file (a marker, a skipped entry): kept as raw bytes.
      this.#raw(sub);
    } else if (this.#pendingFile) {
      this.#pendingFile.size += sub.length;
    } else {
      this.#flushRaw();
      this.#pendingFile = { name: this.#file, size: sub.length };
    }
    this.#cursor = offset + sub.length;
  }

  /** After the parser took the chunk: the rest of it is not content. */
  chunkDone(): void {
    if (this.#cursor < this.#chunk.length) this.#raw(this.#chunk.subarray(this.#cursor));
    this.#cursor = this.#chunk.length;
  }

  #raw(bytes: Buffer): void {
    this.#flushFile();
    // Copied: the chunk is the stream's and is reused.
    this.#pending.push(Buffer.from(bytes));
    this.#pendingBytes += bytes.length;
    if (this.#pendingBytes >= 1 << 16) this.#flushRaw();
  }

  #flushFile(): void {
    const f = this.#pendingFile;
    if (!f) return;
    this.#pendingFile = undefined;
    const rec = Buffer.alloc(5 + f.name.length + 8);
    rec[0] = FILE;
    rec.writeUInt32LE(f.name.length, 1);
    f.name.copy(rec, 5);
    rec.writeDoubleLE(f.size, 5 + f.name.length);
    this.#out.push(rec);
    this.#outBytes += rec.length;
    if (this.#outBytes >= 1 << 20) this.#write();
  }

  #flushRaw(): void {
    if (this.#pendingBytes === 0) return;
    const head = Buffer.alloc(5);
    head[0] = RAW;
    head.writeUInt32LE(this.#pendingBytes, 1);
    this.#out.push(head, ...this.#pending);
    this.#outBytes += 5 + this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#outBytes >= 1 << 20) this.#write();
  }

  /** Records go to gzip a megabyte at a time: one write (one thread-pool job) per record would cost more than the apply. */
  #write(): void {
    if (this.#outBytes === 0) return;
    this.#gzip.write(Buffer.concat(this.#out, this.#outBytes));
    this.#out = [];
    this.#outBytes = 0;
  }

  /** Ends the split; resolves when `out` has it all. */
  finish(out: NodeJS.WritableStream): Promise<void> {
    this.#flushFile();
    this.#flushRaw();
    this.#write();
    return new Promise((resolve, reject) => {
      out.once('error', reject);
      out.once('finish', resolve);
      out.once('close', resolve);
      this.#gzip.end();
    });
  }

  abort(): void {
    this.#gzip.destroy();
  }
}

export type SplitItem = { raw: Buffer } | { file: Buffer; size: number };

/** The records of a tar-split file, in order. */
export async function* readTarSplit(path: string): AsyncGenerator<SplitItem> {
  let buf: Buffer = Buffer.alloc(0);
  const bad = () => new OverlayError('ERR_STORE', `'${path}' is not a valid tar-split`, { path });
  for await (const chunk of createReadStream(path).pipe(createGunzip())) {
    buf = buf.length === 0 ? (chunk as Buffer) : Buffer.concat([buf, chunk as Buffer]);
    for (;;) {
      if (buf.length < 5) break;
      const type = buf[0];
      const len = buf.readUInt32LE(1);
      if (type === RAW) {
        if (buf.length < 5 + len) break;
        yield { raw: buf.subarray(5, 5 + len) };
        buf = buf.subarray(5 + len);
      } else if (type === FILE) {
        if (buf.length < 5 + len + 8) break;
        yield { file: buf.subarray(5, 5 + len), size: buf.readDoubleLE(5 + len) };
        buf = buf.subarray(5 + len + 8);
      } else {
        throw bad();
      }
    }
  }
  if (buf.length > 0) throw bad();
}

/**
 * The tar a split was recorded from, rebuilt with the files of `dir` (the directory the layer
 * was applied to), in chunks. Each file is opened beneath `dir` (openat2 RESOLVE_BENEATH: a
 * symlink never leads the read outside) and must still hold its bytes: a file that is shorter now
 * is ERR_LAYER_CHANGED (a longer one gives its first bytes, and the diffID check catches it).
 */
export async function* rebuildTar(splitPath: string, dir: string): AsyncGenerator<Buffer> {
  const root = await openat2(dir, O.PATH | O.DIRECTORY);
  try {
    for await (const item of readTarSplit(splitPath)) {
      if ('raw' in item) {
        yield Buffer.from(item.raw);
        continue;
      }
      // No symlink on the way or at the end, and never a FIFO's open that waits or a device's
      // bytes: only the regular file the apply wrote is read.
      const fd = await openat2(Buffer.from(item.file) as unknown as string, O.RDONLY | O.NOFOLLOW | O.NONBLOCK, {
        dirfd: root,
        resolve: RESOLVE.BENEATH | RESOLVE.NO_MAGICLINKS | RESOLVE.NO_SYMLINKS,
      }).catch((e: unknown) => {
        throw new OverlayError('ERR_LAYER_CHANGED', `layer file '${displayName(item.file)}' of '${dir}' cannot be read: ${(e as Error).message}`, { path: dir });
      });
      try {
        const st = await new Promise<Stats>((resolve, reject) => fstat(fd.fd, (err, s) => (err ? reject(err) : resolve(s))));
        if (!st.isFile()) throw new OverlayError('ERR_LAYER_CHANGED', `layer file '${displayName(item.file)}' of '${dir}' is not a regular file now (a later entry of the layer replaced it?): its tar cannot be rebuilt`, { path: dir });
        let left = item.size;
        let pos = 0;
        while (left > 0) {
          const buf = Buffer.allocUnsafe(Math.min(left, 1 << 20));
          const { bytesRead } = await new Promise<{ bytesRead: number }>((resolve, reject) =>
            read(fd.fd, buf, 0, buf.length, pos, (err, bytesRead) => (err ? reject(err) : resolve({ bytesRead }))),
          );
          if (bytesRead === 0) throw new OverlayError('ERR_LAYER_CHANGED', `layer file '${displayName(item.file)}' of '${dir}' is shorter than when it was applied`, { path: dir });
          left -= bytesRead;
          pos += bytesRead;
          yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
        }
      } finally {
        fd.close();
      }
    }
  } finally {
    root.close();
  }
}
