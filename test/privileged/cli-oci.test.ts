/**
 * ovl layer apply / layer export / image ls / image unpack, as a user runs them: a layer
 * applied and mounted, the mount's changes exported and applied again, an image listed and
 * unpacked; --json, stdin, exit codes and messages.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { writeOciLayout } from '../../src/oci/image/write.js';
import { CLI, ovl, ovlOk } from '../helpers/cli.js';
import { walkView } from '../helpers/merged.js';
import { describeWithTool } from '../helpers/privileged.js';
import { pythonTar } from '../helpers/tars.js';
import { mountsUnder, tempDir } from '../helpers/tmp.js';
import { sys } from '../../src/index.js';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function cleanup(root: string): void {
  for (const m of mountsUnder(root).reverse()) sys.umount2Sync(m);
}

describeWithTool('python3', 'ovl layer', () => {
  it('apply prints the digests and counts; --json; a wrong --diff-id fails with exit 32 and keeps nothing', () => {
    const t = tempDir();
    const tar = pythonTar(join(t, 'l.tar'), [
      { name: 'etc/', type: 'dir' },
      { name: 'etc/hosts', data: '127.0.0.1 localhost\n' },
      { name: '.wh.gone', data: '' },
    ]);
    const diffId = sha256(readFileSync(tar));
    const text = ovlOk(['layer', 'apply', tar, join(t, 'a')]);
    expect(text).toContain(`diffID:  ${diffId}`);
    expect(text).toMatch(/entries: 3 \(1 files, 1 dirs, .* 1 whiteouts/);
    const j = JSON.parse(ovlOk(['layer', 'apply', '--json', tar, join(t, 'b')]));
    expect([j.diffId, j.files, j.whiteouts, j.dir]).toEqual([diffId, 1, 1, join(t, 'b')]);
    const bad = ovl(['layer', 'apply', '--diff-id', `sha256:${'0'.repeat(64)}`, tar, join(t, 'c')]);
    expect(bad.status).toBe(32);
    expect(bad.stderr).toMatch(/^ovl: .*sha256:0{64}/m);
    expect(readdirSync(t).sort()).toEqual(['a', 'b', 'l.tar']);
    expect(ovl(['layer', 'apply', tar]).status).toBe(1);
  });

  it('apply reads stdin for -', () => {
    const t = tempDir();
    const tar = pythonTar(join(t, 'l.tar'), [{ name: 'f', data: 'from stdin' }]);
    const r = spawnSync(process.execPath, [CLI, 'layer', 'apply', '-', join(t, 'out')], { input: readFileSync(tar), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(t, 'out/f'), 'utf8')).toBe('from stdin');
  });

  it('a layer applied, mounted, changed, exported and applied again gives the same merged view', () => {
    const t = tempDir();
    try {
      const tar = pythonTar(join(t, 'base.tar'), [
        { name: 'etc/', type: 'dir' },
        { name: 'etc/a', data: 'a' },
        { name: 'etc/b', data: 'b' },
        { name: 'var/', type: 'dir' },
        { name: 'var/x', data: 'x' },
      ]);
      const base = join(t, 'base');
      ovlOk(['layer', 'apply', tar, base]);
      for (const d of ['upper', 'work', 'merged']) mkdirSync(join(t, d));
      ovlOk(['mount', '--lower', base, '--upper', join(t, 'upper'), '--work', join(t, 'work'), join(t, 'merged')]);
      writeFileSync(join(t, 'merged/etc/a'), 'changed');
      rmSync(join(t, 'merged/etc/b'));
      rmSync(join(t, 'merged/var'), { recursive: true });
      mkdirSync(join(t, 'merged/var'));
      writeFileSync(join(t, 'merged/var/new'), 'new');
      const want = walkView(join(t, 'merged'));
      ovlOk(['umount', join(t, 'merged')]);
      const exported = spawnSync(process.execPath, [CLI, 'layer', 'export', join(t, 'upper'), '--lower', base, '-o', join(t, 'diff.tar.gz'), '--gzip'], { encoding: 'utf8' });
      expect(exported.status, exported.stderr).toBe(0);
      expect(exported.stderr).toMatch(/^diffID: sha256:[0-9a-f]{64}$/m);
      ovlOk(['layer', 'apply', join(t, 'diff.tar.gz'), join(t, 'diff')]);
      ovlOk(['mount', '--lower', join(t, 'diff'), '--lower', base, join(t, 'merged')]);
      const got = walkView(join(t, 'merged'));
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [p, s] of want) expect(got.get(p)!.content, p).toBe(s.content);
      ovlOk(['umount', join(t, 'merged')]);
      // To stdout, as a pipe: the tar, and the same diffID the file had.
      const piped = spawnSync(process.execPath, [CLI, 'layer', 'export', join(t, 'upper'), '--lower', base], { maxBuffer: 64 << 20 });
      expect(piped.status).toBe(0);
      expect(piped.stderr.toString()).toContain(`diffID: ${sha256(piped.stdout)}`);
    } finally {
      cleanup(t);
    }
  });
});

describeWithTool('python3', 'ovl image', () => {
  it('ls lists refs and platforms; unpack makes one dir per layer and prints the lowerdir; --flatten one root', async () => {
    const t = tempDir();
    const base = pythonTar(join(t, 'base.tar'), [{ name: 'etc/os-release', data: 'ID=test\n' }]);
    const app = pythonTar(join(t, 'app.tar'), [{ name: 'app/main', data: 'main' }, { name: 'etc/.wh.os-release', data: '' }]);
    const layout = join(t, 'layout');
    await writeOciLayout(layout, { layers: [{ path: base, createdBy: 'ADD base' }, { path: app, createdBy: 'COPY app' }], ref: 'demo:1' });
    const ls = ovlOk(['image', 'ls', layout]);
    expect(ls).toMatch(/^REF\s+PLATFORM\s+MANIFEST/);
    expect(ls).toMatch(/^demo:1\s+linux\/\S+\s+sha256:[0-9a-f]{64}$/m);
    expect(JSON.parse(ovlOk(['image', 'ls', '--json', layout])).kind).toBe('oci-layout');
    const text = ovlOk(['image', 'unpack', `${layout}:demo:1`, join(t, 'layers')]);
    expect(text).toContain(`lowerdir=${join(t, 'layers/1')}:${join(t, 'layers/0')}`);
    expect(text).toContain('COPY app');
    expect(readdirSync(join(t, 'layers')).sort()).toEqual(['0', '1']);
    ovlOk(['image', 'unpack', '--flatten', layout, join(t, 'rootfs')]);
    expect(readdirSync(join(t, 'rootfs')).sort()).toEqual(['app', 'etc']);
    expect(readdirSync(join(t, 'rootfs/etc'))).toEqual([]);
    const missing = ovl(['image', 'unpack', `${layout}:nope`, join(t, 'x')]);
    expect(missing.status).toBe(32);
    expect(missing.stderr).toContain('demo:1');
    const group = ovl(['image']);
    expect(group.status).toBe(1);
    expect(group.stdout).toContain('image unpack');
  });
});
