/**
 * containerd's snapshot model over the store (what the snapshotter serves), without containerd:
 * the mounts each call returns are mounted for real (mount(8), as containerd's mount.All makes
 * them: the lowers named relative to their directory when the options pass a page).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MNT, openStore, sys, type Store } from '../../src/index.js';
import { describePrivileged } from '../helpers/privileged.js';
import { mountsUnder, tempDir } from '../helpers/tmp.js';

let roots: string[] = [];
afterEach(() => {
  const left = roots.flatMap((r) => mountsUnder(r));
  for (const m of [...left].reverse()) sys.umount2Sync(m, { flags: MNT.DETACH });
  roots = [];
  expect(left).toEqual([]);
});

async function fresh(): Promise<{ store: Store; root: string; t: string }> {
  const t = tempDir('ovl-snap-');
  roots.push(t);
  const root = join(t, 'store');
  return { store: await openStore({ root }), root, t };
}

interface M {
  type: string;
  source: string;
  options: string[];
}

/** Mounts as containerd's mount.All does: bind by path; overlay with relative lowers (cwd: their directory) once past a page. */
function mountAll(mounts: M[], target: string): void {
  mkdirSync(target, { recursive: true });
  for (const m of mounts) {
    if (m.type === 'bind') {
      const ro = m.options.includes('ro');
      run(['mount', '--rbind', m.source, target]);
      if (ro) run(['mount', '-o', 'remount,bind,ro', target]);
      continue;
    }
    let options = m.options;
    let cwd: string | undefined;
    if (options.join(',').length >= 4096 - 512) {
      const lower = options.find((o) => o.startsWith('lowerdir='))!.slice('lowerdir='.length).split(':');
      cwd = dirname(lower[0]!);
      options = options.map((o) => (o.startsWith('lowerdir=') ? `lowerdir=${lower.map((l) => basename(l)).join(':')}` : o));
    }
    run(['mount', '-t', m.type, m.source, '-o', options.join(','), target], cwd);
  }
}

function run(argv: string[], cwd?: string): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', ...(cwd ? { cwd } : {}) });
  if (r.status !== 0) throw new Error(`${argv.join(' ').slice(0, 300)}: ${r.stderr}`);
}

const umount = (target: string) => sys.umount2Sync(target, {});

describePrivileged('snapshots (containerd model) over the store', () => {
  it('prepare, write, commit, prepare on it, view: the mounts show each layer, the upper takes the writes', async () => {
    const { store, t } = await fresh();
    const m1 = (await store.prepareSnapshot('extract-1', undefined, { a: '1' })) as M[];
    expect(m1).toEqual([{ type: 'bind', source: expect.stringMatching(/\/diff$/), options: ['rbind', 'rw'] }]);
    const mnt = join(t, 'mnt');
    mountAll(m1, mnt);
    writeFileSync(join(mnt, 'base'), 'base layer\n');
    umount(mnt);
    await store.commitSnapshot('L1', 'extract-1', { b: '2' });
    expect(await store.statSnapshot('L1')).toMatchObject({ name: 'L1', kind: 'committed', labels: { a: '1', b: '2' } });
    await expect(store.statSnapshot('extract-1')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });

    const m2 = (await store.prepareSnapshot('c1', 'L1')) as M[];
    expect(m2[0]!.type).toBe('overlay');
    expect(m2[0]!.options.find((o) => o.startsWith('lowerdir='))).toMatch(/\/overlay\/l\/[A-Z0-9]{6}$/);
    mountAll(m2, mnt);
    expect(readFileSync(join(mnt, 'base'), 'utf8')).toBe('base layer\n');
    writeFileSync(join(mnt, 'top'), 'written\n');
    umount(mnt);
    const upper = m2[0]!.options.find((o) => o.startsWith('upperdir='))!.slice('upperdir='.length);
    expect(readdirSync(upper)).toEqual(['top']);
    // As du counts it (blocks, the directory itself included), and find the inodes.
    const du = Number(spawnSync('du', ['-s', '--block-size=1', upper], { encoding: 'utf8' }).stdout.split('\t')[0]);
    const inodes = spawnSync('find', [upper], { encoding: 'utf8' }).stdout.trim().split('\n').length;
    expect(await store.snapshotUsage('c1')).toEqual({ size: du, inodes });
    await store.commitSnapshot('L2', 'c1');
    expect(await store.snapshotUsage('L2')).toEqual({ size: du, inodes: 2 });

    const v2 = (await store.viewSnapshot('v2', 'L2')) as M[];
    expect(v2[0]!.type).toBe('overlay');
    expect(v2[0]!.options.some((o) => o.startsWith('upperdir='))).toBe(false);
    mountAll(v2, mnt);
    expect(readdirSync(mnt).sort()).toEqual(['base', 'top']);
    umount(mnt);
    const v1 = (await store.viewSnapshot('v1', 'L1')) as M[];
    expect(v1).toEqual([{ type: 'bind', source: expect.stringMatching(/\/overlay\/l\/[A-Z0-9]{6}$/), options: ['rbind', 'ro'] }]);
    expect(await store.snapshotMounts('v1')).toEqual(v1);
    expect((await store.snapshots()).map((s) => `${s.name}:${s.kind}:${s.parent ?? ''}`)).toEqual(['L1:committed:', 'L2:committed:L1', 'v1:view:L1', 'v2:view:L2']);
  });

  it("refuses as containerd expects: a key there (already exists), a missing or uncommitted parent, a parent's removal, a committed snapshot's mounts", async () => {
    const { store } = await fresh();
    await store.prepareSnapshot('a');
    await expect(store.prepareSnapshot('a')).rejects.toMatchObject({ name: 'SnapshotExistsError', code: 'ERR_CONFLICT' });
    await expect(store.prepareSnapshot('b', 'nope')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(store.prepareSnapshot('b', 'a')).rejects.toMatchObject({ code: 'ERR_CONFLICT', message: expect.stringMatching(/not committed/) });
    await store.commitSnapshot('A', 'a');
    await store.prepareSnapshot('x');
    await expect(store.commitSnapshot('A', 'x')).rejects.toMatchObject({ name: 'SnapshotExistsError' });
    await store.prepareSnapshot('child', 'A');
    await expect(store.removeSnapshot('A')).rejects.toMatchObject({ code: 'ERR_CONFLICT', message: expect.stringMatching(/child/) });
    await expect(store.snapshotMounts('A')).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
    await expect(store.prepareSnapshot('')).rejects.toMatchObject({ code: 'ERR_OVERLAY_SPEC' });
    await store.removeSnapshot('child');
    await store.removeSnapshot('A');
    await expect(store.statSnapshot('A')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
  });

  it('labels: Update by field mask (labels, labels.KEY) or all; name, kind and parent are not updatable', async () => {
    const { store } = await fresh();
    await store.prepareSnapshot('k', undefined, { keep: '1', drop: '2' });
    expect((await store.updateSnapshot({ name: 'k', labels: { add: '3' } }, ['labels.add', 'labels.drop'])).labels).toEqual({ keep: '1', add: '3' });
    expect((await store.updateSnapshot({ name: 'k', labels: { only: 'x' } })).labels).toEqual({ only: 'x' });
    await expect(store.updateSnapshot({ name: 'k', labels: {} }, ['parent'])).rejects.toMatchObject({ code: 'ERR_OVERLAY_SPEC' });
  });

  it('the store keeps snapshot directories when reopened; Cleanup (recover) removes a directory no record names and a half-done commit', async () => {
    const { store, root } = await fresh();
    await store.prepareSnapshot('s1');
    await store.commitSnapshot('S1', 's1');
    await store.prepareSnapshot('s2', 'S1');
    const dirs = () => readdirSync(join(root, 'overlay')).filter((n) => n !== 'l').sort();
    const before = dirs();
    expect(before).toHaveLength(2);
    const again = await openStore({ root });
    expect(again.recovery.removed).toEqual([]);
    expect(dirs()).toEqual(before);
    // A Prepare killed after its directory, before its record:
    mkdirSync(join(root, 'overlay', 'f'.repeat(64), 'diff'), { recursive: true });
    // A Commit killed between its two writes: the active record of a committed directory.
    const committed = JSON.parse(readFileSync(join(root, 'snapshots', readdirSync(join(root, 'snapshots')).find((n) => readFileSync(join(root, 'snapshots', n), 'utf8').includes('"S1"'))!), 'utf8'));
    const { createHash } = await import('node:crypto');
    writeFileSync(join(root, 'snapshots', `${createHash('sha256').update('s1').digest('hex')}.json`), JSON.stringify({ ...committed, key: 's1', kind: 'active' }));
    const rec = await again.recover();
    expect(rec.ran).toBe(true);
    expect(rec.removed).toContain(join(root, 'overlay', 'f'.repeat(64)));
    expect(dirs()).toEqual(before);
    await expect(again.statSnapshot('s1')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    expect((await again.statSnapshot('S1')).kind).toBe('committed');
  });

  it('500 layers (the kernel\'s most): the options pass a page with absolute paths and fit it relative to l/, as containerd mounts them', async () => {
    const { store, t } = await fresh();
    let parent: string | undefined;
    const mnt = join(t, 'mnt');
    for (let i = 0; i < 500; i++) {
      const m = (await store.prepareSnapshot(`x${i}`, parent)) as M[];
      const upper = m[0]!.type === 'bind' ? m[0]!.source : m[0]!.options.find((o) => o.startsWith('upperdir='))!.slice('upperdir='.length);
      writeFileSync(join(upper, `f${i}`), String(i));
      await store.commitSnapshot(`L${i}`, `x${i}`);
      parent = `L${i}`;
    }
    const top = (await store.prepareSnapshot('top', parent)) as M[];
    const length = top[0]!.options.join(',').length;
    expect(length).toBeGreaterThan(4096);
    mountAll(top, mnt);
    expect(readFileSync(join(mnt, 'f0'), 'utf8')).toBe('0');
    expect(readFileSync(join(mnt, 'f499'), 'utf8')).toBe('499');
    expect(readdirSync(mnt)).toHaveLength(500);
    umount(mnt);
    expect(existsSync(join(mnt, 'f0'))).toBe(false);
  }, 120_000);
});
