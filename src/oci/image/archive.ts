/**
 * A tar file read as a file tree, without extracting it: its headers are indexed once with the
 * TarParser, and a file is then a byte range of the archive (positioned reads of one handle).
 *
 * Indexing reads the headers only. The parser is a push parser that expects every byte, so the
 * data of a big entry is not read from disk: once its header is in, the rest of its data (and
 * padding) is fed as zeros, which the parser passes through as that entry's data, and reading
 * resumes at the next header. An oci-archive of gigabytes is indexed in a few reads per entry.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { isOverlayError } from '../../spec/errors.js';
import { TarParser, type TarEntry } from '../tar/index.js';
import { imageError } from './types.js';
import { rangeStream, readAll, type FileTree } from './tree.js';

interface Indexed {
  type: TarEntry['type'];
  offset: number;
  size: number;
  /** For a link: the tree path it names (a hard link's is from the root, a symlink's resolved against its directory). */
  target?: string | undefined;
}

const READ = 64 * 1024;
const ZEROS = Buffer.alloc(1024 * 1024);
const padOf = (size: number): number => (512 - (size % 512)) % 512;
/** How many links are followed before a name is taken as missing (a symlink loop). */
const MAX_LINKS = 16;

/** A name from the archive as a tree key: `./blobs//sha256/x` is `blobs/sha256/x`; one that climbs out is left out. */
function keyOf(raw: string): string | undefined {
  const n = posix.normalize(raw.replace(/^\/+/, '')).replace(/\/+$/, '');
  if (n === '.' || n === '' || n === '..' || n.startsWith('../')) return undefined;
  return n;
}

export async function openTarTree(path: string): Promise<TarTree> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const label = `tar '${path}'`;
    return new TarTree(fh, label, await indexTar(fh, size, label));
  } catch (err) {
    await fh.close();
    throw err;
  }
}

async function indexTar(fh: FileHandle, fileSize: number, label: string): Promise<Map<string, Indexed>> {
  const index = new Map<string, Indexed>();
  let last: TarEntry | undefined;
  let ended = false;
  const parser = new TarParser({
    entry(e) {
      last = e;
      const key = keyOf(e.name.toString('utf8'));
      if (key === undefined) return;
      const item: Indexed = { type: e.type, offset: e.dataOffset, size: e.size };
      if (e.type === 'hardlink') item.target = keyOf(e.linkname.toString('utf8'));
      else if (e.type === 'symlink') {
        const link = e.linkname.toString('utf8');
        item.target = keyOf(link.startsWith('/') ? link : posix.join(posix.dirname(key), link));
      }
      // As tar extracts, a later entry of the same name replaces the earlier one.
      index.set(key, item);
    },
    data() {},
    end() {
      ended = true;
    },
  });
  const feed = (chunk: Buffer) => {
    try {
      parser.write(chunk);
    } catch (err) {
      throw isOverlayError(err, 'ERR_LAYER_FORMAT') ? imageError(`${label}: not a valid tar archive: ${err.message}`) : err;
    }
  };
  let pos = 0;
  while (!ended && pos < fileSize) {
    // A fresh buffer each time: the parser may keep views of a chunk it was given.
    const { bytesRead, buffer } = await fh.read(Buffer.allocUnsafe(READ), 0, READ, pos);
    if (bytesRead === 0) break;
    feed(buffer.subarray(0, bytesRead));
    pos += bytesRead;
    // The entry this chunk ended in: its remaining data is skipped, not read.
    const entry = last;
    if (entry !== undefined && !ended) {
      const end = Math.min(entry.dataOffset + entry.size + padOf(entry.size), fileSize);
      while (pos < end) {
        const n = Math.min(ZEROS.length, end - pos);
        feed(ZEROS.subarray(0, n));
        pos += n;
      }
    }
  }
  try {
    parser.end();
  } catch (err) {
    throw isOverlayError(err, 'ERR_LAYER_FORMAT') ? imageError(`${label}: not a valid tar archive: ${err.message}`) : err;
  }
  if (index.size === 0) throw imageError(`${label}: an empty tar archive`);
  return index;
}

export class TarTree implements FileTree {
  #closed = false;
  readonly fh: FileHandle;
  readonly label: string;
  readonly index: ReadonlyMap<string, Indexed>;
  constructor(fh: FileHandle, label: string, index: ReadonlyMap<string, Indexed>) {
    this.fh = fh;
    this.label = label;
    this.index = index;
  }

  /** The regular file `path` names, through hard and symbolic links inside the archive. */
  #file(path: string): Indexed | undefined {
    let key: string | undefined = keyOf(path);
    for (let hops = 0; key !== undefined && hops <= MAX_LINKS; hops++) {
      const e = this.index.get(key);
      if (e === undefined) return undefined;
      if (e.type === 'file') return e;
      if (e.type !== 'hardlink' && e.type !== 'symlink') return undefined;
      key = e.target;
    }
    return undefined;
  }

  async size(path: string): Promise<number | undefined> {
    return this.#file(path)?.size;
  }

  async open(path: string): Promise<Readable> {
    const e = this.#file(path);
    if (!e) throw imageError(`${this.label}: ${path}: missing (or not a regular file)`, { path });
    if (this.#closed) throw imageError(`${this.label}: closed`);
    return rangeStream(this.fh, e.offset, e.size, false, `${this.label}: ${path}`);
  }

  async read(path: string, max: number): Promise<Buffer> {
    const e = this.#file(path);
    if (!e) throw imageError(`${this.label}: ${path}: missing (or not a regular file)`, { path });
    if (e.size > max) throw imageError(`${this.label}: ${path}: ${e.size} bytes, over the ${max}-byte limit for a document`, { path });
    return readAll(await this.open(path), max, `${this.label}: ${path}`);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.fh.close();
  }
}
