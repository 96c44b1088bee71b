/**
 * The file tree an image is read from: a directory (an OCI layout, an extracted `docker save`)
 * or a tar file holding the same tree (archive.ts). The readers above see only this: paths
 * relative to the root, regular files, a byte stream per file.
 */
import { constants as fsConstants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { imageError } from './types.js';

export interface FileTree {
  /** What the tree is, for messages: `oci-layout '/x'`. */
  readonly label: string;
  /** The size of the regular file at `path`, or undefined when there is none. */
  size(path: string): Promise<number | undefined>;
  /** The file's bytes, as a stream; ERR_IMAGE when it is missing or not a regular file. */
  open(path: string): Promise<Readable>;
  /** The whole file, refused (ERR_IMAGE) when it is over `max` bytes: no allocation trusts a size. */
  read(path: string, max: number): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * A path from a document (manifest.json's `Layers`), made into a key of the tree: relative, with
 * no `.` or `..` component left and none that climbs out (`../x` and `/x` are refused), so no
 * name written in an archive can make the reader open a file outside the tree.
 */
export function treePath(name: string, where: string, field: string): string {
  if (typeof name !== 'string' || name === '' || name.includes('\0')) throw imageError(`${where}: ${field}: not a path: ${JSON.stringify(name)}`, { field });
  if (name.startsWith('/')) throw imageError(`${where}: ${field}: an absolute path: ${JSON.stringify(name)}`, { field });
  const norm = posix.normalize(name);
  if (norm === '..' || norm.startsWith('../') || norm === '.') throw imageError(`${where}: ${field}: a path outside the image: ${JSON.stringify(name)}`, { field });
  return norm.replace(/\/+$/, '');
}

/**
 * `length` bytes of `fh` from `start`, read with positioned reads (so streams of one file handle
 * do not disturb each other). `own`: close the handle when the stream ends or is destroyed.
 * A file shorter than promised ends the stream with ERR_IMAGE (a truncated archive).
 */
export function rangeStream(fh: FileHandle, start: number, length: number, own: boolean, label: string): Readable {
  let pos = start;
  const end = start + length;
  // A layer streams through in chunks as big as applyLayer reads a file in: each chunk costs a
  // thread-pool read and a hash hop, and 256 KiB ones made an import 10% slower than its apply.
  const CHUNK = 1 << 20;
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      const want = Math.min(CHUNK, end - pos);
      if (want <= 0) {
        this.push(null);
        return;
      }
      fh.read(Buffer.allocUnsafe(want), 0, want, pos).then(
        ({ bytesRead, buffer }) => {
          if (bytesRead === 0) {
            this.destroy(imageError(`${label}: ends ${end - pos} bytes early (truncated)`));
            return;
          }
          pos += bytesRead;
          this.push(bytesRead === want ? buffer : buffer.subarray(0, bytesRead));
        },
        (err: unknown) => this.destroy(err as Error),
      );
    },
    destroy(err, cb) {
      if (!own) return cb(err);
      fh.close().then(
        () => cb(err),
        (closeErr: unknown) => cb(err ?? (closeErr as Error)),
      );
    },
  });
}

/** Reads a whole stream, refusing one that grows past `max` bytes. */
export async function readAll(stream: Readable, max: number, label: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of stream) {
      n += (chunk as Buffer).length;
      if (n > max) throw imageError(`${label}: over the ${max}-byte limit`);
      chunks.push(chunk as Buffer);
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks, n);
}

/** A directory. Files are opened as they are (a symlink is followed), and must be regular files. */
export class DirTree implements FileTree {
  readonly label: string;
  readonly root: string;
  constructor(root: string, kind: string) {
    this.root = root;
    this.label = `${kind} '${root}'`;
  }

  async #open(path: string): Promise<{ fh: FileHandle; size: number } | undefined> {
    let fh: FileHandle;
    const full = posix.join(this.root, path);
    try {
      // Nothing but a regular file is opened: open(2) of a FIFO blocks until a writer comes
      // (a hang, holding a thread of the pool), and opening a device may act (a tape rewinds).
      // O_NONBLOCK for what is swapped in between; it changes nothing for a regular file.
      if (!(await stat(full)).isFile()) return undefined;
      fh = await open(full, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return undefined;
      throw err;
    }
    try {
      const st = await fh.stat();
      // Not a FIFO, a device (/dev/zero would never end) or a directory.
      if (!st.isFile()) {
        await fh.close();
        return undefined;
      }
      return { fh, size: st.size };
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async size(path: string): Promise<number | undefined> {
    const f = await this.#open(path);
    if (!f) return undefined;
    await f.fh.close();
    return f.size;
  }

  async open(path: string): Promise<Readable> {
    const f = await this.#open(path);
    if (!f) throw imageError(`${this.label}: ${path}: missing (or not a regular file)`, { path });
    return rangeStream(f.fh, 0, f.size, true, `${this.label}: ${path}`);
  }

  async read(path: string, max: number): Promise<Buffer> {
    const f = await this.#open(path);
    if (!f) throw imageError(`${this.label}: ${path}: missing (or not a regular file)`, { path });
    if (f.size > max) {
      await f.fh.close();
      throw imageError(`${this.label}: ${path}: ${f.size} bytes, over the ${max}-byte limit for a document`, { path });
    }
    // Read no more than the size seen (already under max), whatever the file does meanwhile.
    return readAll(rangeStream(f.fh, 0, f.size, true, `${this.label}: ${path}`), max, `${this.label}: ${path}`);
  }

  async close(): Promise<void> {}
}
