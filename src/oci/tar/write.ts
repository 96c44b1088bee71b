/**
 * The tar encoder for layer export: one entry's header block(s) from its fields, in the POSIX
 * pax format that GNU tar, Go's archive/tar, Python's tarfile and libarchive all read. What fits
 * a ustar header exactly goes there; what does not (a long name or link, a number past octal, a
 * sub-second mtime, a long user name, xattrs) goes first in a PAX 'x' record block, as GNU tar
 * and Go write it. The output is a function of the input alone: the PAX block is named
 * `PaxHeaders/<basename>` with mode 0644, owner 0:0 and mtime 0 (nothing in it is the entry's:
 * readers take every field from the records and the header after it), so the same tree gives
 * the same bytes and the same layer digest.
 *
 * The caller writes, per entry: encodeHeader(entry), then `size` bytes of data and
 * padding(size); and END_OF_ARCHIVE at the end.
 */
import { invalidArgType, invalidArgValue, isWellFormed } from '../../sys/args.js';
import { BLOCK, F, LEN, T, TYPE_FLAG, writeNumber, type TarEntryType } from './header.js';

export interface TarEntryInput {
  /** The path in the archive (a Buffer for bytes that are not UTF-8). A directory gets a trailing '/'. */
  name: Buffer | string;
  type: TarEntryType;
  /** Permission bits; anything above 0o7777 (the file type bits of st_mode) is dropped. */
  mode: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  /** The data bytes that follow, for a 'file' (0 or absent for every other type). */
  size?: number;
  mtimeSec: number;
  /** 0 to 999999999; not 0 puts the mtime in a PAX record. */
  mtimeNsec?: number;
  /** The link target of a 'symlink' or a 'hardlink'. */
  linkname?: Buffer | string;
  devMajor?: number;
  devMinor?: number;
  /** Written as `SCHILY.xattr.NAME` records with the raw bytes (a NAME with '=' as `LIBARCHIVE.xattr.`). */
  xattrs?: ReadonlyArray<readonly [string, Buffer]>;
}

const ZERO_BLOCK = Buffer.alloc(BLOCK);

/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE: Buffer = Buffer.alloc(2 * BLOCK);

/** The zero bytes that take `size` bytes of data to the next 512-byte boundary (a shared buffer: do not write to it). */
export function padding(size: number): Buffer {
  return ZERO_BLOCK.subarray(0, (BLOCK - (size % BLOCK)) % BLOCK);
}

const MAGIC = Buffer.from('ustar\x0000', 'latin1');

function bytesOf(field: string, v: Buffer | string): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (typeof v !== 'string') throw invalidArgType(field, 'of type string or an instance of Buffer', v);
  if (!isWellFormed(v)) throw invalidArgValue(field, 'must be well-formed Unicode (no lone surrogates)', v);
  return Buffer.from(v, 'utf8');
}

function int(field: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalidArgValue(field, `must be an integer from ${min} to ${max}`, v);
  }
  return v;
}

/** One PAX record, "<length> <key>=<value>\n", where the length counts itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const k = Buffer.from(key, 'utf8');
  const base = k.length + value.length + 3;
  let n = base + String(base).length;
  if (String(n).length + base !== n) n = base + String(n).length;
  const head = Buffer.from(`${n} `, 'latin1');
  return Buffer.concat([head, k, Buffer.of(0x3d), value, Buffer.of(0x0a)], n);
}

/** "[-]seconds[.fraction]" with the fraction's trailing zeros cut, as Go writes it. */
function paxTime(sec: number, nsec: number): string {
  if (nsec === 0) return String(sec);
  const frac = (s: number) => String(s).padStart(9, '0').replace(/0+$/, '');
  // Negative: sec + nsec/1e9 is -((-sec - 1) + (1e9 - nsec)/1e9).
  return sec >= 0 ? `${sec}.${frac(nsec)}` : `-${-sec - 1}.${frac(1e9 - nsec)}`;
}

/** libarchive's escape of an xattr name in a PAX key: '%', '=' and bytes outside printable ASCII as %XX. */
function urlEncode(name: string): string {
  let out = '';
  for (const c of Buffer.from(name, 'utf8')) {
    out += c > 0x20 && c < 0x7f && c !== 0x25 && c !== 0x3d ? String.fromCharCode(c) : `%${c.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function putChecksum(h: Buffer): void {
  h.fill(0x20, F.chksum, F.chksum + LEN.chksum);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  // Six octal digits, NUL, space: as GNU tar writes it.
  h.write(sum.toString(8).padStart(6, '0'), F.chksum, 'latin1');
  h[F.chksum + 6] = 0;
}

/** Where a ustar prefix/name split of `name` can be made ('/' at index i), or -1. */
function ustarSplit(name: Buffer): number {
  if (name.length > LEN.prefix + 1 + LEN.name) return -1;
  // The '/' nearest the end that leaves a non-empty name and a prefix of at most 155 bytes.
  const i = name.lastIndexOf(0x2f, Math.min(name.length - 2, LEN.prefix));
  return i > 0 && name.length - i - 1 <= LEN.name ? i : -1;
}

/**
 * The header block(s) of one entry: a PAX 'x' block and its records first when anything does
 * not fit ustar exactly, then the ustar header. Throws ERR_INVALID_ARG_* for fields no tar can
 * hold (a NUL in a name, a size on a non-file, numbers out of range).
 */
export function encodeHeader(entry: TarEntryInput): Buffer {
  if (!Object.hasOwn(TYPE_FLAG, entry.type)) throw invalidArgValue('entry.type', `must be one of ${Object.keys(TYPE_FLAG).join(', ')}`, entry.type);
  let name = bytesOf('entry.name', entry.name);
  if (name.length === 0) throw invalidArgValue('entry.name', 'must not be empty', entry.name);
  if (name.includes(0)) throw invalidArgValue('entry.name', 'must not contain null bytes', entry.name);
  if (entry.type === 'dir' && name[name.length - 1] !== 0x2f) name = Buffer.concat([name, Buffer.of(0x2f)]);
  const linkname = entry.linkname === undefined ? Buffer.alloc(0) : bytesOf('entry.linkname', entry.linkname);
  if (linkname.includes(0)) throw invalidArgValue('entry.linkname', 'must not contain null bytes', entry.linkname);
  const mode = int('entry.mode', entry.mode, 0, 0xffffffff) & 0o7777;
  const uid = int('entry.uid', entry.uid, 0);
  const gid = int('entry.gid', entry.gid, 0);
  const size = int('entry.size', entry.size ?? 0, 0);
  if (size !== 0 && entry.type !== 'file') throw invalidArgValue('entry.size', `must be 0 for a ${entry.type} (only files have data)`, size);
  const mtimeSec = int('entry.mtimeSec', entry.mtimeSec, Number.MIN_SAFE_INTEGER);
  const mtimeNsec = int('entry.mtimeNsec', entry.mtimeNsec ?? 0, 0, 999_999_999);
  const devMajor = int('entry.devMajor', entry.devMajor ?? 0, 0);
  const devMinor = int('entry.devMinor', entry.devMinor ?? 0, 0);
  const uname = bytesOf('entry.uname', entry.uname ?? '');
  const gname = bytesOf('entry.gname', entry.gname ?? '');

  // PAX values are UTF-8 by the standard; a path that is not goes in as its bytes without
  // 'hdrcharset=BINARY' (which Python writes): GNU tar 1.34 warns about that keyword, and GNU
  // tar, Go and Python (falling back from UTF-8) all take the raw bytes anyway.
  const records: Buffer[] = [];
  const h = Buffer.alloc(BLOCK);

  if (name.length <= LEN.name) name.copy(h, F.name);
  else {
    const i = ustarSplit(name);
    if (i > 0) {
      name.copy(h, F.prefix, 0, i);
      name.copy(h, F.name, i + 1);
    } else {
      name.copy(h, F.name, 0, LEN.name);
      records.push(paxRecord('path', name));
    }
  }
  writeNumber(h, F.mode, LEN.mode, mode);
  if (!writeNumber(h, F.uid, LEN.uid, uid)) records.push(paxRecord('uid', Buffer.from(String(uid))));
  if (!writeNumber(h, F.gid, LEN.gid, gid)) records.push(paxRecord('gid', Buffer.from(String(gid))));
  if (!writeNumber(h, F.size, LEN.size, size)) records.push(paxRecord('size', Buffer.from(String(size))));
  if (!writeNumber(h, F.mtime, LEN.mtime, mtimeSec) || mtimeNsec !== 0) records.push(paxRecord('mtime', Buffer.from(paxTime(mtimeSec, mtimeNsec))));
  h[F.typeflag] = TYPE_FLAG[entry.type];
  if (linkname.length <= LEN.linkname) linkname.copy(h, F.linkname);
  else {
    linkname.copy(h, F.linkname, 0, LEN.linkname);
    records.push(paxRecord('linkpath', linkname));
  }
  MAGIC.copy(h, F.magic);
  // 31 bytes and a NUL: GNU tar reads these fields as C strings.
  if (uname.length < LEN.uname) uname.copy(h, F.uname);
  else records.push(paxRecord('uname', uname));
  if (gname.length < LEN.gname) gname.copy(h, F.gname);
  else records.push(paxRecord('gname', gname));
  if (!writeNumber(h, F.devmajor, LEN.devmajor, devMajor)) records.push(paxRecord('SCHILY.devmajor', Buffer.from(String(devMajor))));
  if (!writeNumber(h, F.devminor, LEN.devminor, devMinor)) records.push(paxRecord('SCHILY.devminor', Buffer.from(String(devMinor))));
  for (const [xname, value] of entry.xattrs ?? []) {
    if (typeof xname !== 'string' || xname.length === 0 || xname.includes('\0') || !isWellFormed(xname)) {
      throw invalidArgValue('entry.xattrs', 'must have names that are non-empty well-formed strings without null bytes', xname);
    }
    if (!Buffer.isBuffer(value)) throw invalidArgType(`entry.xattrs '${xname}'`, 'an instance of Buffer', value);
    // A PAX key ends at its first '=': such a name only fits libarchive's escaped form.
    records.push(xname.includes('=') ? paxRecord(`LIBARCHIVE.xattr.${urlEncode(xname)}`, Buffer.from(value.toString('base64'), 'latin1')) : paxRecord(`SCHILY.xattr.${xname}`, value));
  }
  putChecksum(h);
  if (records.length === 0) return h;

  const data = Buffer.concat(records);
  const x = Buffer.alloc(BLOCK);
  const base = name.subarray(name.lastIndexOf(0x2f, name.length - 2) + 1, entry.type === 'dir' ? name.length - 1 : name.length);
  const xname = Buffer.concat([Buffer.from('PaxHeaders/'), base]);
  xname.copy(x, F.name, 0, Math.min(xname.length, LEN.name));
  writeNumber(x, F.mode, LEN.mode, 0o644);
  writeNumber(x, F.uid, LEN.uid, 0);
  writeNumber(x, F.gid, LEN.gid, 0);
  writeNumber(x, F.size, LEN.size, data.length);
  writeNumber(x, F.mtime, LEN.mtime, 0);
  x[F.typeflag] = T.paxLocal;
  MAGIC.copy(x, F.magic);
  writeNumber(x, F.devmajor, LEN.devmajor, 0);
  writeNumber(x, F.devminor, LEN.devminor, 0);
  putChecksum(x);
  return Buffer.concat([x, data, padding(data.length), h]);
}
