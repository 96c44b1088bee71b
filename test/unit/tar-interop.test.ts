/**
 * The tar codec against other implementations: archives made by GNU tar (--format=gnu long
 * names, --format=posix --xattrs) and by Python's tarfile (PAX with binary xattr values, GNU
 * long names, devices, hard links) parse to what was put in; and what encodeHeader() writes,
 * GNU tar lists and extracts and Python reads back with the same names, types, modes, links,
 * sizes and xattrs. Each test runs a process or two (tens of ms); no root needed.
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, linkSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TarEntryType } from '../../src/oci/tar/header.js';
import { END_OF_ARCHIVE, encodeHeader, padding, type TarEntryInput } from '../../src/oci/tar/write.js';
import { parseChunks, splitAt, summary } from '../helpers/tar.js';
import { describeWithTools } from '../helpers/tools.js';

let tmp = '';
beforeAll(() => {
  tmp = mkdtempSync(join(os.tmpdir(), 'overlayfs-tar-interop-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Run a program; it must succeed, and with `quiet` say nothing on stderr (no warning either). */
function run(cmd: string, args: string[], quiet = false): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  if (quiet) expect(r.stderr, `${cmd} ${args.join(' ')}`).toBe('');
  return r.stdout;
}

const python = (code: string, ...args: string[]) => run('python3', ['-c', code, ...args]);

/** Parse a file in 4 KiB chunks (headers split across chunks too) and in one piece: the same. */
function parseFile(path: string) {
  const tar = readFileSync(path);
  const whole = parseChunks([tar]);
  expect(summary(parseChunks(splitAt(tar, Array.from({ length: tar.length / 4093 }, (_, i) => (i + 1) * 4093))))).toBe(summary(whole));
  return whole;
}

const byName = <T extends { name: Buffer }>(entries: T[]) => new Map(entries.map((e) => [e.name.toString('latin1'), e]));

describeWithTools(['gnu-tar', 'python3'], 'archives by GNU tar and Python parse to what was put in', () => {
  it('GNU tar --format=gnu: long names and links, hard links, FIFOs, modes, data', () => {
    const src = join(tmp, 'gnu-src');
    const long = `a/${'x'.repeat(150)}`;
    mkdirSync(join(src, 'a'), { recursive: true });
    writeFileSync(join(src, long), 'long name\n');
    chmodSync(join(src, long), 0o4755);
    writeFileSync(join(src, 'data'), Buffer.alloc(70_000, 'z'));
    symlinkSync('t'.repeat(150), join(src, 'sym'));
    linkSync(join(src, 'data'), join(src, 'hard'));
    run('mkfifo', [join(src, 'fifo')]);
    for (const p of ['a', long, 'data', 'fifo', '.']) utimesSync(join(src, p), 1700000000, 1700000000);
    const file = join(tmp, 'gnu.tar');
    run('tar', ['--format=gnu', '-cf', file, '-C', src, '.']);
    const entries = byName(parseFile(file).entries);

    expect([...entries.keys()].sort()).toEqual(['./', './a/', `./${long}`, './data', './fifo', './hard', './sym'].sort());
    const f = entries.get(`./${long}`)!;
    expect([f.type, f.mode, f.size, f.data.toString(), f.mtimeSec, f.mtimeNsec]).toEqual(['file', 0o4755, 10, 'long name\n', 1700000000, 0]);
    expect(entries.get('./sym')!.linkname.toString()).toBe('t'.repeat(150));
    expect(entries.get('./sym')!.type).toBe('symlink');
    expect(entries.get('./fifo')!.type).toBe('fifo');
    expect(entries.get('./a/')!.type).toBe('dir');
    // Whichever of the two names tar met first holds the data; the other links to it.
    const [first, second] = [entries.get('./data')!, entries.get('./hard')!].sort((x, y) => x.headerOffset - y.headerOffset);
    expect([first!.type, first!.size, first!.data.equals(Buffer.alloc(70_000, 'z'))]).toEqual(['file', 70_000, true]);
    expect([second!.type, second!.linkname.toString(), second!.size]).toEqual(['hardlink', first!.name.toString(), 0]);
    expect(f.uid).toBe(lstatSync(join(src, long)).uid);
  });

  it('GNU tar --format=posix --xattrs: a binary user.* xattr, nanosecond mtimes', () => {
    const src = join(tmp, 'posix-src');
    mkdirSync(src);
    writeFileSync(join(src, 'f'), 'x');
    const value = Buffer.from([0, 1, 0xff, 0x0a, 0x3d, 0x80, 0]);
    python('import os,sys; os.setxattr(sys.argv[1], "user.bin", bytes.fromhex(sys.argv[2]))', join(src, 'f'), value.toString('hex'));
    const file = join(tmp, 'posix.tar');
    run('tar', ['--format=posix', '--xattrs', '-cf', file, '-C', src, 'f']);
    const [e] = parseFile(file).entries;
    expect(e!.name.toString()).toBe('f');
    expect(e!.xattrs).toEqual([['user.bin', value]]);
    const st = lstatSync(join(src, 'f'), { bigint: true });
    expect(BigInt(e!.mtimeSec) * 1_000_000_000n + BigInt(e!.mtimeNsec)).toBe(st.mtimeNs);
    expect(e!.pax.get('SCHILY.xattr.user.bin')).toEqual(value);
  });

  it("Python tarfile PAX_FORMAT: security.capability as raw bytes (surrogateescape → hdrcharset=BINARY), big ids, long uname, fractional mtime, non-UTF-8 names, devices, links", () => {
    // Python writes pax values as UTF-8 unless one does not encode: a str made from bytes with
    // surrogateescape then makes it write hdrcharset=BINARY and every value's original bytes.
    const cap = '01000002ffffffff000000000000000000000000';
    const file = join(tmp, 'py-pax.tar');
    python(
      `
import io, sys, tarfile
def raw(b): return b.decode('utf-8', 'surrogateescape')
with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as t:
    ti = tarfile.TarInfo('bin/ping'); ti.size = 4; ti.mode = 0o755; ti.mtime = 1700000000.25
    ti.uid = 3000000000; ti.gid = 5; ti.uname = 'u' * 40; ti.gname = 'g'
    ti.pax_headers = {'SCHILY.xattr.security.capability': raw(bytes.fromhex(sys.argv[2])), 'SCHILY.xattr.user.nul': raw(b'a\\x00b')}
    t.addfile(ti, io.BytesIO(b'ping'))
    ti = tarfile.TarInfo(raw(b'caf\\xe9/' + b'n' * 120)); t.addfile(ti)
    ti = tarfile.TarInfo('dev/null'); ti.type = tarfile.CHRTYPE; ti.devmajor = 1; ti.devminor = 3; ti.mode = 0o666; t.addfile(ti)
    ti = tarfile.TarInfo('dev/sda'); ti.type = tarfile.BLKTYPE; ti.devmajor = 8; ti.devminor = 0; t.addfile(ti)
    ti = tarfile.TarInfo('hard'); ti.type = tarfile.LNKTYPE; ti.linkname = 'bin/ping'; t.addfile(ti)
    ti = tarfile.TarInfo('sym'); ti.type = tarfile.SYMTYPE; ti.linkname = 'l' * 200; t.addfile(ti)
    ti = tarfile.TarInfo('fifo'); ti.type = tarfile.FIFOTYPE; t.addfile(ti)
    ti = tarfile.TarInfo('d'); ti.type = tarfile.DIRTYPE; ti.mode = 0o1777; t.addfile(ti)
`,
      file,
      cap,
    );
    const entries = byName(parseFile(file).entries);
    const ping = entries.get('bin/ping')!;
    expect([ping.type, ping.mode, ping.size, ping.data.toString(), ping.uid, ping.gid, ping.uname, ping.gname, ping.mtimeSec, ping.mtimeNsec]).toEqual([
      'file', 0o755, 4, 'ping', 3000000000, 5, 'u'.repeat(40), 'g', 1700000000, 250_000_000,
    ]);
    expect(ping.xattrs).toEqual([
      ['security.capability', Buffer.from(cap, 'hex')],
      ['user.nul', Buffer.from('a\0b')],
    ]);
    expect(ping.pax.get('hdrcharset')?.toString()).toBe('BINARY');
    expect(entries.get(Buffer.concat([Buffer.from('caf\xe9/', 'latin1'), Buffer.from('n'.repeat(120))]).toString('latin1'))?.type).toBe('file');
    expect([entries.get('dev/null')!.type, entries.get('dev/null')!.devMajor, entries.get('dev/null')!.devMinor, entries.get('dev/null')!.mode]).toEqual(['char', 1, 3, 0o666]);
    expect([entries.get('dev/sda')!.type, entries.get('dev/sda')!.devMajor, entries.get('dev/sda')!.devMinor]).toEqual(['block', 8, 0]);
    expect([entries.get('hard')!.type, entries.get('hard')!.linkname.toString()]).toEqual(['hardlink', 'bin/ping']);
    expect([entries.get('sym')!.type, entries.get('sym')!.linkname.toString()]).toEqual(['symlink', 'l'.repeat(200)]);
    expect(entries.get('fifo')!.type).toBe('fifo');
    // Python writes a directory's name with a trailing '/'.
    expect([entries.get('d/')!.type, entries.get('d/')!.mode]).toEqual(['dir', 0o1777]);
  });

  it('Python tarfile GNU_FORMAT: long names and links, base-256 ids and negative mtimes, devices', () => {
    const file = join(tmp, 'py-gnu.tar');
    python(
      `
import io, sys, tarfile
with tarfile.open(sys.argv[1], 'w', format=tarfile.GNU_FORMAT) as t:
    ti = tarfile.TarInfo('g' * 300); ti.size = 3; ti.uid = 3000000000; ti.mtime = -5; t.addfile(ti, io.BytesIO(b'abc'))
    ti = tarfile.TarInfo('s'); ti.type = tarfile.SYMTYPE; ti.linkname = 't' * 300; t.addfile(ti)
    ti = tarfile.TarInfo('h' * 150); ti.type = tarfile.LNKTYPE; ti.linkname = 'g' * 300; t.addfile(ti)
    ti = tarfile.TarInfo('c'); ti.type = tarfile.CHRTYPE; ti.devmajor = 4; ti.devminor = 64; t.addfile(ti)
`,
      file,
    );
    const entries = byName(parseFile(file).entries);
    const g = entries.get('g'.repeat(300))!;
    expect([g.type, g.size, g.data.toString(), g.uid, g.mtimeSec]).toEqual(['file', 3, 'abc', 3000000000, -5]);
    expect(entries.get('s')!.linkname.toString()).toBe('t'.repeat(300));
    expect([entries.get('h'.repeat(150))!.type, entries.get('h'.repeat(150))!.linkname.toString()]).toEqual(['hardlink', 'g'.repeat(300)]);
    expect([entries.get('c')!.devMajor, entries.get('c')!.devMinor]).toEqual([4, 64]);
  });
});

/** An archive written with encodeHeader(): every type, long and non-UTF-8 names, PAX numbers, binary xattrs. */
function ourArchive(withDevices: boolean): { tar: Buffer; inputs: Array<TarEntryInput & { data: Buffer }> } {
  const cap = Buffer.from('01000002ffffffff000000000000000000000000', 'hex');
  const e = (name: string | Buffer, type: TarEntryType, extra: Partial<TarEntryInput> & { data?: Buffer } = {}) => {
    const data = extra.data ?? Buffer.alloc(0);
    return { name, type, mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtimeSec: 1700000000, ...extra, size: type === 'file' ? data.length : 0, data };
  };
  const inputs = [
    e('dir', 'dir', { mode: 0o755 }),
    e('dir/file', 'file', { mode: 0o4755, data: Buffer.from('hello\n'), xattrs: [['user.bin', Buffer.from([0, 0xff, 0x0a, 0x3d, 0])], ['user.empty', Buffer.alloc(0)]] }),
    e(`dir/${'long'.repeat(40)}`, 'file', { data: Buffer.alloc(1000, 'q'), mtimeNsec: 123_456_789 }),
    e('dir/hard', 'hardlink', { linkname: 'dir/file' }),
    e('dir/sym', 'symlink', { mode: 0o777, linkname: 'target/'.repeat(30) }),
    e('dir/fifo', 'fifo', { mode: 0o600 }),
    e('dir/bigid', 'file', { uid: 3_000_000_000, gid: 2_500_000, uname: 'a-user-name-longer-than-thirty-two-bytes', data: Buffer.from('x') }),
    e('dir/cap', 'file', { mode: 0o755, xattrs: [['security.capability', cap]] }),
    e(Buffer.concat([Buffer.from('dir/caf'), Buffer.of(0xe9), Buffer.from('n'.repeat(130))]), 'file', { data: Buffer.from('latin1 name') }),
    ...(withDevices ? [e('dev/null', 'char', { mode: 0o666, devMajor: 1, devMinor: 3 }), e('dev/sda', 'block', { mode: 0o660, devMajor: 8, devMinor: 0 })] : []),
  ];
  const parts: Buffer[] = [];
  for (const i of inputs) parts.push(encodeHeader(i), i.data, padding(i.data.length));
  parts.push(END_OF_ARCHIVE);
  return { tar: Buffer.concat(parts), inputs };
}

const withSlash = (n: string | Buffer, type: TarEntryType) => {
  const b = Buffer.from(n);
  return type === 'dir' && b[b.length - 1] !== 0x2f ? Buffer.concat([b, Buffer.from('/')]) : b;
};

describeWithTools(['gnu-tar', 'python3'], 'what the encoder writes, GNU tar and Python read the same', () => {
  it('Python tarfile: names (bytes), types, modes, ids, sizes, mtimes, links, devices, xattrs (bytes), data', () => {
    const { tar, inputs } = ourArchive(true);
    const file = join(tmp, 'ours-py.tar');
    writeFileSync(file, tar);
    const out = python(
      `
import json, sys, tarfile
enc = lambda s: s.encode('utf-8', 'surrogateescape').hex()
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        print(json.dumps({'name': enc(m.name + ('/' if m.isdir() else '')), 'type': m.type.decode(), 'mode': m.mode, 'uid': m.uid, 'gid': m.gid,
            'uname': m.uname, 'gname': m.gname, 'size': m.size, 'mtime': m.mtime, 'linkname': enc(m.linkname), 'devmajor': m.devmajor, 'devminor': m.devminor,
            'xattrs': [[k[13:], enc(v)] for k, v in m.pax_headers.items() if k.startswith('SCHILY.xattr.')],
            'data': t.extractfile(m).read().hex() if m.isfile() else ''}))
`,
      file,
    );
    const seen = out.trim().split('\n').map((l) => JSON.parse(l));
    const flag: Record<TarEntryType, string> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };
    expect(seen.length).toBe(inputs.length);
    inputs.forEach((i, n) => {
      const s = seen[n];
      expect(s.name).toBe(withSlash(i.name, i.type).toString('hex'));
      expect([s.type, s.mode, s.uid, s.gid, s.uname, s.gname, s.size]).toEqual([flag[i.type], i.mode, i.uid, i.gid, i.uname, i.gname, i.size]);
      expect(Math.abs(s.mtime - (i.mtimeSec + (i.mtimeNsec ?? 0) / 1e9))).toBeLessThan(1e-6);
      expect(s.linkname).toBe(Buffer.from(i.linkname ?? '').toString('hex'));
      if (i.type === 'char' || i.type === 'block') expect([s.devmajor, s.devminor]).toEqual([i.devMajor, i.devMinor]);
      expect(s.xattrs).toEqual((i.xattrs ?? []).map(([k, v]) => [k, v.toString('hex')]));
      expect(s.data).toBe(i.data.toString('hex'));
    });
  });

  it('GNU tar -tv lists the same names, types, modes, owners, sizes, devices and links', () => {
    const { tar, inputs } = ourArchive(true);
    const file = join(tmp, 'ours-list.tar');
    writeFileSync(file, tar);
    const lines = run('tar', ['-tvf', file, '--numeric-owner', '--quoting-style=escape'], true).trim().split('\n');
    expect(lines.length).toBe(inputs.length);
    const letter: Record<TarEntryType, string> = { file: '-', hardlink: 'h', symlink: 'l', char: 'c', block: 'b', dir: 'd', fifo: 'p' };
    inputs.forEach((i, n) => {
      const m = /^(\S)(\S{9}) (\d+)\/(\d+)\s+(\S+) \S+ \S+ (.*)$/.exec(lines[n]!);
      expect(m, lines[n]).not.toBeNull();
      const [, type, perms, uid, gid, size, rest] = m!;
      expect([type, Number(uid), Number(gid)]).toEqual([letter[i.type], i.uid, i.gid]);
      expect(permBits(perms!)).toBe(i.mode);
      if (i.type === 'char' || i.type === 'block') expect(size).toBe(`${i.devMajor},${i.devMinor}`);
      else expect(Number(size)).toBe(i.size);
      // GNU tar escapes bytes outside printable ASCII as \\ooo.
      const name = withSlash(i.name, i.type).toString('latin1').replace(/[^\x20-\x7e]/g, (c) => `\\${c.charCodeAt(0).toString(8)}`);
      if (i.type === 'symlink') expect(rest).toBe(`${name} -> ${i.linkname}`);
      else if (i.type === 'hardlink') expect(rest).toBe(`${name} link to ${i.linkname}`);
      else expect(rest).toBe(name);
    });
  });

  it('GNU tar --xattrs -x makes the same tree: names, types, modes, links, data, user.* xattrs', () => {
    const { tar, inputs } = ourArchive(false);
    const file = join(tmp, 'ours-x.tar');
    writeFileSync(file, tar);
    const dst = join(tmp, 'extracted');
    mkdirSync(dst);
    run('tar', ['--xattrs', '--xattrs-include=user.*', '-p', '-xf', file, '-C', dst], true);
    const fmt = { file: 'isFile', hardlink: 'isFile', symlink: 'isSymbolicLink', dir: 'isDirectory', fifo: 'isFIFO', char: 'isCharacterDevice', block: 'isBlockDevice' } as const;
    for (const i of inputs) {
      const path = Buffer.concat([Buffer.from(`${dst}/`), Buffer.from(i.name)]);
      const st = lstatSync(path);
      expect(st[fmt[i.type]](), `${i.name}`).toBe(true);
      if (i.type !== 'symlink' && i.type !== 'hardlink') expect(st.mode & 0o7777, `${i.name}`).toBe(i.mode);
      if (i.type === 'symlink') expect(readlinkSync(path, 'buffer')).toEqual(Buffer.from(i.linkname!));
      if (i.type === 'hardlink') expect(st.ino).toBe(lstatSync(join(dst, i.linkname!.toString())).ino);
      if (i.type === 'file') expect(readFileSync(path)).toEqual(i.data);
      if (i.type === 'file' && i.mtimeNsec) expect(lstatSync(path, { bigint: true }).mtimeNs).toBe(BigInt(i.mtimeSec) * 1_000_000_000n + BigInt(i.mtimeNsec));
      for (const [k, v] of i.xattrs ?? []) {
        if (!k.startsWith('user.')) continue;
        const got = python('import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2]).hex())', path.toString('latin1'), k).trim();
        expect(got, `${i.name} ${k}`).toBe(v.toString('hex'));
      }
    }
  });
});

function permBits(p: string): number {
  let m = 0;
  const bit = (i: number, c: string, set: number, exec: number, upper: string, lower: string) => {
    if (p[i] === lower) m |= set | exec;
    else if (p[i] === upper) m |= set;
    else if (p[i] === c) m |= exec;
  };
  if (p[0] === 'r') m |= 0o400;
  if (p[1] === 'w') m |= 0o200;
  bit(2, 'x', 0o4000, 0o100, 'S', 's');
  if (p[3] === 'r') m |= 0o40;
  if (p[4] === 'w') m |= 0o20;
  bit(5, 'x', 0o2000, 0o10, 'S', 's');
  if (p[6] === 'r') m |= 0o4;
  if (p[7] === 'w') m |= 0o2;
  bit(8, 'x', 0o1000, 0o1, 'T', 't');
  return m;
}
