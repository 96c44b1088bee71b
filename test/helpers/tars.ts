/**
 * Layer tars made by other tools, for apply tests: Python's tarfile (any entry, hostile ones
 * included: names with '..', links out, stale whiteout fields, binary PAX xattrs) and GNU tar.
 */
import { spawnSync } from 'node:child_process';

export interface TarSpecEntry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';
  /** File content (UTF-8), or base64 with `dataB64`. */
  data?: string;
  dataB64?: string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  devmajor?: number;
  devminor?: number;
  /** xattrs as SCHILY.xattr.NAME PAX records: values base64 (binary-exact). */
  xattrs?: Record<string, string>;
  /** A size written in the header that is not the data's (a whiteout's stale size: data of that many zero bytes follows). */
  size?: number;
}

// PAX values that are not UTF-8 are written with hdrcharset=BINARY, which Python does when a
// value (decoded with surrogateescape) does not encode as UTF-8: the bytes then go exactly.
const SCRIPT = String.raw`
import base64, io, json, sys, tarfile
spec = json.load(sys.stdin)
fmt = {'pax': tarfile.PAX_FORMAT, 'gnu': tarfile.GNU_FORMAT, 'ustar': tarfile.USTAR_FORMAT}[spec['format']]
types = {'file': tarfile.REGTYPE, 'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE, 'hardlink': tarfile.LNKTYPE,
         'char': tarfile.CHRTYPE, 'block': tarfile.BLKTYPE, 'fifo': tarfile.FIFOTYPE}
with tarfile.open(spec['out'], 'w', format=fmt) as tar:
    for e in spec['entries']:
        ti = tarfile.TarInfo(e['name'])
        ti.type = types[e.get('type', 'file')]
        ti.mode = e.get('mode', 0o755 if ti.type == tarfile.DIRTYPE else 0o644)
        ti.uid = e.get('uid', 0); ti.gid = e.get('gid', 0)
        ti.mtime = e.get('mtime', 1700000000)
        ti.linkname = e.get('linkname', '')
        ti.devmajor = e.get('devmajor', 0); ti.devminor = e.get('devminor', 0)
        data = base64.b64decode(e['dataB64']) if 'dataB64' in e else e.get('data', '').encode()
        if 'size' in e:
            data = b'\0' * e['size']
        if e.get('xattrs'):
            ti.pax_headers = {('SCHILY.xattr.' + k): base64.b64decode(v).decode('utf-8', 'surrogateescape') for k, v in e['xattrs'].items()}
        if ti.type == tarfile.REGTYPE or 'size' in e:
            ti.size = len(data)
            # tarfile writes data only for regular files: write the header, then the data by hand.
            if ti.type == tarfile.REGTYPE:
                tar.addfile(ti, io.BytesIO(data))
            else:
                buf = ti.tobuf(tar.format, tar.encoding, tar.errors)
                tar.fileobj.write(buf); tar.offset += len(buf)
                tar.fileobj.write(data)
                pad = (512 - len(data) % 512) % 512
                tar.fileobj.write(b'\0' * pad); tar.offset += len(data) + pad
        else:
            tar.addfile(ti)
`;

/** Writes a tar at `out` with these entries, as Python's tarfile makes it. */
export function pythonTar(out: string, entries: TarSpecEntry[], format: 'pax' | 'gnu' | 'ustar' = 'pax'): string {
  const r = spawnSync('python3', ['-c', SCRIPT], { input: JSON.stringify({ out, format, entries }), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3 tarfile failed: ${r.stderr}`);
  return out;
}

/** GNU tar: `tar -c` of `dir`'s contents into `out`, with extra flags (--xattrs, --format=...). */
export function gnuTar(out: string, dir: string, flags: string[] = []): string {
  const r = spawnSync('tar', ['-c', '-f', out, '-C', dir, ...flags, '.'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
  return out;
}
