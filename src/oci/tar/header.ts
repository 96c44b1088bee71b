/**
 * The tar header block, as bytes: field offsets, type flags, and the numbers in it (octal text,
 * or GNU base-256 binary for what octal cannot hold), read and written with byte loops. Shared
 * by the parser (parse.ts) and the encoder (write.ts).
 *
 * One 512-byte block (POSIX.1-2017 pax, "ustar Interchange Format"; GNU tar's tar.h):
 *
 *     0 name[100]   100 mode[8]   108 uid[8]   116 gid[8]   124 size[12]   136 mtime[12]
 *   148 chksum[8]   156 typeflag  157 linkname[100]   257 magic[6]   263 version[2]
 *   265 uname[32]   297 gname[32]   329 devmajor[8]   337 devminor[8]   345 prefix[155]
 *
 * ustar's magic is "ustar\0" + "00"; GNU's is "ustar " + " \0", and GNU keeps atime, ctime and
 * old sparse maps where ustar has its prefix; v7 tars have no magic and nothing past linkname.
 */

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

/** One entry of a tar, as the parser gives it to a TarSink. */
export interface TarEntry {
  /**
   * The path bytes as the archive gives them (GNU 'L' long name, else PAX `path`, else ustar
   * prefix + '/' + name), not normalised: the caller decides about '/', '..' and './'.
   */
  name: Buffer;
  /**
   * '0', '\0' and '7' (contiguous) are files, unless the name ends in '/' with '\0' (old tars
   * wrote directories that way): then 'dir'. A '0' named 'x/' stays a file, as Go reads it.
   */
  type: TarEntryType;
  /** Permission bits and setuid/setgid/sticky (& 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /**
   * The data bytes that follow this header in the archive (PAX `size` over the header field).
   * 0 for every type but 'file', whatever the header says: Go's archive/tar (which writes and
   * reads most OCI layers) reads no data for header-only types, and some writers leave a stale
   * size on hard links.
   */
  size: number;
  /** Seconds since the epoch (may be negative) and nanoseconds (0 to 999999999) after them. */
  mtimeSec: number;
  mtimeNsec: number;
  /** The link target bytes: GNU 'K' long link, else PAX `linkpath`, else the header field (Go's order). */
  linkname: Buffer;
  devMajor: number;
  devMinor: number;
  /**
   * Extended attributes in archive order, values as exact bytes: `SCHILY.xattr.NAME=raw bytes`
   * (GNU tar, Go, star) and `LIBARCHIVE.xattr.NAME=base64` (bsdtar; NAME %XX-encoded). A name
   * given twice (bsdtar writes both forms) keeps its first place and its last value, a SCHILY
   * value over a LIBARCHIVE one (Go readers apply only SCHILY).
   */
  xattrs: Array<[string, Buffer]>;
  /** Every PAX record of this entry (its 'x' records over the archive's 'g' ones), raw bytes. */
  pax: Map<string, Buffer>;
  /** Byte offset of the entry's first header block in the stream (its PAX or GNU blocks included). */
  headerOffset: number;
  /** Byte offset of its data in the stream. */
  dataOffset: number;
}

export const BLOCK = 512;

export const F = {
  name: 0,
  mode: 100,
  uid: 108,
  gid: 116,
  size: 124,
  mtime: 136,
  chksum: 148,
  typeflag: 156,
  linkname: 157,
  magic: 257,
  version: 263,
  uname: 265,
  gname: 297,
  devmajor: 329,
  devminor: 337,
  prefix: 345,
} as const;

export const LEN = {
  name: 100,
  mode: 8,
  uid: 8,
  gid: 8,
  size: 12,
  mtime: 12,
  chksum: 8,
  linkname: 100,
  uname: 32,
  gname: 32,
  devmajor: 8,
  devminor: 8,
  prefix: 155,
} as const;

/** Type flags as byte values. */
export const T = {
  areg: 0x00, // '\0', pre-POSIX regular file
  reg: 0x30, // '0'
  link: 0x31, // '1'
  sym: 0x32, // '2'
  chr: 0x33, // '3'
  blk: 0x34, // '4'
  dir: 0x35, // '5'
  fifo: 0x36, // '6'
  cont: 0x37, // '7', contiguous file: a regular file everywhere that matters
  paxLocal: 0x78, // 'x'
  paxGlobal: 0x67, // 'g'
  gnuLongName: 0x4c, // 'L'
  gnuLongLink: 0x4b, // 'K'
  gnuSparse: 0x53, // 'S'
  gnuVolume: 0x56, // 'V'
} as const;

export const TYPE_FLAG: Readonly<Record<TarEntryType, number>> = {
  file: T.reg,
  hardlink: T.link,
  symlink: T.sym,
  char: T.chr,
  block: T.blk,
  dir: T.dir,
  fifo: T.fifo,
};

/** The entry type of a type flag byte, or undefined for one that is not an entry of its own. */
export const ENTRY_TYPE: ReadonlyArray<TarEntryType | undefined> = (() => {
  const t: Array<TarEntryType | undefined> = new Array(256).fill(undefined);
  t[T.areg] = 'file';
  t[T.reg] = 'file';
  t[T.cont] = 'file';
  t[T.link] = 'hardlink';
  t[T.sym] = 'symlink';
  t[T.chr] = 'char';
  t[T.blk] = 'block';
  t[T.dir] = 'dir';
  t[T.fifo] = 'fifo';
  return t;
})();

/** Which magic the block has: ustar (POSIX, with prefix), GNU, or none (v7). */
export const Magic = { V7: 0, Ustar: 1, Gnu: 2 } as const;
export type Magic = (typeof Magic)[keyof typeof Magic];

export function magicOf(b: Buffer, o: number): Magic {
  const m = o + F.magic;
  // "ustar" in both
  if (b[m] !== 0x75 || b[m + 1] !== 0x73 || b[m + 2] !== 0x74 || b[m + 3] !== 0x61 || b[m + 4] !== 0x72) return Magic.V7;
  if (b[m + 5] === 0x00) return Magic.Ustar; // "ustar\0" (+ "00", or anything: some writers leave the version blank)
  if (b[m + 5] === 0x20 && b[m + 6] === 0x20 && b[m + 7] === 0x00) return Magic.Gnu; // "ustar  \0"
  return Magic.V7;
}

/** The length of a NUL-terminated field (the whole field when it has no NUL). */
export function fieldLength(b: Buffer, start: number, len: number): number {
  const end = start + len;
  for (let i = start; i < end; i++) if (b[i] === 0) return i - start;
  return len;
}

/** A failed number read: the parser turns it into ERR_LAYER_FORMAT naming the field. */
export const BAD_NUMBER = -1;
/** A negative base-256 number where only mtime may be negative. */
export const NEGATIVE = -2;

/**
 * A numeric field: octal text (leading spaces and NULs skipped, ended by a space, a NUL or the
 * field's end, as GNU tar and Go read it; an empty field is 0), or GNU base-256 (first byte
 * 0x80, or 0xff for a negative two's-complement number). Returns BAD_NUMBER for anything else or
 * past 2^53, NEGATIVE for a negative number unless `signed`; with `signed` a negative value is
 * returned in `signedOut[0]` and the result is 0.
 */
export function readNumber(b: Buffer, start: number, len: number, signedOut?: number[]): number {
  const end = start + len;
  const first = b[start]!;
  if (first & 0x80) {
    if (first === 0x80) {
      let v = 0;
      for (let i = start + 1; i < end; i++) {
        v = v * 256 + b[i]!;
        if (v > Number.MAX_SAFE_INTEGER) return BAD_NUMBER;
      }
      return v;
    }
    if (first !== 0xff) return BAD_NUMBER;
    if (signedOut === undefined) return NEGATIVE;
    // Two's complement over the whole field: -(~x + 1).
    let v = 0;
    for (let i = start + 1; i < end; i++) {
      v = v * 256 + (~b[i]! & 0xff);
      if (v > Number.MAX_SAFE_INTEGER) return BAD_NUMBER;
    }
    signedOut[0] = -(v + 1);
    return 0;
  }
  let i = start;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  let v = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c < 0x30 || c > 0x37) break;
    v = v * 8 + (c - 0x30);
  }
  for (; i < end; i++) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0) return BAD_NUMBER;
  }
  return v > Number.MAX_SAFE_INTEGER ? BAD_NUMBER : v;
}

/**
 * Write `value` (an integer) in a numeric field: octal, zero-padded, NUL-terminated, when it
 * fits in len - 1 digits; else GNU base-256 (0x80, or 0xff and two's complement when negative).
 * Returns true when octal held it (a ustar reader sees it), false for base-256.
 */
export function writeNumber(b: Buffer, start: number, len: number, value: number): boolean {
  if (value >= 0 && value < 8 ** (len - 1)) {
    let v = value;
    b[start + len - 1] = 0;
    for (let i = start + len - 2; i >= start; i--) {
      b[i] = 0x30 + (v % 8);
      v = Math.floor(v / 8);
    }
    return true;
  }
  if (value >= 0) {
    let v = value;
    for (let i = start + len - 1; i > start; i--) {
      b[i] = v % 256;
      v = Math.floor(v / 256);
    }
    b[start] = 0x80;
  } else {
    // Two's complement: the bytes of ~(-value - 1), i.e. each byte of (-value - 1) inverted.
    let v = -value - 1;
    for (let i = start + len - 1; i > start; i--) {
      b[i] = ~(v % 256) & 0xff;
      v = Math.floor(v / 256);
    }
    b[start] = 0xff;
  }
  return false;
}

/**
 * The sums of a header block, in `out`: [0] of all its bytes (0 exactly when the block is all
 * zero bytes), [1] of its bytes as unsigned chars and [2] as signed chars, with the checksum
 * field counted as eight spaces. GNU tar accepts either of the last two (old Sun tars and some
 * others summed signed chars).
 */
export function blockSums(b: Buffer, o: number, out: Float64Array): void {
  // Four bytes at a time (a 512-byte loop of single bytes is most of a header's cost): two 16-bit
  // lanes of byte sums (128 words add at most 65280 to each) and four 8-bit lanes counting the
  // bytes >= 0x80 (at most 128 each).
  const dv = viewOf(b);
  const start = b.byteOffset + o;
  const end = start + BLOCK;
  let lanes = 0;
  let highs = 0;
  for (let i = start; i < end; i += 4) {
    const w = dv.getUint32(i, true);
    lanes += (w & 0x00ff00ff) + ((w >>> 8) & 0x00ff00ff);
    highs += (w >>> 7) & 0x01010101;
  }
  const u = (lanes % 65536) + Math.floor(lanes / 65536);
  const hi = (highs & 0xff) + ((highs >>> 8) & 0xff) + ((highs >>> 16) & 0xff) + (highs >>> 24);
  let fu = 0;
  let fhi = 0;
  for (let i = o + F.chksum; i < o + F.chksum + 8; i++) {
    const c = b[i]!;
    fu += c;
    fhi += c >> 7;
  }
  out[0] = u;
  out[1] = u - fu + 256;
  out[2] = out[1] - 256 * (hi - fhi);
}

let lastBuffer: ArrayBufferLike | null = null;
let lastView: DataView = new DataView(new ArrayBuffer(0));

/** A DataView over a Buffer's whole ArrayBuffer, kept while the chunks share one. */
function viewOf(b: Buffer): DataView {
  if (b.buffer !== lastBuffer) {
    lastBuffer = b.buffer;
    lastView = new DataView(b.buffer);
  }
  return lastView;
}
