/**
 * exportLayer() against the kernel: changes of every kind are made THROUGH a real overlay mount
 * (redirect_dir=on, metacopy=on), the overlay is unmounted, and the upper is exported and read
 * back entry by entry with the tar parser (and GNU tar, as an independent reader).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { exportLayer, sys, type ExportOptions } from '../../src/index.js';
import { TarParser, type TarEntry } from '../../src/oci/tar/index.js';
import { withMount } from '../helpers/merged.js';
import { collect } from '../helpers/oci.js';
import { describePrivileged } from '../helpers/privileged.js';
import { openFdCount, tempDir, writeTree } from '../helpers/tmp.js';
import { BIG, changedUpper } from '../helpers/changed-upper.js';

interface Parsed {
  entry: TarEntry;
  data: Buffer;
}

/** Every entry of a tar with its data, in order. */
function parseTar(tar: Buffer): Parsed[] {
  const out: Parsed[] = [];
  let parts: Buffer[] = [];
  const flush = () => {
    if (out.length > 0) out[out.length - 1]!.data = Buffer.concat(parts);
    parts = [];
  };
  const p = new TarParser({
    entry: (entry) => {
      flush();
      out.push({ entry, data: Buffer.alloc(0) });
    },
    data: (chunk) => parts.push(Buffer.from(chunk)),
    end: flush,
  });
  p.write(tar);
  p.end();
  return out;
}

const names = (entries: readonly Parsed[]) => entries.map((e) => e.entry.name.toString());
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function exportAll(upper: string, lowers: string[], options: ExportOptions = {}) {
  const { stream, result } = exportLayer(upper, lowers, options);
  const bytes = await collect(stream);
  return { bytes, result: await result };
}

describePrivileged('exportLayer(): an upper as an OCI layer', () => {
  it('writes each kind of change as the layer spec says', async () => {
    const f = changedUpper();
    // The kernel made what the test is about: a metacopy copy-up, a redirect, an opaque dir.
    expect(sys.listxattrSync(join(f.upper, 'big.bin'))).toContain('trusted.overlay.metacopy');
    expect(sys.getxattrSync(join(f.upper, 'new'), 'trusted.overlay.redirect').toString()).toBe('old');
    expect(sys.getxattrSync(join(f.upper, 'opq'), 'trusted.overlay.opaque').toString()).toBe('y');

    const { bytes, result } = await exportAll(f.upper, f.lowers);
    const entries = parseTar(bytes);
    const byName = new Map(entries.map((e) => [e.entry.name.toString(), e]));
    expect(names(entries)).toEqual([
      'big.bin',
      '.wh.data',
      'dirfile',
      '.wh.doomed.txt',
      'etc/',
      'etc/link',
      'etc/new.conf',
      'etc/os-release',
      'hl-a',
      'hl-b',
      'low.txt',
      'new/',
      'new/added.txt',
      'new/deep/',
      'new/deep/y.txt',
      'new/x.txt',
      '.wh.old',
      'opq/',
      'opq/.wh..wh..opq',
      'opq/fresh.txt',
      'pipe',
      'shared.txt',
    ]);
    expect(result.entries).toBe(entries.length);
    expect(result.bytes).toBe(bytes.length);
    expect(result.diffId).toBe(`sha256:${sha(bytes)}`);
    expect(result.digest).toBe(result.diffId);
    expect(result.compression).toBe('none');

    const file = (n: string) => byName.get(n)!;
    // Whiteouts and the opaque marker: empty regular files.
    for (const n of ['.wh.data', '.wh.doomed.txt', '.wh.old', 'opq/.wh..wh..opq']) {
      expect(file(n).entry.type).toBe('file');
      expect(file(n).entry.size).toBe(0);
    }
    expect(file('low.txt').data.toString()).toBe('low original + more');
    expect(file('etc/new.conf').data.toString()).toBe('new');
    expect(file('dirfile').entry.type).toBe('file');
    expect(file('dirfile').data.toString()).toBe('now a file');
    // The renamed dir: its content from the lower (through the redirect) and its own.
    expect(file('new/x.txt').data.toString()).toBe('x');
    expect(file('new/deep/y.txt').data.toString()).toBe('y');
    expect(file('new/added.txt').data.toString()).toBe('added after the rename');
    // metacopy chmods: the data comes from the lower file.
    expect(file('etc/os-release').entry.mode).toBe(0o600);
    expect(file('etc/os-release').data.toString()).toBe('ID=example\n');
    expect(file('big.bin').entry.mode).toBe(0o640);
    expect(file('big.bin').entry.size).toBe(BIG.length);
    expect(sha(file('big.bin').data)).toBe(sha(BIG));
    // Links, devices, xattrs.
    expect(file('hl-a').entry.type).toBe('file');
    expect(file('hl-a').data.toString()).toBe('linked');
    expect(file('hl-b').entry.type).toBe('hardlink');
    expect(file('hl-b').entry.linkname.toString()).toBe('hl-a');
    expect(file('etc/link').entry.type).toBe('symlink');
    expect(file('etc/link').entry.linkname.toString()).toBe('../etc/os-release');
    expect(file('pipe').entry.type).toBe('fifo');
    expect(file('shared.txt').data.toString()).toBe('from l1');
    expect(file('shared.txt').entry.xattrs).toEqual([['user.x', Buffer.from('value x')]]);
    // No overlay xattr ever leaves.
    for (const e of entries) {
      for (const [n] of e.entry.xattrs) expect(n).not.toMatch(/^(trusted|user)\.overlay\./);
      for (const k of e.entry.pax.keys()) expect(k).not.toMatch(/overlay\./);
    }

    // GNU tar reads it the same way.
    const tarFile = join(f.root, 'layer.tar');
    writeFileSync(tarFile, bytes);
    const gnu = spawnSync('tar', ['-tf', tarFile], { encoding: 'utf8' });
    expect(gnu.status).toBe(0);
    expect(gnu.stdout.trim().split('\n')).toEqual(names(entries));
  });

  it('userxattr layers: markers read as user.overlay.*, none written out', async () => {
    const root = tempDir('ovl-export-');
    const lower = writeTree(join(root, 'lower'), { 'etc/a': 'a', 'etc/b': 'b', 'dir/x': 'x', 'dir/y': 'y' });
    const upper = join(root, 'upper');
    const target = join(root, 'merged');
    writeTree(root, { 'upper/': null, 'work/': null, 'merged/': null });
    withMount({ lower: [lower], upper, work: join(root, 'work'), target, options: { userxattr: true } }, () => {
      rmSync(join(target, 'etc/a'));
      rmSync(join(target, 'dir'), { recursive: true });
      mkdirSync(join(target, 'dir'));
      writeFileSync(join(target, 'dir/new'), 'new');
    });
    expect(sys.getxattrSync(join(upper, 'dir'), 'user.overlay.opaque').toString()).toBe('y');
    const { bytes } = await exportAll(upper, [lower], { namespace: 'user' });
    const entries = parseTar(bytes);
    expect(names(entries)).toEqual(['dir/', 'dir/.wh..wh..opq', 'dir/new', 'etc/', 'etc/.wh.a']);
    for (const e of entries) for (const [n] of e.entry.xattrs) expect(n).not.toMatch(/overlay\./);
  });

  it('reproducible: the same bytes and diffID twice, mtimes clamped, owner fixed', async () => {
    const f = changedUpper();
    const options: ExportOptions = { reproducible: { mtime: 1_000_000, uid: 1000, gid: 1000 } };
    const a = await exportAll(f.upper, f.lowers, options);
    // Something that does not change the content, between the two.
    await new Promise((r) => setTimeout(r, 20));
    const b = await exportAll(f.upper, f.lowers, options);
    expect(b.bytes.equals(a.bytes)).toBe(true);
    expect(b.result.diffId).toBe(a.result.diffId);
    for (const { entry } of parseTar(a.bytes)) {
      expect(entry.mtimeSec).toBeLessThanOrEqual(1_000_000);
      expect([entry.uid, entry.gid]).toEqual([1000, 1000]);
    }
  });

  it('gzip: the digest is of the compressed bytes, the diffID of the tar inside', async () => {
    const f = changedUpper();
    const plain = await exportAll(f.upper, f.lowers);
    const gz = await exportAll(f.upper, f.lowers, { compression: 'gzip', level: 1 });
    expect(gz.result.compression).toBe('gzip');
    expect(gz.result.digest).toBe(`sha256:${sha(gz.bytes)}`);
    expect(gz.result.compressedBytes).toBe(gz.bytes.length);
    const inside = gunzipSync(gz.bytes);
    expect(gz.result.diffId).toBe(`sha256:${sha(inside)}`);
    expect(gz.result.diffId).toBe(plain.result.diffId);
    expect(gz.result.bytes).toBe(inside.length);
  });

  it('an empty upper is an empty tar; a name that reads as a whiteout is refused', async () => {
    const root = tempDir('ovl-export-');
    writeTree(root, { 'upper/': null, 'lower/x': 'x' });
    const empty = await exportAll(join(root, 'upper'), [join(root, 'lower')]);
    expect(empty.bytes.equals(Buffer.alloc(1024))).toBe(true);
    expect(empty.result.entries).toBe(0);

    writeTree(root, { 'upper/.wh.sneaky': 'x' });
    const { stream, result } = exportLayer(join(root, 'upper'), [join(root, 'lower')]);
    await expect(collect(stream)).rejects.toMatchObject({ code: 'ERR_LAYER_FORMAT' });
    await expect(result).rejects.toMatchObject({ code: 'ERR_LAYER_FORMAT' });
  });

  it('abort mid-export: the stream errors with AbortError and no fd is left open', async () => {
    const root = tempDir('ovl-export-');
    const upper = join(root, 'upper');
    const tree: Record<string, string> = {};
    for (let i = 0; i < 400; i++) tree[`d${i % 20}/f${i}`] = `file ${i}\n`.repeat(2000);
    writeTree(upper, tree);
    writeFileSync(join(upper, 'zz-big'), BIG);
    mkdirSync(join(root, 'lower'));
    const before = openFdCount();
    const ac = new AbortController();
    const { stream, result } = exportLayer(upper, [join(root, 'lower')], { signal: ac.signal });
    let got = 0;
    const consumed = (async () => {
      for await (const chunk of stream) {
        got += (chunk as Buffer).length;
        if (got > 1 << 20) ac.abort();
      }
    })();
    await expect(consumed).rejects.toMatchObject({ name: 'AbortError' });
    await expect(result).rejects.toMatchObject({ name: 'AbortError' });
    expect(openFdCount()).toBe(before);
  });

  it('progress is reported per batch, and the result counts what was written', async () => {
    const f = changedUpper();
    const seen: Array<{ entries: number; bytes: number }> = [];
    const { bytes, result } = await exportAll(f.upper, f.lowers, { onProgress: (p) => seen.push(p) });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)!.entries).toBe(result.entries);
    expect(seen.at(-1)!.bytes).toBe(bytes.length - 1024);
  });
});

describe('exportLayer() arguments', () => {
  it('are checked before anything is read', () => {
    expect(() => exportLayer(1 as unknown as string, [])).toThrow(/upper/);
    expect(() => exportLayer('/x', 'y' as unknown as string[])).toThrow(/lowers/);
    expect(() => exportLayer('/x', [], { compression: 'lz4' as 'gzip' })).toThrow(/compression/);
    expect(() => exportLayer('/x', [], { reproducible: { mtime: -1 } })).toThrow(/mtime/);
  });
  it('a missing upper fails the stream and the result', async () => {
    const { stream, result } = exportLayer('/nonexistent-upper-dir', []);
    await expect(collect(stream)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(result).rejects.toMatchObject({ code: 'ENOENT' });
  });
});



