/**
 * Containers of the store in user namespaces (createContainer's `userns`): the image's layers are
 * mounted idmapped, one copy for every container; the writable layer holds the host's ids and
 * commit gives the container's back; 'auto' picks ranges from subordinate id files as podman does.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { MNT, openStore, OverlaySpecError, sys, type Store } from '../../src/index.js';
import { writeOciLayout } from '../../src/oci/image/write.js';
import { ovl } from '../helpers/cli.js';
import { describeWithKernel } from '../helpers/privileged.js';
import { mountsUnder, tempDir, writeTree } from '../helpers/tmp.js';

let stores: string[] = [];
afterEach(() => {
  const left = stores.flatMap((r) => mountsUnder(r));
  for (const m of [...left].reverse()) sys.umount2Sync(m, { flags: MNT.DETACH });
  stores = [];
  expect(left).toEqual([]);
});

/** A layer tar whose files keep their owners: /etc/passwd 0:0, /home/user/file 1000:1000. */
function ownedLayer(): Buffer {
  const dir = writeTree(join(tempDir('ovl-layer-'), 'root'), { 'etc/passwd': 'root\n', 'home/user/file': 'user\n' });
  chownSync(join(dir, 'home/user'), 1000, 1000);
  chownSync(join(dir, 'home/user/file'), 1000, 1000);
  return execFileSync('tar', ['--sort=name', '--numeric-owner', '--mtime=@0', '--format=pax', '-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 26 });
}

async function setup(): Promise<{ store: Store; root: string; t: string }> {
  const t = tempDir('ovl-store-');
  // mkdtemp makes it 0700: the containers' ids must reach their merged dirs.
  chmodSync(t, 0o755);
  const layout = join(t, 'layout');
  await writeOciLayout(layout, { ref: 'img', layers: [{ data: ownedLayer() }] });
  const root = join(t, 'store');
  stores.push(root);
  const store = await openStore({ root });
  await store.importImage(layout, { ref: 'img', tag: 'img' });
  return { store, root, t };
}

const owner = (p: string): [number, number] => [lstatSync(p).uid, lstatSync(p).gid];
const MAP = (outside: number) => ({ uid: [{ inside: 0, outside, count: 65536 }], gid: [{ inside: 0, outside, count: 65536 }] });

describeWithKernel('layersByFd', 'store containers in user namespaces', () => {
  it('two containers of one image in different ranges: their own ids over one copy of the layers; writes land with host ids; commit gives the container ids back', async () => {
    const { store } = await setup();
    const a = await store.createContainer('img', { name: 'a', userns: MAP(100000) });
    const b = await store.createContainer('img', { name: 'b', userns: MAP(200000) });
    const ma = await store.mountContainer('a');
    const mb = await store.mountContainer('b');
    try {
      expect(owner(join(ma.merged, 'home/user/file'))).toEqual([101000, 101000]);
      expect(owner(join(mb.merged, 'home/user/file'))).toEqual([201000, 201000]);
      // The container's root owns its / (the writable layer's root), so it can write there.
      expect(owner(ma.merged)).toEqual([100000, 100000]);
      expect(lstatSync(join(ma.merged, 'etc/passwd')).ino).toBe(lstatSync(join(mb.merged, 'etc/passwd')).ino);
      // As the container would (from inside its root: the store's own dirs are not its to cross).
      const w = spawnSync('sh', ['-c', 'echo hello > hello && echo more >> etc/passwd'], { cwd: ma.merged, uid: 100000, gid: 100000, encoding: 'utf8' });
      expect(w.status, w.stderr).toBe(0);
      const inspect = await store.inspectContainer('a');
      const upper = (inspect.GraphDriver as { Data: { UpperDir: string } }).Data.UpperDir;
      expect(owner(join(upper, 'hello'))).toEqual([100000, 100000]);
      expect(owner(join(upper, 'etc/passwd'))).toEqual([100000, 100000]);
      expect(inspect.HostConfig).toEqual({ IDMappings: { UidMap: ['0:100000:65536'], GidMap: ['0:100000:65536'] } });
      expect((await store.diff('a')).map((c) => `${c.kind} ${c.path}`)).toEqual(['C /etc', 'C /etc/passwd', 'A /hello']);
    } finally {
      await store.unmountContainer('a');
      await store.unmountContainer('b');
    }
    const committed = await store.commit('a', { ref: 'img2' });
    // A plain container of the commit: the layer has the container's ids, not the host's.
    await store.createContainer(committed.id, { name: 'plain' });
    const mp = await store.mountContainer('plain');
    try {
      expect(owner(join(mp.merged, 'hello'))).toEqual([0, 0]);
      expect(owner(join(mp.merged, 'etc/passwd'))).toEqual([0, 0]);
      expect(readFileSync(join(mp.merged, 'etc/passwd'), 'utf8')).toBe('root\nmore\n');
      expect(owner(join(mp.merged, 'home/user/file'))).toEqual([1000, 1000]);
    } finally {
      await store.unmountContainer('plain');
    }
    for (const n of ['a', 'b', 'plain']) await store.removeContainer(n);
    expect([a.id, b.id].length).toBe(2);
  });

  it("'auto' takes 65536 ids of the grants to 'containers', a range no other container has; refuses when none is left or none is granted", async () => {
    const { store, t } = await setup();
    const files = { uid: join(t, 'subuid'), gid: join(t, 'subgid') };
    writeFileSync(files.uid, 'someone:100000:65536\ncontainers:200000:131072\n');
    writeFileSync(files.gid, 'containers:300000:131072\n');
    await store.createContainer('img', { name: 'one', userns: 'auto', subordinateIds: files });
    await store.createContainer('img', { name: 'two', userns: 'auto', subordinateIds: files });
    const map = async (n: string) => ((await store.inspectContainer(n)).HostConfig as { IDMappings: unknown }).IDMappings;
    expect(await map('one')).toEqual({ UidMap: ['0:200000:65536'], GidMap: ['0:300000:65536'] });
    expect(await map('two')).toEqual({ UidMap: ['0:265536:65536'], GidMap: ['0:365536:65536'] });
    const full = await store.createContainer('img', { name: 'three', userns: 'auto', subordinateIds: files }).catch((e: unknown) => e);
    expect(full).toBeInstanceOf(OverlaySpecError);
    expect((full as OverlaySpecError).problems).toEqual([{ field: 'userns', problem: `no 65536 uids are left in what ${files.uid} grants 'containers': every range is another container's` }]);
    // Freed by a removal.
    await store.removeContainer('one');
    await store.createContainer('img', { name: 'three', userns: 'auto', subordinateIds: files });
    expect(await map('three')).toEqual({ UidMap: ['0:200000:65536'], GidMap: ['0:300000:65536'] });
    writeFileSync(files.uid, 'someone:1:2\n');
    const none = await store.createContainer('img', { name: 'four', userns: 'auto', subordinateIds: files }).catch((e: unknown) => e);
    expect((none as OverlaySpecError).problems[0]!.problem).toContain(`grants the user 'containers' (as podman does), and it grants none`);
    // Nothing half-made: no record of 'four'.
    expect((await store.containers()).map((c) => c.name).sort()).toEqual(['three', 'two']);
  });

  it('ovl container create --userns-map, and --userns with anything but auto is a usage error', async () => {
    const { root } = await setup();
    const r = ovl(['container', 'create', '--root', root, '--name', 'c', '--userns-map', '0:400000:65536', 'img']);
    expect(r.status, r.stderr).toBe(0);
    const m = ovl(['container', 'mount', '--root', root, 'c']);
    expect(m.status, m.stderr).toBe(0);
    try {
      expect(owner(join(m.stdout.trim(), 'home/user/file'))).toEqual([401000, 401000]);
    } finally {
      expect(ovl(['container', 'umount', '--root', root, 'c']).status).toBe(0);
    }
    const bad = ovl(['container', 'create', '--root', root, '--userns', 'host', 'img']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("--userns takes 'auto'");
  });
});
