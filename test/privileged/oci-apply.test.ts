/**
 * applyLayer() on real layers made by other tools (Python's tarfile, GNU tar), mounted as real
 * overlays; hostile layers crafted to escape; truncated, corrupt and mis-digested streams.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { applyLayer, isOverlayError, sys, tmpfsMountSync } from '../../src/index.js';
import { encodeHeader, END_OF_ARCHIVE, padding } from '../../src/oci/tar/write.js';
import { withMountAsync, walkView } from '../helpers/merged.js';
import { describePrivileged, describeWithTool } from '../helpers/privileged.js';
import { gnuTar, pythonTar, type TarSpecEntry } from '../helpers/tars.js';
import { caught } from '../helpers/overlay.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
// VFS_CAP_REVISION_2 with the effective bit, cap_net_bind_service permitted: 20 bytes, NULs inside
const CAP = Buffer.from('0100000200040000000000000000000000000000', 'hex');

function xattr(path: string, name: string): Buffer | undefined {
  try {
    return sys.getxattrSync(path, name);
  } catch {
    return undefined;
  }
}


/** Every path under dir with its type, as a sorted list: to show nothing else appeared. */
function listing(dir: string): string[] {
  return [...walkView(dir).entries()].map(([p, s]) => `${p} ${s.type}`).sort();
}

const KINDS: TarSpecEntry[] = [
  { name: 'etc/', type: 'dir', mode: 0o755, mtime: 1600000000 },
  { name: 'etc/os-release', data: 'ID=test\n', mode: 0o644, uid: 0, gid: 0, mtime: 1600000001 },
  { name: 'usr/bin/ping', data: 'elf', mode: 0o4755, uid: 0, gid: 0, xattrs: { 'security.capability': CAP.toString('base64') } },
  { name: 'usr/bin/ping6', type: 'hardlink', linkname: 'usr/bin/ping' },
  { name: 'usr/bin/sh', type: 'symlink', linkname: 'dash', uid: 0 },
  { name: 'home/app/', type: 'dir', mode: 0o750, uid: 1000, gid: 1000, mtime: 1500000000 },
  { name: 'home/app/data', data: 'x'.repeat(70000), mode: 0o600, uid: 1000, gid: 1001, xattrs: { 'user.note': Buffer.from('hi').toString('base64') } },
  { name: 'tmp/', type: 'dir', mode: 0o1777 },
  { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'dev/loop0', type: 'block', devmajor: 7, devminor: 0, mode: 0o660, gid: 6 },
  { name: 'run/fifo', type: 'fifo', mode: 0o600 },
  { name: `deep/${'a'.repeat(120)}/${'b'.repeat(150)}/long-name-${'c'.repeat(90)}`, data: 'long' },
  { name: `deep/link-${'l'.repeat(80)}`, type: 'symlink', linkname: `${'t'.repeat(200)}` },
];

describeWithTool('python3', 'applyLayer: every entry kind, from a layer Python made', () => {
  for (const format of ['pax', 'gnu'] as const) {
    it(`applies a ${format} layer: types, modes, owners, xattrs, links, devices, long names, dir mtimes`, async () => {
      const t = tempDir();
      // GNU format has no xattrs.
      const tar = pythonTar(join(t, 'layer.tar'), format === 'pax' ? KINDS : KINDS.map(({ xattrs: _, ...e }) => e), format);
      const dir = join(t, 'layer');
      const r = await applyLayer(tar, dir);
      expect(r.diffId).toBe(sha256(readFileSync(tar)));
      expect(r.digest).toBe(r.diffId);
      expect(r.compression).toBe('none');
      expect(r.hardlinks).toBe(1);
      expect(readFileSync(join(dir, 'etc/os-release'), 'utf8')).toBe('ID=test\n');
      const ping = statSync(join(dir, 'usr/bin/ping'));
      expect(ping.mode & 0o7777).toBe(0o4755); // setuid kept after the chown
      expect(statSync(join(dir, 'usr/bin/ping6')).ino).toBe(ping.ino);
      expect(readlinkSync(join(dir, 'usr/bin/sh'))).toBe('dash');
      const app = statSync(join(dir, 'home/app'));
      expect([app.mode & 0o7777, app.uid, app.gid]).toEqual([0o750, 1000, 1000]);
      // The directory's mtime is the layer's, set after its file was written into it.
      expect(app.mtimeMs).toBe(1500000000 * 1000);
      expect(statSync(join(dir, 'etc')).mtimeMs).toBe(1600000000 * 1000);
      const data = statSync(join(dir, 'home/app/data'));
      expect([data.size, data.mode & 0o7777, data.uid, data.gid]).toEqual([70000, 0o600, 1000, 1001]);
      expect(statSync(join(dir, 'tmp')).mode & 0o7777).toBe(0o1777);
      const nul = lstatSync(join(dir, 'dev/null'));
      expect(nul.isCharacterDevice()).toBe(true);
      expect(nul.rdev).toBe((1 << 8) | 3);
      expect(lstatSync(join(dir, 'dev/loop0')).isBlockDevice()).toBe(true);
      expect(lstatSync(join(dir, 'dev/loop0')).gid).toBe(6);
      expect(lstatSync(join(dir, 'run/fifo')).isFIFO()).toBe(true);
      expect(readFileSync(join(dir, KINDS[11]!.name), 'utf8')).toBe('long');
      expect(readlinkSync(join(dir, KINDS[12]!.name))).toBe('t'.repeat(200));
      if (format === 'pax') {
        expect(xattr(join(dir, 'usr/bin/ping'), 'security.capability')).toEqual(CAP);
        expect(xattr(join(dir, 'home/app/data'), 'user.note')?.toString()).toBe('hi');
      }
      // Nothing beside the layer dir: the temporary name it was filled under is gone.
      expect(readdirSync(t).sort()).toEqual(['layer', 'layer.tar']);
    });
  }

  it('reads gzip and zstd layers, and checks the digest and diffID it is given', async () => {
    const t = tempDir();
    const tar = readFileSync(pythonTar(join(t, 'layer.tar'), KINDS.slice(0, 3)));
    writeFileSync(join(t, 'layer.tar.gz'), gzipSync(tar));
    const gz = await applyLayer(join(t, 'layer.tar.gz'), join(t, 'a'), { diffId: sha256(tar), digest: sha256(readFileSync(join(t, 'layer.tar.gz'))) });
    expect(gz.compression).toBe('gzip');
    expect(gz.diffId).toBe(sha256(tar));
    expect(readFileSync(join(t, 'a/etc/os-release'), 'utf8')).toBe('ID=test\n');
    if (spawnSync('zstd', ['--version']).status === 0) {
      spawnSync('zstd', ['-q', '-3', join(t, 'layer.tar'), '-o', join(t, 'layer.tar.zst')]);
      const zst = await applyLayer(join(t, 'layer.tar.zst'), join(t, 'b'));
      expect([zst.compression, zst.diffId]).toEqual(['zstd', sha256(tar)]);
    }
  });

  it('refuses a layer whose diffID or digest is not the expected one, and keeps nothing', async () => {
    const t = tempDir();
    const tar = pythonTar(join(t, 'layer.tar'), KINDS.slice(0, 3));
    const wrong = `sha256:${'0'.repeat(64)}`;
    for (const option of ['diffId', 'digest'] as const) {
      const e = await caught(() => applyLayer(tar, join(t, 'out'), { [option]: wrong }));
      expect(isOverlayError(e, 'ERR_DIGEST_MISMATCH')).toBe(true);
      expect(e.expected).toBe(wrong);
      expect(e.actual).toBe(sha256(readFileSync(tar)));
      expect(existsSync(join(t, 'out'))).toBe(false);
    }
    // An empty directory the caller made stays, empty.
    mkdirSync(join(t, 'empty'));
    await caught(() => applyLayer(tar, join(t, 'empty'), { diffId: wrong }));
    expect(readdirSync(join(t, 'empty'))).toEqual([]);
    expect(readdirSync(t).sort()).toEqual(['empty', 'layer.tar']);
  });
});

describeWithTool('python3', 'applyLayer: whiteouts and opaque directories', () => {
  const base: TarSpecEntry[] = [
    { name: 'keep', data: 'base' },
    { name: 'gone', data: 'base' },
    { name: 'gonedir/', type: 'dir' },
    { name: 'gonedir/f', data: 'base' },
    { name: 'opq/', type: 'dir' },
    { name: 'opq/old', data: 'base' },
  ];
  const top: TarSpecEntry[] = [
    // real images carry stale fields on whiteouts: a size with data, a link target
    { name: '.wh.gone', size: 1024 },
    { name: '.wh.gonedir', type: 'hardlink', linkname: 'keep' },
    { name: 'opq/', type: 'dir' },
    { name: 'opq/.wh..wh..opq' },
    { name: 'opq/new', data: 'top' },
    { name: '.wh..wh.plnk/', type: 'dir' }, // AUFS bookkeeping: skipped
  ];

  it('become overlay markers that hide the lower content when mounted', async () => {
    const t = tempDir();
    await applyLayer(pythonTar(join(t, 'base.tar'), base), join(t, 'base'));
    const r = await applyLayer(pythonTar(join(t, 'top.tar'), top), join(t, 'top'));
    expect([r.whiteouts, r.opaques]).toEqual([2, 1]);
    const wh = lstatSync(join(t, 'top/gone'));
    expect([wh.isCharacterDevice(), wh.rdev]).toEqual([true, 0]);
    expect(xattr(join(t, 'top/opq'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(existsSync(join(t, 'top/.wh..wh.plnk'))).toBe(false);
    const merged = join(t, 'merged');
    mkdirSync(merged);
    await withMountAsync({ lower: [join(t, 'top'), join(t, 'base')], target: merged }, async () => {
      expect(readdirSync(merged).sort()).toEqual(['keep', 'opq']);
      expect(readdirSync(join(merged, 'opq'))).toEqual(['new']);
    });
  });

  it('as xattr whiteouts and user.overlay markers when asked', async () => {
    const t = tempDir();
    await applyLayer(pythonTar(join(t, 'top.tar'), top), join(t, 'top'), { whiteouts: 'xattr', namespace: 'user' });
    const gone = lstatSync(join(t, 'top/gone'));
    expect([gone.isFile(), gone.size]).toEqual([true, 0]);
    expect(xattr(join(t, 'top/gone'), 'user.overlay.whiteout')).toBeDefined();
    expect(xattr(join(t, 'top/opq'), 'user.overlay.opaque')?.toString()).toBe('y');
    expect(xattr(join(t, 'top/opq'), 'trusted.overlay.opaque')).toBeUndefined();
  });

  it('delete what they name when flattened onto a root filesystem', async () => {
    const t = tempDir();
    const root = join(t, 'rootfs');
    await applyLayer(pythonTar(join(t, 'base.tar'), base), root, { flatten: true });
    await applyLayer(pythonTar(join(t, 'top.tar'), top), root, { flatten: true });
    expect(readdirSync(root).sort()).toEqual(['keep', 'opq']);
    expect(readdirSync(join(root, 'opq'))).toEqual(['new']);
    expect(xattr(root, 'user.overlayfs.incomplete')).toBeUndefined();
  });
});

describeWithTool('python3', 'applyLayer: hostile layers write nothing outside the directory', () => {
  const hostile: Record<string, TarSpecEntry[]> = {
    'a .. component': [{ name: '../escaped', data: 'x' }],
    'a .. deeper down': [{ name: 'a/../../escaped', data: 'x' }],
    'a file through an absolute symlink': [
      { name: 'evil', type: 'symlink', linkname: '@OUT@' },
      { name: 'evil/escaped', data: 'x' },
    ],
    'a file through a ../ symlink': [
      { name: 'evil', type: 'symlink', linkname: '../../../../../../../../@OUT@' },
      { name: 'evil/escaped', data: 'x' },
    ],
    'a directory through /proc/self/root': [
      { name: 'evil', type: 'symlink', linkname: '/proc/self/root@OUT@' },
      { name: 'evil/escaped/', type: 'dir' },
    ],
    'a hard link to a file outside': [{ name: 'escaped', type: 'hardlink', linkname: '../outside-file' }],
    'a hard link through a symlink out': [
      { name: 'evil', type: 'symlink', linkname: '@OUT@' },
      { name: 'escaped', type: 'hardlink', linkname: 'evil/outside-file' },
    ],
    'a directory replaced by a symlink, then written beneath': [
      { name: 'd/', type: 'dir' },
      { name: 'd/ok', data: 'fine' },
      { name: 'd', type: 'symlink', linkname: '@OUT@' },
      { name: 'd/escaped', data: 'x' },
    ],
    'a device node through a symlink': [
      { name: 'evil', type: 'symlink', linkname: '@OUT@' },
      { name: 'evil/escaped', type: 'char', devmajor: 1, devminor: 3 },
    ],
    'a whiteout through a symlink': [
      { name: 'evil', type: 'symlink', linkname: '@OUT@' },
      { name: 'evil/.wh.outside-file', data: '' },
    ],
  };

  for (const noOpenat2 of [false, true]) {
    for (const [what, entries] of Object.entries(hostile)) {
      it(`${what}${noOpenat2 ? ' (without openat2)' : ''}: refused`, async () => {
        const t = tempDir();
        const outside = join(t, 'outside');
        writeTree(outside, { 'outside-file': 'precious' });
        const before = listing(outside);
        const dir = join(t, 'x', 'layer');
        mkdirSync(join(t, 'x'));
        writeFileSync(join(t, 'x', 'outside-file'), 'precious');
        const spec = entries.map((e) => ({ ...e, ...(e.linkname ? { linkname: e.linkname.replace('@OUT@', outside) } : {}) }));
        const e = await caught(() => applyLayer(pythonTar(join(t, 'evil.tar'), spec), dir, { noOpenat2 }));
        expect(isOverlayError(e, 'ERR_LAYER_UNSAFE') || ['EXDEV', 'ELOOP', 'EINVAL', 'ENOENT', 'EPERM'].includes(e.code as string)).toBe(true);
        expect(listing(outside)).toEqual(before);
        expect(readFileSync(join(outside, 'outside-file'), 'utf8')).toBe('precious');
        expect(readFileSync(join(t, 'x', 'outside-file'), 'utf8')).toBe('precious');
        expect(existsSync(join(t, 'escaped'))).toBe(false);
        // Nothing that looks like a layer was left.
        expect(readdirSync(join(t, 'x'))).toEqual(['outside-file']);
      });
    }
  }

  it('an opaque marker in a directory that is a symlink out: the symlink becomes an opaque dir, nothing outside is marked', async () => {
    for (const noOpenat2 of [false, true]) {
      const t = tempDir();
      const outside = writeTree(join(t, 'outside'), { f: 'precious' });
      const tar = pythonTar(join(t, 'evil.tar'), [
        { name: 'evil', type: 'symlink', linkname: outside },
        { name: 'evil/.wh..wh..opq', data: '' },
      ]);
      await applyLayer(tar, join(t, 'layer'), { noOpenat2 });
      expect(lstatSync(join(t, 'layer/evil')).isDirectory()).toBe(true);
      expect(xattr(join(t, 'layer/evil'), 'trusted.overlay.opaque')?.toString()).toBe('y');
      expect(sys.listxattrSync(outside)).toEqual([]);
      expect(readdirSync(outside)).toEqual(['f']);
    }
  });

  it('an absolute name is neutralised: it lands inside the directory', async () => {
    const t = tempDir();
    await applyLayer(pythonTar(join(t, 'abs.tar'), [{ name: '/etc/abs', data: 'in' }]), join(t, 'layer'));
    expect(readFileSync(join(t, 'layer/etc/abs'), 'utf8')).toBe('in');
  });

  it('a layer that forges an overlay marker xattr is refused', async () => {
    const t = tempDir();
    for (const name of ['trusted.overlay.opaque', 'user.overlay.redirect', 'trusted.overlay.metacopy']) {
      const tar = pythonTar(join(t, 'forge.tar'), [{ name: 'd/', type: 'dir', xattrs: { [name]: Buffer.from('y').toString('base64') } }]);
      const e = await caught(() => applyLayer(tar, join(t, 'layer')));
      expect(isOverlayError(e, 'ERR_LAYER_UNSAFE')).toBe(true);
      expect(e.message).toContain(name);
      expect(existsSync(join(t, 'layer'))).toBe(false);
    }
  });

  it('a whiteout of .. is refused', async () => {
    const t = tempDir();
    const e = await caught(() => applyLayer(pythonTar(join(t, 'wh.tar'), [{ name: 'a/.wh...', data: '' }]), join(t, 'layer')));
    expect(isOverlayError(e, 'ERR_LAYER_UNSAFE')).toBe(true);
  });
});

describeWithTool('python3', 'applyLayer: bombs, truncation, corruption, crashes, aborts', () => {
  it('a header claiming a huge file with no data behind it: truncated, nothing kept', async () => {
    const t = tempDir();
    const tar = readFileSync(pythonTar(join(t, 'l.tar'), [{ name: 'a', data: 'x'.repeat(4096) }]));
    // Claim 1 TB in the header (GNU base-256), fix the checksum, cut the stream after the header.
    const header = Buffer.from(tar.subarray(0, 512));
    header.fill(0, 124, 136);
    header[124] = 0x80;
    header.writeUIntBE(2 ** 40, 136 - 6, 6);
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    writeFileSync(join(t, 'bomb.tar'), Buffer.concat([header, Buffer.alloc(8192)]));
    const e = await caught(() => applyLayer(join(t, 'bomb.tar'), join(t, 'layer')));
    expect(isOverlayError(e, 'ERR_LAYER_FORMAT')).toBe(true);
    expect(existsSync(join(t, 'layer'))).toBe(false);
  });

  it('many entries and deep paths apply', async () => {
    const t = tempDir();
    const deep = Array.from({ length: 60 }, (_, i) => `d${i}`).join('/');
    const entries: TarSpecEntry[] = [{ name: `${deep}/leaf`, data: 'deep' }];
    for (let i = 0; i < 3000; i++) entries.push({ name: `many/${i % 50}/f${i}`, data: String(i) });
    const r = await applyLayer(pythonTar(join(t, 'l.tar'), entries), join(t, 'layer'));
    expect(r.files).toBe(3001);
    expect(readFileSync(join(t, 'layer', deep, 'leaf'), 'utf8')).toBe('deep');
    expect(readFileSync(join(t, 'layer/many/7/f2957'), 'utf8')).toBe('2957');
  });

  it('truncated and corrupt streams: ERR_LAYER_FORMAT, nothing kept', async () => {
    const t = tempDir();
    const tar = readFileSync(pythonTar(join(t, 'l.tar'), KINDS.slice(0, 7)));
    const gz = gzipSync(tar);
    const corrupt = Buffer.from(gz);
    corrupt[Math.floor(gz.length / 2)]! ^= 0xff;
    const cases: Record<string, Buffer> = {
      'a tar cut mid-data': tar.subarray(0, 1000),
      'a tar cut mid-header': tar.subarray(0, 700),
      'a gzip cut in half': gz.subarray(0, gz.length >> 1),
      'a gzip with a flipped byte': corrupt,
      'a tar with a bad header checksum': Buffer.concat([Buffer.from('garbage'), tar.subarray(7)]),
    };
    for (const [what, bytes] of Object.entries(cases)) {
      writeFileSync(join(t, 'bad'), bytes);
      const e = await caught(() => applyLayer(join(t, 'bad'), join(t, 'layer')));
      expect(isOverlayError(e, 'ERR_LAYER_FORMAT') || isOverlayError(e, 'ERR_DIGEST_MISMATCH'), `${what}: ${e.message}`).toBe(true);
      expect(existsSync(join(t, 'layer')), what).toBe(false);
    }
    expect(readdirSync(t).sort()).toEqual(['bad', 'l.tar']);
  });

  it('an apply that crashed is cleaned up by the next one to the same directory', async () => {
    const t = tempDir();
    // What a kill -9 leaves: a temporary directory named for a process that is gone.
    const dead = spawnSync('true').pid!;
    writeTree(join(t, `.layer.apply-${dead}-deadbeef`), { half: 'written' });
    await applyLayer(pythonTar(join(t, 'l.tar'), KINDS.slice(0, 2)), join(t, 'layer'));
    expect(readdirSync(t).sort()).toEqual(['l.tar', 'layer']);
  });

  it('an AbortSignal stops it; nothing is kept', async () => {
    const t = tempDir();
    const entries: TarSpecEntry[] = Array.from({ length: 2000 }, (_, i) => ({ name: `f${i}`, data: 'y'.repeat(8000) }));
    const tar = pythonTar(join(t, 'l.tar'), entries);
    const ac = new AbortController();
    let seen = 0;
    const e = await caught(() => 
      applyLayer(tar, join(t, 'layer'), {
        signal: ac.signal,
        onProgress: (p) => {
          seen = p.entries;
          ac.abort();
        },
      }),
    );
    expect(e.name).toBe('AbortError');
    expect(seen).toBeGreaterThan(0);
    expect(readdirSync(t)).toEqual(['l.tar']);
  });

  it('onto a directory with content: a failure leaves it marked incomplete', async () => {
    const t = tempDir();
    const root = join(t, 'rootfs');
    writeTree(root, { existing: 'yes' });
    const tar = pythonTar(join(t, 'l.tar'), KINDS.slice(0, 2));
    await caught(() => applyLayer(tar, root, { flatten: true, diffId: `sha256:${'1'.repeat(64)}` }));
    expect(xattr(root, 'user.overlayfs.incomplete')).toBeDefined();
    await applyLayer(tar, root, { flatten: true });
    expect(xattr(root, 'user.overlayfs.incomplete')).toBeUndefined();
    expect(readdirSync(root).sort()).toEqual(['etc', 'existing']);
  });
});

describePrivileged('applyLayer: memory stays bounded', () => {
  it('a 2 GiB file from a stream applies with a small, constant heap', async () => {
    const t = tempDir();
    const dir = join(t, 'tmpfs');
    mkdirSync(dir);
    const tmpfs = tmpfsMountSync(dir, { size: '3g' });
    try {
      const SIZE = 2 * 1024 ** 3;
      const chunk = Buffer.alloc(1 << 20, 0x61);
      async function* layer(): AsyncGenerator<Buffer> {
        yield encodeHeader({ name: 'big', type: 'file', mode: 0o644, uid: 0, gid: 0, size: SIZE, mtimeSec: 1700000000 });
        // Fresh buffers, as a stream from a file or socket gives them: nothing is reused.
        for (let sent = 0; sent < SIZE; sent += chunk.length) yield Buffer.from(chunk);
        yield padding(SIZE);
        yield END_OF_ARCHIVE;
      }
      // The JavaScript heap and the memory of live Buffers (not RSS: under the sanitizer build
      // freed memory stays in ASan's quarantine and counts there).
      const used = (): number => {
        const m = process.memoryUsage();
        return m.heapUsed + m.arrayBuffers;
      };
      const before = used();
      let peak = before;
      const r = await applyLayer(layer(), join(dir, 'layer'), {
        onProgress: () => {
          peak = Math.max(peak, used());
        },
      });
      expect(r.bytes).toBeGreaterThan(SIZE);
      expect(statSync(join(dir, 'layer/big')).size).toBe(SIZE);
      // Two batches of about 4 MB in flight, 16 MB waiting to be hashed at most, and what V8
      // has not collected yet; without the bounds this was over 1 GB.
      expect((peak - before) / 2 ** 20).toBeLessThan(128);
    } finally {
      tmpfs.unmountSync();
    }
  }, 120_000);
});

describe('applyLayer: bad input is refused before anything is read', () => {
  it('names the field', async () => {
    const e = await caught(() => applyLayer('/nonexistent.tar', '', { whiteouts: 'nope' as 'xattr' }));
    expect(isOverlayError(e, 'ERR_OVERLAY_SPEC')).toBe(true);
    expect(e.message).toContain('dir');
    expect(e.message).toContain('whiteouts');
  });
});

describeWithTool('python3', 'applyLayer: a layer GNU tar made, applied and mounted', () => {
  it('gives back the tree it was made from (posix format with xattrs)', async () => {
    const t = tempDir();
    const src = writeTree(join(t, 'src'), { 'a/b/c.txt': 'c', 'a/d.txt': 'd', 'e/': null });
    symlinkSync('b/c.txt', join(src, 'a/link'));
    sys.setxattrSync(join(src, 'a/d.txt'), 'user.k', Buffer.from('v'));
    const tar = gnuTar(join(t, 'l.tar'), src, ['--format=posix', '--xattrs', '--xattrs-include=user.*']);
    const dir = join(t, 'layer');
    await applyLayer(tar, dir);
    const want = walkView(src);
    const got = walkView(dir);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [p, s] of want) {
      const g = got.get(p)!;
      expect([g.type, g.mode, g.content, g.uid, g.gid], p).toEqual([s.type, s.mode, s.content, s.uid, s.gid]);
      if (s.type !== 'dir') expect(g.mtimeNs / 1000000000n, p).toBe(s.mtimeNs / 1000000000n);
    }
    expect(xattr(join(dir, 'a/d.txt'), 'user.k')?.toString()).toBe('v');
  });
});
