/**
 * unpackImage(): an image written as an OCI layout (and as a docker save archive) unpacked one
 * directory per layer and mounted, and flattened; the two views agree. A blob that is not what
 * the manifest says leaves nothing behind.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';
import { isOverlayError, unpackImage } from '../../src/index.js';
import { writeOciLayout } from '../../src/oci/image/write.js';
import { blobFile } from '../helpers/images.js';
import { walkView, withMountAsync } from '../helpers/merged.js';
import { describeWithTool } from '../helpers/privileged.js';
import { pythonTar, type TarSpecEntry } from '../helpers/tars.js';
import { tempDir } from '../helpers/tmp.js';

const BASE: TarSpecEntry[] = [
  { name: 'etc/', type: 'dir' },
  { name: 'etc/os-release', data: 'ID=base\n' },
  { name: 'etc/old.conf', data: 'old' },
  { name: 'var/cache/', type: 'dir' },
  { name: 'var/cache/a', data: 'a' },
  { name: 'bin/sh', data: 'sh', mode: 0o755 },
];
const APP: TarSpecEntry[] = [
  { name: 'etc/.wh.old.conf', data: '' },
  { name: 'var/cache/', type: 'dir' },
  { name: 'var/cache/.wh..wh..opq', data: '' },
  { name: 'var/cache/b', data: 'b' },
  { name: 'app/', type: 'dir' },
  { name: 'app/main', data: 'main', mode: 0o755 },
  { name: 'app/sh', type: 'hardlink', linkname: 'app/main' },
];

async function layout(t: string): Promise<string> {
  const base = readFileSync(pythonTar(join(t, 'base.tar'), BASE));
  const app = pythonTar(join(t, 'app.tar'), APP);
  const dir = join(t, 'layout');
  await writeOciLayout(dir, {
    layers: [
      { data: gzipSync(base), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', createdBy: 'ADD base' },
      { path: app, createdBy: 'COPY app' },
    ],
    ref: 'app:1',
  });
  return dir;
}

describeWithTool('python3', 'unpackImage', () => {
  it('one dir per layer, mounted, shows what the flattened root filesystem holds', async () => {
    const t = tempDir();
    const source = await layout(t);
    const r = await unpackImage(source, join(t, 'layers'), { ref: 'app:1' });
    expect(r.ref).toBe('app:1');
    expect(r.layers.map((l) => l.createdBy)).toEqual(['ADD base', 'COPY app']);
    expect(r.lower).toEqual([join(t, 'layers', '1'), join(t, 'layers', '0')]);
    expect(r.layers[0]!.applied.compression).toBe('gzip');
    const flat = await unpackImage(source, join(t, 'rootfs'), { flatten: true });
    expect(flat.lower).toEqual([]);
    expect(readdirSync(join(t, 'rootfs/etc'))).toEqual(['os-release']);
    expect(readdirSync(join(t, 'rootfs/var/cache'))).toEqual(['b']);
    const merged = join(t, 'merged');
    mkdirSync(merged);
    await withMountAsync({ lower: r.lower, target: merged }, async () => {
      const viaMount = walkView(merged);
      const viaFlat = walkView(join(t, 'rootfs'));
      expect([...viaMount.keys()].sort()).toEqual([...viaFlat.keys()].sort());
      for (const [p, s] of viaFlat) expect([viaMount.get(p)!.type, viaMount.get(p)!.content], p).toEqual([s.type, s.content]);
    });
  });

  it('a blob whose bytes are not its digest: ERR_DIGEST_MISMATCH, and the half-unpacked image is gone', async () => {
    const t = tempDir();
    const source = await layout(t);
    const index = JSON.parse(readFileSync(join(source, 'index.json'), 'utf8'));
    const manifest = JSON.parse(blobFile(source, index.manifests[0].digest).toString());
    // The top layer's blob replaced by another valid tar: the base unpacks, the top does not.
    const top = manifest.layers[1].digest as string;
    writeFileSync(join(source, 'blobs/sha256', top.slice(7)), readFileSync(pythonTar(join(t, 'other.tar'), [{ name: 'x', data: 'evil' }])));
    let e: unknown;
    try {
      await unpackImage(source, join(t, 'layers'));
    } catch (err) {
      e = err;
    }
    expect(isOverlayError(e, 'ERR_DIGEST_MISMATCH')).toBe(true);
    expect(readdirSync(t).includes('layers')).toBe(false);
  });

  it('refuses a directory that is not empty', async () => {
    const t = tempDir();
    const source = await layout(t);
    mkdirSync(join(t, 'full'));
    writeFileSync(join(t, 'full', 'keep'), 'mine');
    await expect(unpackImage(source, join(t, 'full'))).rejects.toThrow(/not empty/);
    expect(readdirSync(join(t, 'full'))).toEqual(['keep']);
  });
});
