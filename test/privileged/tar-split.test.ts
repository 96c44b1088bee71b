/**
 * Tar-split: a layer applied with `tarSplit` rebuilds to the same bytes (the same diffID) from its
 * files, whoever wrote the tar (GNU tar, Python's tarfile in pax, gnu and ustar formats) and
 * however it was compressed and chunked; a file changed after the apply is caught by the digest.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';
import { applyLayer } from '../../src/index.js';
import { rebuildTar } from '../../src/oci/tar/split.js';
import { collect, openFds } from '../helpers/oci.js';
import { describeWithTool } from '../helpers/privileged.js';
import { gnuTar, pythonTar, type TarSpecEntry } from '../helpers/tars.js';
import { tempDir } from '../helpers/tmp.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const ENTRIES: TarSpecEntry[] = [
  { name: 'etc/', type: 'dir', mode: 0o755 },
  { name: 'etc/hosts', data: '127.0.0.1 localhost\n', uid: 1000, gid: 1000 },
  { name: 'etc/empty', data: '' },
  { name: 'bin/', type: 'dir' },
  { name: 'bin/ping', dataB64: Buffer.alloc(70_000, 7).toString('base64'), mode: 0o4755, xattrs: { 'security.capability': Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).toString('base64') } },
  { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
  { name: 'bin/busybox', data: 'bb\n' },
  { name: 'bin/ash', type: 'hardlink', linkname: 'bin/busybox' },
  { name: `usr/share/${'long-directory-name/'.repeat(8)}file-with-a-name-longer-than-one-hundred-bytes.txt`, data: 'deep\n' },
  { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3 },
  { name: 'gone/', type: 'dir' },
  { name: 'gone/.wh..wh..opq', data: '' },
  { name: '.wh.removed', data: '' },
];

async function roundTrip(tar: Buffer, compressed = tar, chunk = 65536): Promise<void> {
  const t = tempDir('ovl-split-');
  const split = join(t, 'split.gz');
  const chunks = [];
  for (let i = 0; i < compressed.length; i += chunk) chunks.push(compressed.subarray(i, i + chunk));
  const applied = await applyLayer(Readable.from(chunks), join(t, 'layer'), { tarSplit: split });
  expect(applied.diffId).toBe(sha(tar));
  const rebuilt = await collect(rebuildTar(split, join(t, 'layer')));
  expect(rebuilt.length).toBe(tar.length);
  expect(sha(rebuilt)).toBe(sha(tar));
}

describeWithTool('python3', 'tar-split', () => {
  for (const format of ['pax', 'gnu', 'ustar'] as const) {
    it(`rebuilds Python's ${format} tar byte for byte`, async () => {
      const t = tempDir('ovl-split-');
      const entries = format === 'ustar' ? ENTRIES.filter((e) => !e.name.startsWith('usr/') && !e.xattrs) : ENTRIES;
      await roundTrip(readFileSync(pythonTar(join(t, 'l.tar'), entries, format)));
    });
  }

  it("rebuilds GNU tar's archive (with its record padding), gzip'd, fed a few bytes at a time", async () => {
    const t = tempDir('ovl-split-');
    const src = join(t, 'src');
    mkdirSync(join(src, 'a/b'), { recursive: true });
    for (let i = 0; i < 50; i++) writeFileSync(join(src, 'a/b', `f${i}`), `file ${i}\n`.repeat(i * 37));
    symlinkSync('a/b/f1', join(src, 'link'));
    const tar = readFileSync(gnuTar(join(t, 'l.tar'), src, ['--format=posix']));
    await roundTrip(tar, gzipSync(tar), 1000);
    await roundTrip(tar, tar, 511);
  });

  it('a file changed after the apply: the rebuilt tar is not the layer (the diffID check catches it), a shortened one fails', async () => {
    const t = tempDir('ovl-split-');
    const tar = readFileSync(pythonTar(join(t, 'l.tar'), ENTRIES));
    const split = join(t, 'split.gz');
    await applyLayer(Readable.from([tar]), join(t, 'layer'), { tarSplit: split });
    writeFileSync(join(t, 'layer/etc/hosts'), '127.0.0.9 localhost\n');
    expect(sha(await collect(rebuildTar(split, join(t, 'layer'))))).not.toBe(sha(tar));
    writeFileSync(join(t, 'layer/etc/hosts'), 'x');
    await expect(collect(rebuildTar(split, join(t, 'layer')))).rejects.toMatchObject({ code: 'ERR_LAYER_CHANGED' });
  });

  it('a file a later entry replaced (by a FIFO, a symlink, a directory) is refused at rebuild, never read through', async () => {
    for (const later of [{ type: 'fifo' as const }, { type: 'symlink' as const, linkname: '/etc/passwd' }, { type: 'dir' as const }]) {
      const t = tempDir('ovl-split-');
      const tar = readFileSync(pythonTar(join(t, 'l.tar'), [{ name: 'a', data: 'first\n' }, { name: 'a', ...later }]));
      const split = join(t, 'split.gz');
      await applyLayer(Readable.from([tar]), join(t, 'layer'), { tarSplit: split });
      await expect(collect(rebuildTar(split, join(t, 'layer'))), later.type).rejects.toMatchObject({ code: 'ERR_LAYER_CHANGED' });
    }
  });

  it('a failed apply leaves no split behind', async () => {
    const t = tempDir('ovl-split-');
    const tar = readFileSync(pythonTar(join(t, 'l.tar'), ENTRIES));
    const split = join(t, 'split.gz');
    await expect(applyLayer(Readable.from([tar]), join(t, 'layer'), { tarSplit: split, diffId: `sha256:${'0'.repeat(64)}` })).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    expect(() => readFileSync(split)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});

describeWithTool('python3', 'applyLayer from a path, refused before it writes', () => {
  it('lets go of the file it opened (no FileHandle left for the GC to close)', async () => {
    const t = tempDir('ovl-split-');
    const tar = pythonTar(join(t, 'l.tar'), ENTRIES);
    writeFileSync(join(t, 'a-file'), 'not a directory');
    const before = openFds();
    await expect(applyLayer(tar, join(t, 'a-file'))).rejects.toThrow();
    expect(openFds()).toEqual(before);
  });
});
