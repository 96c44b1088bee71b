/**
 * A push parser for tar streams: ustar, GNU (long names and links, base-256 numbers), PAX ('x'
 * and 'g' records, values as raw bytes) and v7. Bytes go in through write() in chunks of any
 * size; each entry comes out through the sink as a TarEntry, then its data as zero-copy
 * subarrays of the chunks. No stream object per entry, no string for a number, no copy of file
 * data: a header is read where it lies in the chunk, and only a header split across two chunks
 * is copied (into one 512-byte block).
 *
 * Whatever the input, the parser throws OverlayError ERR_LAYER_FORMAT (naming the entry and the
 * byte offset) or goes on; it never allocates more than `maxMetaBytes` for one entry's metadata
 * (a tar bomb's 'x' header claiming gigabytes is refused at its header).
 *
 * Where tar readers differ, this one does what Go's archive/tar does, since Go writes and reads
 * most OCI layers: header-only types (links, devices, dirs, FIFOs) have no data whatever their
 * size field says; a zero block followed by a header is an error, not the end of the archive.
 */
import { OverlayError } from '../../spec/errors.js';
import {
  BAD_NUMBER,
  BLOCK,
  ENTRY_TYPE,
  F,
  LEN,
  Magic,
  NEGATIVE,
  T,
  blockSums,
  fieldLength,
  magicOf,
  readNumber,
  type TarEntry,
  type TarEntryType,
} from './header.js';

export type { TarEntry, TarEntryType };

export interface TarSink {
  /** Called for each entry; then its `size` bytes arrive through data(). */
  entry(entry: TarEntry): void;
  /** Zero-copy subarrays of the input chunks, in order, covering exactly `size` bytes of the current entry. */
  data(chunk: Buffer): void;
  /**
   * At the end-of-archive marker (two zero blocks), or at end() when the stream ended right
   * after a complete entry and its padding.
   */
  end?(): void;
}

export interface TarParserOptions {
  /**
   * The most bytes one entry's metadata may take: each PAX or GNU long-name record, and all of
   * them before one entry together; also what is kept of the global PAX records. Default 1 MiB.
   */
  maxMetaBytes?: number;
}

const HEADER = 0;
const DATA = 1;
const SKIP = 2;
const META = 3;
const END = 4;

const EMPTY = Buffer.alloc(0);
const DEFAULT_MAX_META = 1 << 20;
/** Global PAX keys that would change the entries after them (see metaDone). */
const GLOBAL_REFUSED = new Set(['path', 'linkpath', 'size', 'uid', 'gid', 'mtime', 'atime', 'ctime', 'SCHILY.devmajor', 'SCHILY.devminor']);

const padOf = (size: number): number => (BLOCK - (size % BLOCK)) % BLOCK;

/** A string field decoded once and reused while the bytes stay the same (uname and gname repeat). */
class FieldCache {
  private bytes = Buffer.alloc(32);
  private len = -1;
  private str = '';
  get(b: Buffer, start: number, max: number): string {
    const n = fieldLength(b, start, max);
    if (n === this.len) {
      let i = 0;
      while (i < n && b[start + i] === this.bytes[i]) i++;
      if (i === n) return this.str;
    }
    b.copy(this.bytes, 0, start, start + n);
    this.len = n;
    this.str = b.toString('utf8', start, start + n);
    return this.str;
  }
}

export class TarParser {
  private readonly sink: TarSink;
  private readonly maxMeta: number;
  private state = HEADER;
  /** Bytes of the stream before the current chunk. */
  private base = 0;
  /** The block being filled when a header is split across chunks, and how much of it is here. */
  private readonly block = Buffer.alloc(BLOCK);
  private fill = 0;
  private blockAt = 0;
  /** DATA/SKIP: bytes left; after DATA, `pad` bytes of padding are skipped. */
  private left = 0;
  private pad = 0;
  /** META: the record being read, its type flag, how much of it is here. */
  private meta: Buffer = EMPTY;
  private metaFlag = 0;
  private metaFill = 0;
  /** Metadata gathered for the next entry, and where its first header block began (-1: none). */
  private entryAt = -1;
  private metaBytes = 0;
  private local: Map<string, Buffer> | null = null;
  private longName: Buffer | null = null;
  private longLink: Buffer | null = null;
  /** The archive's global PAX records ('g'). */
  private global: Map<string, Buffer> | null = null;
  /** A zero block was just read (one more ends the archive). */
  private zeroAt = -1;
  private failed: unknown = null;
  private ended = false;
  private readonly sums = new Float64Array(3);
  private readonly unames = new FieldCache();
  private readonly gnames = new FieldCache();
  private readonly signed = [0];
  /** The name of the header being read, for error messages. */
  private current: Buffer | null = null;

  constructor(sink: TarSink, options: TarParserOptions = {}) {
    this.sink = sink;
    const max = options.maxMetaBytes ?? DEFAULT_MAX_META;
    if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`maxMetaBytes must be a non-negative integer, not ${max}`);
    this.maxMeta = max;
  }

  /** Bytes passed to write() so far. */
  get bytes(): number {
    return this.base;
  }

  /** Parse `chunk`, calling the sink for what it completes. Throws ERR_LAYER_FORMAT on a malformed archive. */
  write(chunk: Buffer): void {
    if (this.failed !== null) throw this.failed;
    if (this.ended) throw new Error('TarParser: write() after end()');
    try {
      this.consume(chunk);
    } catch (e) {
      this.failed = e;
      throw e;
    }
  }

  /**
   * The stream is over. Throws ERR_LAYER_FORMAT ("truncated") if it ended inside a header, its
   * metadata or its data. An archive without its two zero blocks is accepted when it ended
   * right after an entry (and its padding): GNU tar reads it too, with a warning ("A lone zero
   * block" or none), and so do Go and Python. After one zero block of the two, the same.
   */
  end(): void {
    if (this.failed !== null) throw this.failed;
    if (this.ended) return;
    this.ended = true;
    if (this.state === END) return;
    if (this.state === HEADER && this.fill === 0 && this.entryAt < 0) {
      this.sink.end?.();
      return;
    }
    const where =
      this.state === HEADER
        ? this.fill > 0
          ? 'inside a header block'
          : 'after the metadata of an entry, before its header'
        : this.state === META
          ? 'inside a PAX or GNU long-name record'
          : this.state === DATA
            ? `inside the data of an entry (${this.left} bytes missing)`
            : 'inside the padding after an entry';
    this.failed = this.error(`truncated: the stream ended ${where}`, this.base);
    throw this.failed;
  }

  private consume(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      const state = this.state;
      if (state === DATA) {
        const n = Math.min(len - pos, this.left);
        this.left -= n;
        const end = pos + n;
        this.sink.data(chunk.subarray(pos, end));
        pos = end;
        if (this.left === 0) {
          this.left = this.pad;
          this.state = this.pad === 0 ? HEADER : SKIP;
        }
      } else if (state === HEADER) {
        if (this.fill === 0 && len - pos >= BLOCK) {
          const at = pos;
          pos += BLOCK;
          this.header(chunk, at, this.base + at);
        } else {
          if (this.fill === 0) this.blockAt = this.base + pos;
          const n = Math.min(BLOCK - this.fill, len - pos);
          chunk.copy(this.block, this.fill, pos, pos + n);
          this.fill += n;
          pos += n;
          if (this.fill === BLOCK) {
            this.fill = 0;
            this.header(this.block, 0, this.blockAt);
          }
        }
      } else if (state === SKIP) {
        const n = Math.min(len - pos, this.left);
        this.left -= n;
        pos += n;
        if (this.left === 0) this.state = HEADER;
      } else if (state === META) {
        const n = Math.min(len - pos, this.meta.length - this.metaFill);
        chunk.copy(this.meta, this.metaFill, pos, pos + n);
        this.metaFill += n;
        pos += n;
        if (this.metaFill === this.meta.length) this.metaDone(this.base + pos);
      } else {
        // END: whatever follows the end-of-archive marker is ignored, as GNU tar does.
        pos = len;
      }
    }
    this.base += len;
  }

  private error(message: string, at: number): OverlayError {
    const name = this.current;
    const shown = name === null || name.length === 0 ? '' : ` (entry '${name.toString('utf8')}')`;
    return new OverlayError('ERR_LAYER_FORMAT', `tar: ${message} at byte ${at}${shown}`, name === null ? {} : { path: name.toString('utf8') });
  }

  private number(b: Buffer, o: number, field: keyof typeof LEN, at: number): number {
    const v = readNumber(b, o + F[field], LEN[field]);
    if (v >= 0) return v;
    throw this.error(v === NEGATIVE ? `negative ${field} field` : `bad number in the ${field} field`, at + F[field]);
  }

  /** The header block at b[o], which begins at byte `at` of the stream. */
  private header(b: Buffer, o: number, at: number): void {
    const sums = this.sums;
    blockSums(b, o, sums);
    if (sums[0] === 0) {
      this.zeroBlock(at);
      return;
    }
    const headerName = b.subarray(o, o + fieldLength(b, o, LEN.name));
    const localPath = this.local?.get('path');
    this.current = this.longName ?? (localPath !== undefined && localPath.length > 0 ? localPath : headerName);
    if (this.zeroAt >= 0) throw this.error(`a lone zero block at byte ${this.zeroAt} is followed by a header`, at);
    const stored = readNumber(b, o + F.chksum, LEN.chksum);
    if (stored !== sums[1] && stored !== sums[2]) {
      throw this.error(stored < 0 ? 'bad number in the header checksum field (not a tar header?)' : 'header checksum mismatch (corrupt or not a tar header)', at);
    }
    const flag = b[o + F.typeflag]!;
    const size = this.number(b, o, 'size', at);
    if (flag !== T.paxGlobal && this.entryAt < 0) this.entryAt = at;
    const type = ENTRY_TYPE[flag];
    if (type !== undefined) {
      this.entry(b, o, at, type, size);
      return;
    }
    switch (flag) {
      case T.paxLocal:
      case T.paxGlobal:
      case T.gnuLongName:
      case T.gnuLongLink: {
        const kind = flag === T.paxLocal ? 'PAX' : flag === T.paxGlobal ? 'global PAX' : flag === T.gnuLongName ? 'GNU long-name' : 'GNU long-link';
        // Global records replace one another: what is kept of them is checked after the merge.
        const total = flag === T.paxGlobal ? size : this.metaBytes + size;
        if (size > this.maxMeta || total > this.maxMeta) {
          throw this.error(`${kind} record of ${size} bytes is over the limit (${this.maxMeta} bytes of metadata per entry)`, at);
        }
        // Go's archive/tar keeps only the last 'x' block before an entry, GNU tar and this
        // parser's merge would apply all: a path in the first would name the entry for one
        // reader only. Refused, as no tar writer makes two.
        if (flag === T.paxLocal && this.local !== null) throw this.error('two PAX records blocks before one entry (Go keeps only the last, other readers merge them)', at);
        if (flag !== T.paxGlobal) this.metaBytes = total;
        // Named in the errors that may come after this block is gone.
        if (this.current === headerName) this.current = Buffer.from(headerName);
        this.metaFlag = flag;
        this.meta = Buffer.allocUnsafe(size);
        this.metaFill = 0;
        this.state = META;
        if (size === 0) this.metaDone(at + BLOCK);
        return;
      }
      case T.gnuSparse:
        throw this.error('sparse files are not supported', at);
      case T.gnuVolume:
        // A GNU volume label names the archive, not a file: skipped, as when listing.
        this.skip(size);
        this.entryAt = -1;
        return;
      default: {
        const shown = flag >= 0x21 && flag < 0x7f ? `'${String.fromCharCode(flag)}'` : `0x${flag.toString(16)}`;
        throw this.error(`unsupported entry type ${shown}`, at);
      }
    }
  }

  private zeroBlock(at: number): void {
    if (this.entryAt >= 0) throw this.error('a zero block where the header of an entry with PAX or GNU metadata was expected', at);
    if (this.zeroAt < 0) {
      this.zeroAt = at;
      return;
    }
    this.state = END;
    this.sink.end?.();
  }

  private skip(n: number): void {
    this.left = n + padOf(n);
    this.state = this.left === 0 ? HEADER : SKIP;
  }

  /** A PAX or GNU record is complete; `next` is the offset after it. */
  private metaDone(next: number): void {
    const meta = this.meta;
    this.meta = EMPTY;
    const flag = this.metaFlag;
    if (flag === T.gnuLongName || flag === T.gnuLongLink) {
      // NUL-terminated (GNU tar counts the NUL in the size).
      const value = meta.subarray(0, fieldLength(meta, 0, meta.length));
      if (flag === T.gnuLongName) this.longName = value;
      else this.longLink = value;
    } else if (flag === T.paxGlobal) {
      this.global ??= new Map();
      this.paxRecords(meta, this.global, true, next - meta.length);
      // Readers disagree on global records: Go's archive/tar (Docker, containerd, most scanners)
      // and libarchive apply none to the entries that follow, GNU tar and Python apply them all.
      // One that sets what an entry is (its path, its size: the framing of the stream, its
      // owner, time, device or xattrs) makes one archive two different trees: refused. Names
      // (uname, gname) and comments change nothing a layer is made of.
      for (const key of this.global.keys()) {
        if (GLOBAL_REFUSED.has(key) || key.startsWith('SCHILY.xattr.') || key.startsWith('LIBARCHIVE.xattr.')) {
          throw this.error(`a global PAX record '${key}' would apply to every entry after it, which Go's archive/tar and libarchive ignore and GNU tar applies: refused`, next - meta.length);
        }
      }
      let kept = 0;
      for (const [k, v] of this.global) kept += k.length + v.length;
      if (kept > this.maxMeta) throw this.error(`global PAX records of ${kept} bytes are over the limit (${this.maxMeta} bytes)`, next - meta.length);
      if (this.global.size === 0) this.global = null;
    } else {
      this.local ??= new Map();
      this.paxRecords(meta, this.local, false, next - meta.length);
    }
    this.left = padOf(meta.length);
    this.state = this.left === 0 ? HEADER : SKIP;
  }

  /**
   * PAX records, "<length> <key>=<value>\n", the length counting the whole record in decimal.
   * Values stay raw bytes (a subarray of the record's own buffer): an xattr value is binary, and a
   * path need not be UTF-8 (hdrcharset=BINARY, or GNU tar ≤ 1.23 without it). An empty value
   * deletes the key from the globals for 'g'; for 'x' it is kept (see entry()).
   */
  private paxRecords(buf: Buffer, into: Map<string, Buffer>, global: boolean, at: number): void {
    const len = buf.length;
    let i = 0;
    while (i < len) {
      let n = 0;
      let j = i;
      while (j < len && j - i < 16) {
        const c = buf[j]!;
        if (c < 0x30 || c > 0x39) break;
        n = n * 10 + (c - 0x30);
        j++;
      }
      const end = i + n;
      if (j === i || buf[j] !== 0x20 || n <= j - i + 1 || end > len || buf[end - 1] !== 0x0a) {
        throw this.error(`malformed PAX record at offset ${i} of the record block`, at + i);
      }
      const eq = buf.indexOf(0x3d, j + 1);
      if (eq < 0 || eq >= end - 1 || eq === j + 1) throw this.error(`malformed PAX record at offset ${i} of the record block (no key=value)`, at + i);
      const key = buf.toString('utf8', j + 1, eq);
      if (key.startsWith('GNU.sparse.')) throw this.error('sparse files are not supported', at + i);
      const value = buf.subarray(eq + 1, end - 1);
      if (global && value.length === 0) into.delete(key);
      else into.set(key, value);
      i = end;
    }
  }

  private paxNumber(pax: Map<string, Buffer>, key: string, at: number): number | undefined {
    const v = pax.get(key);
    if (v === undefined || v.length === 0) return undefined;
    let n = 0;
    for (let i = 0; i < v.length; i++) {
      const c = v[i]!;
      if (c < 0x30 || c > 0x39) throw this.error(`bad PAX ${key} '${v.toString('latin1')}'`, at);
      n = n * 10 + (c - 0x30);
    }
    if (n > Number.MAX_SAFE_INTEGER) throw this.error(`bad PAX ${key} '${v.toString('latin1')}'`, at);
    return n;
  }

  /** PAX mtime: "[-]seconds[.fraction]"; the fraction is cut to nanoseconds. Sets mtime[0..1]. */
  private paxTime(v: Buffer, out: number[], at: number): void {
    let i = 0;
    const neg = v[0] === 0x2d;
    if (neg) i++;
    let sec = 0;
    const start = i;
    for (; i < v.length && v[i] !== 0x2e; i++) {
      const c = v[i]!;
      if (c < 0x30 || c > 0x39) throw this.error(`bad PAX mtime '${v.toString('latin1')}'`, at);
      sec = sec * 10 + (c - 0x30);
    }
    let nsec = 0;
    let digits = 0;
    if (i < v.length) {
      i++; // '.'
      if (i === v.length) throw this.error(`bad PAX mtime '${v.toString('latin1')}'`, at);
      for (; i < v.length; i++) {
        const c = v[i]!;
        if (c < 0x30 || c > 0x39) throw this.error(`bad PAX mtime '${v.toString('latin1')}'`, at);
        if (digits < 9) {
          nsec = nsec * 10 + (c - 0x30);
          digits++;
        }
      }
      for (; digits < 9; digits++) nsec *= 10;
    }
    if (i === start || sec > Number.MAX_SAFE_INTEGER) throw this.error(`bad PAX mtime '${v.toString('latin1')}'`, at);
    if (neg && nsec > 0) {
      out[0] = -sec - 1;
      out[1] = 1e9 - nsec;
    } else {
      out[0] = neg ? 0 - sec : sec; // never -0
      out[1] = nsec;
    }
  }

  private entry(b: Buffer, o: number, at: number, typeFromFlag: TarEntryType, headerSize: number): void {
    const magic = magicOf(b, o);
    const flag = b[o + F.typeflag]!;

    // The PAX records of this entry: its own over the archive's global ones.
    // A local record with an empty value stays (empty) and hides the global one: for a header
    // field it means "the header's own value", for an xattr an empty value.
    let pax: Map<string, Buffer>;
    const local = this.local;
    if (this.global === null) pax = local ?? new Map();
    else {
      pax = new Map(this.global);
      if (local !== null) for (const [k, v] of local) pax.set(k, v);
    }
    const hasPax = pax.size > 0;

    // Which name wins where several are given is Go's order: a GNU long name, else a PAX path,
    // else the header's (Go merges the PAX records first, then lets 'L' and 'K' override).
    let name: Buffer;
    const paxPath = hasPax ? pax.get('path') : undefined;
    if (this.longName !== null) name = this.longName;
    else if (paxPath !== undefined && paxPath.length > 0) name = paxPath;
    else {
      const n = fieldLength(b, o, LEN.name);
      // star's format ("tar\0" at 508) keeps atime and ctime in the prefix's last 24 bytes.
      const star = b[o + 508] === 0x74 && b[o + 509] === 0x61 && b[o + 510] === 0x72 && b[o + 511] === 0;
      const p = magic === Magic.Ustar ? fieldLength(b, o + F.prefix, star ? 131 : LEN.prefix) : 0;
      if (p === 0) name = copyOut(b, o, n);
      else {
        name = Buffer.allocUnsafe(p + 1 + n);
        b.copy(name, 0, o + F.prefix, o + F.prefix + p);
        name[p] = 0x2f;
        b.copy(name, p + 1, o, o + n);
      }
    }
    this.current = name;

    let type = typeFromFlag;
    // Old tars wrote directories as '\0' files with a trailing '/'. Only '\0': a '0' entry named
    // 'x/' is a file with data to Go's archive/tar (and Python's), so it is one here too; read as
    // a directory, its data would be parsed as entries no Go reader of the same layer sees.
    if (flag === T.areg && name.length > 0 && name[name.length - 1] === 0x2f) type = 'dir';

    const mode = this.number(b, o, 'mode', at) & 0o7777;
    let uid = this.number(b, o, 'uid', at);
    let gid = this.number(b, o, 'gid', at);
    const signed = this.signed;
    signed[0] = 0;
    let mtimeSec = readNumber(b, o + F.mtime, LEN.mtime, signed);
    if (mtimeSec === BAD_NUMBER) throw this.error('bad number in the mtime field', at + F.mtime);
    if (mtimeSec === 0) mtimeSec = signed[0]!;
    let mtimeNsec = 0;
    let uname = '';
    let gname = '';
    let devMajor = 0;
    let devMinor = 0;
    if (magic !== Magic.V7) {
      uname = this.unames.get(b, o + F.uname, LEN.uname);
      gname = this.gnames.get(b, o + F.gname, LEN.gname);
      if (type === 'char' || type === 'block') {
        devMajor = this.number(b, o, 'devmajor', at);
        devMinor = this.number(b, o, 'devminor', at);
      }
    }
    let size = headerSize;
    let linkname: Buffer;
    const paxLink = hasPax ? pax.get('linkpath') : undefined;
    if (this.longLink !== null) linkname = this.longLink;
    else if (paxLink !== undefined && paxLink.length > 0) linkname = paxLink;
    else {
      const n = fieldLength(b, o + F.linkname, LEN.linkname);
      linkname = n === 0 ? EMPTY : copyOut(b, o + F.linkname, n);
    }

    const xattrs: Array<[string, Buffer]> = [];
    if (hasPax) {
      const s = this.paxNumber(pax, 'size', at);
      if (s !== undefined) size = s;
      uid = this.paxNumber(pax, 'uid', at) ?? uid;
      gid = this.paxNumber(pax, 'gid', at) ?? gid;
      const u = pax.get('uname');
      if (u !== undefined && u.length > 0) uname = u.toString('utf8');
      const g = pax.get('gname');
      if (g !== undefined && g.length > 0) gname = g.toString('utf8');
      const t = pax.get('mtime');
      if (t !== undefined && t.length > 0) {
        this.paxTime(t, signed, at);
        mtimeSec = signed[0]!;
        mtimeNsec = signed[1]!;
      }
      if (type === 'char' || type === 'block') {
        devMajor = this.paxNumber(pax, 'SCHILY.devmajor', at) ?? devMajor;
        devMinor = this.paxNumber(pax, 'SCHILY.devminor', at) ?? devMinor;
      }
      // A name in both forms takes the SCHILY value: the only one Go readers (Docker,
      // containerd) apply, so the file is the same for them and here.
      let schily: Set<string> | undefined;
      // Where each name is in `xattrs`: a lookup per record, not a scan (a 1 MiB block holds
      // tens of thousands of records).
      const slot = new Map<string, number>();
      for (const [k, v] of pax) {
        let xname: string;
        let value: Buffer;
        const isSchily = k.startsWith('SCHILY.xattr.');
        if (isSchily) {
          xname = k.slice(13);
          value = v;
        } else if (k.startsWith('LIBARCHIVE.xattr.')) {
          xname = decodeURIComponentBytes(k.slice(17));
          value = Buffer.from(v.toString('latin1'), 'base64');
        } else continue;
        if (xname.length === 0) throw this.error(`PAX record ${k} has no xattr name`, at);
        if (isSchily) (schily ??= new Set()).add(xname);
        else if (schily?.has(xname)) continue;
        const i = slot.get(xname);
        if (i === undefined) slot.set(xname, xattrs.push([xname, value]) - 1);
        else xattrs[i]![1] = value;
      }
    }
    if (type !== 'file') size = 0;

    const dataAt = at + BLOCK;
    const entry: TarEntry = {
      name,
      type,
      mode,
      uid,
      gid,
      uname,
      gname,
      size,
      mtimeSec,
      mtimeNsec,
      linkname,
      devMajor,
      devMinor,
      xattrs,
      pax,
      headerOffset: this.entryAt,
      dataOffset: dataAt,
    };
    this.entryAt = -1;
    this.metaBytes = 0;
    this.local = null;
    this.longName = null;
    this.longLink = null;
    this.left = size;
    this.pad = padOf(size);
    this.state = size === 0 ? HEADER : DATA;
    this.sink.entry(entry);
  }
}

/** A copy of b[start, start + n): a byte loop beats Buffer#copy's call overhead for a name's few bytes. */
function copyOut(b: Buffer, start: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = b[start + i]!;
  return out;
}

/** libarchive's xattr names in PAX keys: %XX escapes (of '%', '=', and bytes outside printable ASCII). */
function decodeURIComponentBytes(s: string): string {
  if (!s.includes('%')) return s;
  const parts = s.split(/(%[0-9a-fA-F]{2})/);
  return Buffer.concat(parts.map((p, i) => (i % 2 === 1 ? Buffer.of(parseInt(p.slice(1), 16)) : Buffer.from(p, 'utf8')))).toString('utf8');
}
