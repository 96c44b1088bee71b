/**
 * The layer store, through the library: images imported from layouts the tests write (layers
 * shared, applied once, counted once), containers mounted and compared with what their layers
 * give, commit and a container of the committed image, volumes and tmpfs beside the rootfs
 * mounted and unmounted in order, a 200-layer image, the recovery at open, and the refusals.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MNT, openStore, readMountInfoSync, sys, type Store } from '../../src/index.js';
import { writeOciLayout } from '../../src/oci/image/write.js';
import { layerTar } from '../helpers/images.js';
import { walkView } from '../helpers/merged.js';
import { describePrivileged } from '../helpers/privileged.js';
import { mountsUnder, tempDir } from '../helpers/tmp.js';

const BASE = { 'etc/os-release': 'ID=base\n', 'bin/sh': '#!sh\n', 'usr/share/doc/readme': 'base docs\n' };
const APP = { 'app/server.py': 'print("serving")\n', 'etc/app.conf': 'port=80\n' };
const TOOLS = { 'usr/bin/tool': 'tool\n', 'usr/share/doc/.wh.readme': '' };

let stores: string[] = [];

// One tar per tree (GNU tar's pax headers carry times, so two runs differ): a layer shared by two images is the same bytes.
const tars = new Map<string, Buffer>();
function tarOf(files: Record<string, string>): Buffer {
  const key = JSON.stringify(files);
  if (!tars.has(key)) tars.set(key, layerTar(files));
  return tars.get(key)!;
}

/** A store in a fresh temp dir, and an OCI layout with the images given. */
async function setup(images: Array<{ ref: string; layers: Array<Record<string, string>>; createdBy?: string[] }>): Promise<{ store: Store; layout: string; root: string }> {
  const t = tempDir('ovl-store-');
  const layout = join(t, 'layout');
  for (const img of images) {
    await writeOciLayout(layout, {
      ref: img.ref,
      layers: img.layers.map((files, i) => ({ data: tarOf(files), ...(img.createdBy ? { createdBy: img.createdBy[i]! } : {}) })),
    });
  }
  const root = join(t, 'store');
  stores.push(root);
  return { store: await openStore({ root }), layout, root };
}

/** path → content of the regular files under `dir`. */
function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [path, seen] of walkView(dir)) if (seen.type === 'file') out[path] = readFileSync(join(dir, path), 'utf8');
  return out;
}

const slash = (tree: Record<string, string>) => Object.fromEntries(Object.entries(tree).map(([k, v]) => [`/${k}`, v]));

afterEach(() => {
  // Whatever a failed test left mounted goes, and the test says so.
  const left = stores.flatMap((r) => mountsUnder(r));
  for (const m of [...left].reverse()) sys.umount2Sync(m, { flags: MNT.DETACH });
  stores = [];
  expect(left).toEqual([]);
});

describePrivileged('layer store', () => {
  it('two images on one base: the base is applied once, kept once, counted once; the overlay2 layout on disk', async () => {
    const { store, layout, root } = await setup([
      { ref: 'app', layers: [BASE, APP], createdBy: ['ADD base', 'COPY app'] },
      { ref: 'tools', layers: [BASE, TOOLS] },
    ]);
    const [one] = await store.importImage(layout, { ref: 'app', tag: 'app:1' });
    const [two] = await store.importImage(layout, { ref: 'tools', tag: 'tools' });
    expect(one!.layers.map((l) => l.applied)).toEqual([true, true]);
    expect(two!.layers.map((l) => l.applied)).toEqual([false, true]);
    expect(two!.layers[0]!.chainId).toBe(one!.layers[0]!.chainId);
    expect(one!.refs).toEqual(['app:1']);
    expect(two!.refs).toEqual(['tools:latest']);

    // overlay/: three layer dirs; l/: three short links to their diffs; lower files top first.
    const dirs = readdirSync(join(root, 'overlay')).filter((n) => n !== 'l');
    expect(dirs).toHaveLength(3);
    const links = readdirSync(join(root, 'overlay', 'l'));
    expect(links).toHaveLength(3);
    for (const l of links) {
      expect(l).toMatch(/^[A-Z0-9]{26}$/);
      const target = readlinkSync(join(root, 'overlay', 'l', l));
      expect(target).toMatch(/^\.\.\/[0-9a-f]{64}\/diff$/);
      expect(readFileSync(join(root, 'overlay', target.split('/')[1]!, 'link'), 'utf8')).toBe(l);
    }
    const base = JSON.parse(readFileSync(join(root, 'layerdb', 'sha256', `${one!.layers[0]!.chainId.slice(7)}.json`), 'utf8'));
    const app = JSON.parse(readFileSync(join(root, 'layerdb', 'sha256', `${one!.layers[1]!.chainId.slice(7)}.json`), 'utf8'));
    expect(app.parent).toBe(base.chainId);
    expect(readFileSync(join(root, 'overlay', app.cacheId, 'lower'), 'utf8')).toBe(`l/${base.link}`);
    expect(existsSync(join(root, 'overlay', base.cacheId, 'lower'))).toBe(false);
    expect(files(join(root, 'overlay', base.cacheId, 'diff'))).toEqual(slash(BASE));

    // Sizes: the base's bytes are shared by both images and counted once by df.
    const baseSize = Object.values(BASE).join('').length;
    const appSize = Object.values(APP).join('').length;
    const toolsSize = Object.values(TOOLS).join('').length;
    const images = await store.images();
    const byRef = new Map(images.map((i) => [i.refs[0], i]));
    expect(byRef.get('app:1')).toMatchObject({ size: baseSize + appSize, sharedSize: baseSize, uniqueSize: appSize, layers: 2, containers: 0 });
    expect(byRef.get('tools:latest')).toMatchObject({ size: baseSize + toolsSize, sharedSize: baseSize, uniqueSize: toolsSize });
    const df = await store.df();
    expect(df.images).toMatchObject({ total: 2, active: 0, size: baseSize + appSize + toolsSize, reclaimable: baseSize + appSize + toolsSize });
    expect((await store.df({ verify: true })).mismatches).toEqual([]);

    // docker history: newest first, the top entry with the image id, each with its layer's size.
    const history = await store.history('app:1');
    expect(history.map((h) => [h.id, h.createdBy, h.size])).toEqual([
      [one!.id, 'COPY app', appSize],
      ['<missing>', 'ADD base', baseSize],
    ]);

    // Importing again applies nothing; a tag moves; rm of one image leaves the shared base.
    const [again] = await store.importImage(layout, { ref: 'app' });
    expect(again!.layers.map((l) => l.applied)).toEqual([false, false]);
    expect(await store.tag('app:1', 'app:stable')).toEqual(['app:1', 'app:stable']);
    expect(await store.removeImage('app:stable')).toEqual({ untagged: ['app:stable'], deleted: [], reclaimed: 0 });
    const removed = await store.removeImage('tools');
    expect(removed.untagged).toEqual(['tools:latest']);
    expect(removed.deleted).toEqual([two!.id, two!.layers[1]!.chainId]);
    expect(removed.reclaimed).toBe(toolsSize);
    expect(readdirSync(join(root, 'overlay')).filter((n) => n !== 'l')).toHaveLength(2);
    expect(readdirSync(join(root, 'overlay', 'l'))).toHaveLength(2);
  });

  it('a container: mounted over its image, changed, diffed, committed; a container of the commit sees the change', async () => {
    const { store, layout } = await setup([{ ref: 'app', layers: [BASE, APP, TOOLS] }]);
    await store.importImage(layout, { tag: 'app' });
    const c = await store.createContainer('app', { name: 'web' });
    expect(c).toMatchObject({ name: 'web', imageName: 'app:latest', mounted: false });
    const m = await store.mountContainer('web');
    expect(m.already).toBe(false);
    expect(['fd', 'lowerdir+', 'legacy']).toContain(m.strategy);
    const expected = slash({ ...BASE, ...APP, 'usr/bin/tool': 'tool\n' });
    delete expected['/usr/share/doc/readme'];
    expect(files(m.merged)).toEqual(expected);
    expect((await store.mountContainer('web')).already).toBe(true);
    expect((await store.containers()).map((x) => [x.name, x.mounted])).toEqual([['web', true]]);

    writeFileSync(join(m.merged, 'app', 'server.py'), 'print("v2")\n');
    rmSync(join(m.merged, 'etc', 'os-release'));
    mkdirSync(join(m.merged, 'var', 'log'), { recursive: true });
    writeFileSync(join(m.merged, 'var', 'log', 'app.log'), 'started\n');
    expect((await store.diff('web')).map((ch) => `${ch.kind} ${ch.path}`)).toEqual([
      'C /app',
      'C /app/server.py',
      'C /etc',
      'D /etc/os-release',
      'A /var',
      'A /var/log',
      'A /var/log/app.log',
    ]);
    const inspect = await store.inspectContainer('web');
    expect(inspect).toMatchObject({ Name: '/web', State: { Mounted: true }, GraphDriver: { Name: 'overlay2' } });
    expect(((inspect.GraphDriver as { Data: { LowerDir: string } }).Data.LowerDir.split(':'))).toHaveLength(3);

    expect(await store.unmountContainer('web')).toBe(true);
    expect(await store.unmountContainer('web')).toBe(false);
    const committed = await store.commit('web', { ref: 'app:v2', message: 'bump' });
    expect(committed.refs).toEqual(['app:v2']);
    const history = await store.history('app:v2');
    expect(history[0]).toMatchObject({ id: committed.id, createdBy: 'ovl container commit web', comment: 'bump' });
    expect(history).toHaveLength(4);

    await store.createContainer('app:v2', { name: 'web2' });
    const m2 = await store.mountContainer('web2');
    const after: Record<string, string> = { ...expected, '/app/server.py': 'print("v2")\n', '/var/log/app.log': 'started\n' };
    delete after['/etc/os-release'];
    expect(files(m2.merged)).toEqual(after);
    expect(await store.diff('web2')).toEqual([]);
    await store.removeContainer('web2', { force: true });
    expect(readMountInfoSync().some((x) => x.mountPoint === m2.merged)).toBe(false);

    // The image is in use: rm refuses; forced, the image goes but its layers stay for the container.
    await expect(store.removeImage('app')).rejects.toMatchObject({ code: 'ERR_CONFLICT', message: expect.stringMatching(/container [0-9a-f]{12} \(web\) is using it/) });
    await store.removeImage('app:v2');
    const forced = await store.removeImage('app', { force: true });
    expect(forced.deleted).toHaveLength(1);
    const m3 = await store.mountContainer('web');
    expect(files(m3.merged)).toEqual(after);
    await store.unmountContainer('web');
    const pruned = await store.prune();
    expect(pruned.containers).toEqual(['web']);
    expect(pruned.layers).toHaveLength(3);
    expect(await store.images()).toEqual([]);
  });

  it('save rebuilds every layer byte for byte: a committed image, saved and imported into another store, has the same id and content', async () => {
    const { store, layout } = await setup([{ ref: 'app', layers: [BASE, APP] }]);
    const [img] = await store.importImage(layout, { tag: 'app' });
    await store.createContainer('app', { name: 'c' });
    const m = await store.mountContainer('c');
    writeFileSync(join(m.merged, 'etc', 'app.conf'), 'port=8080\n');
    rmSync(join(m.merged, 'bin'), { recursive: true });
    await store.unmountContainer('c');
    const committed = await store.commit('c', { ref: 'app:2' });

    const out = join(tempDir('ovl-saved-'), 'layout');
    const saved = await store.saveImage('app:2', out);
    expect(saved).toMatchObject({ id: committed.id, ref: 'app:2' });
    expect(saved.layers.map((l) => l.diffId)).toEqual([...img!.layers.map((l) => l.diffId), committed.layer.diffId]);
    const gz = await store.saveImage('app', out, { compression: 'gzip' });
    expect(gz.id).toBe(img!.id);

    const other = await openStore({ root: join(tempDir('ovl-store-'), 'store') });
    stores.push(other.root);
    const [again] = await other.importImage(out, { ref: '2' });
    expect(again).toMatchObject({ id: committed.id, refs: ['app:2'] });
    const [first] = await other.importImage(out, { ref: 'latest' });
    expect(first!.id).toBe(img!.id);
    expect(first!.layers.map((l) => l.applied)).toEqual([false, false]);
    await other.createContainer('app:2', { name: 'c' });
    const m2 = await other.mountContainer('c');
    const want = slash({ ...BASE, ...APP, 'etc/app.conf': 'port=8080\n' });
    delete want['/bin/sh'];
    expect(files(m2.merged)).toEqual(want);
    await other.unmountContainer('c');
  });

  it('volumes and tmpfs beside the rootfs: mounted after the overlay, parents first, unmounted before it; read-only stays so', async () => {
    const { store, layout, root } = await setup([{ ref: 'app', layers: [BASE] }]);
    await store.importImage(layout, { tag: 'app' });
    const host = tempDir('ovl-host-');
    writeFileSync(join(host, 'shared.txt'), 'from the host\n');
    await store.createContainer('app', { name: 'c', volumes: ['data:/var/lib/data', `${host}:/mnt/host:ro`], tmpfs: ['/tmp:size=1m,mode=1777', '/usr/share/cache'] });
    const m = await store.mountContainer('c');
    // The image's /usr/share keeps its own mode and times over the init layer's copy (made to reach /usr/share/cache).
    expect([lstatSync(join(m.merged, 'usr/share')).mtimeMs, lstatSync(join(m.merged, 'usr/share')).mode & 0o7777]).toEqual([0, 0o755]);
    const table = readMountInfoSync();
    const under = table.filter((x) => x.mountPoint === m.merged || x.mountPoint.startsWith(`${m.merged}/`));
    // Parents first (by depth, as docker sorts them), in the order given among equals.
    expect(under.map((x) => x.mountPoint.slice(m.merged.length) || '/')).toEqual(['/', '/tmp', '/mnt/host', '/var/lib/data', '/usr/share/cache']);
    expect([under[0]!.fsType, under[1]!.fsType, under[4]!.fsType]).toEqual(['overlay', 'tmpfs', 'tmpfs']);
    writeFileSync(join(m.merged, 'var/lib/data/kept'), 'volume data\n');
    expect(readFileSync(join(m.merged, 'mnt/host/shared.txt'), 'utf8')).toBe('from the host\n');
    expect(() => writeFileSync(join(m.merged, 'mnt/host/x'), 'x')).toThrow(expect.objectContaining({ code: 'EROFS' }));
    expect(lstatSync(join(m.merged, 'tmp')).mode & 0o7777).toBe(0o1777);
    expect((await store.volumes()).map((v) => v.Name)).toEqual(['data']);
    await expect(store.removeVolume('data')).rejects.toMatchObject({ code: 'ERR_CONFLICT', message: 'remove data: volume is in use - [c]' });
    await expect(store.removeVolume('data', { force: true })).rejects.toMatchObject({ code: 'ERR_CONFLICT', message: 'remove data: volume is in use by mounted container [c]' });
    const df = await store.df();
    expect(df.volumes).toMatchObject({ total: 1, active: 1, size: 'volume data\n'.length });
    expect(df.containers).toMatchObject({ total: 1, active: 1 });

    // The mount points are in the container's init layer: no change of its own.
    expect(await store.diff('c')).toEqual([]);
    await store.unmountContainer('c');
    expect(mountsUnder(root)).toEqual([]);
    await store.removeContainer('c');
    expect(readFileSync(join(root, 'volumes', 'data', '_data', 'kept'), 'utf8')).toBe('volume data\n');
    await store.removeVolume('data');
    expect(await store.volumes()).toEqual([]);
  });

  it('a volume is not mounted through a symlink of the image (that would be outside the container); nothing stays mounted', async () => {
    const t = tempDir('ovl-store-');
    const tree = join(t, 'tree');
    mkdirSync(tree);
    symlinkSync('/etc', join(tree, 'escape'));
    const { execFileSync } = await import('node:child_process');
    const tar = execFileSync('tar', ['--owner=0', '--group=0', '-C', tree, '-cf', '-', '.']);
    const layout = join(t, 'layout');
    await writeOciLayout(layout, { layers: [{ data: layerTar(BASE) }, { data: tar }] });
    const root = join(t, 'store');
    stores.push(root);
    const store = await openStore({ root });
    await store.importImage(layout, { tag: 'x' });
    await expect(store.createContainer('x', { name: 'c', volumes: ['v:/escape/data'] })).rejects.toMatchObject({
      code: 'ERR_LAYER_UNSAFE',
      message: "cannot mount at '/escape/data': '/escape' is a symlink in the image",
    });
    expect(await store.containers()).toEqual([]);
    // Nor through one the container made itself, after it was created.
    await store.createContainer('x', { name: 'c', volumes: ['v:/later/data'] });
    const m = await store.mountContainer('c');
    await store.unmountContainer('c');
    rmSync(join(m.merged, '..', 'init', 'later'), { recursive: true });
    symlinkSync('/etc', join(m.merged, '..', 'diff', 'later'));
    await expect(store.mountContainer('c')).rejects.toMatchObject({ code: 'ERR_LAYER_UNSAFE', message: expect.stringContaining("'/later' is a symlink in the container") });
    expect(mountsUnder(root)).toEqual([]);
    expect(existsSync('/etc/data')).toBe(false);
  });

  it('a 200-layer image (more than moby allows) mounts and reads from every layer', async () => {
    const layers = Array.from({ length: 200 }, (_, i) => ({ [`layers/${String(i).padStart(3, '0')}`]: `layer ${i}\n`, 'top': `${i}\n` }));
    const { store, layout } = await setup([{ ref: 'tall', layers }]);
    const [img] = await store.importImage(layout, { tag: 'tall' });
    expect(img!.layers).toHaveLength(200);
    await store.createContainer('tall', { name: 'tall' });
    const m = await store.mountContainer('tall');
    expect(readdirSync(join(m.merged, 'layers'))).toHaveLength(200);
    expect(readFileSync(join(m.merged, 'layers', '000'), 'utf8')).toBe('layer 0\n');
    expect(readFileSync(join(m.merged, 'top'), 'utf8')).toBe('199\n');
    await store.unmountContainer('tall');
  });

  it('opening the store removes what a crash left and repairs the short links', async () => {
    const { store, layout, root } = await setup([{ ref: 'app', layers: [BASE, APP] }]);
    const [img] = await store.importImage(layout, { tag: 'app' });
    const top = JSON.parse(readFileSync(join(root, 'layerdb', 'sha256', `${img!.layers[1]!.chainId.slice(7)}.json`), 'utf8'));
    // An import that died mid-apply (a layer dir no record names), a temp record, a lost and a
    // stray short link, a damaged lower file, a layer nothing uses, a half-made volume.
    const orphan = join(root, 'overlay', 'f'.repeat(64));
    mkdirSync(join(orphan, 'diff'), { recursive: true });
    writeFileSync(join(root, 'layerdb', 'sha256', `.${'a'.repeat(64)}.json.tmp-123-abcd`), '{');
    rmSync(join(root, 'overlay', 'l', top.link));
    symlinkSync('../nowhere/diff', join(root, 'overlay', 'l', 'Z'.repeat(26)));
    writeFileSync(join(root, 'overlay', top.cacheId, 'lower'), 'l/WRONG');
    mkdirSync(join(root, 'volumes', '.new-0123abcd', '_data'), { recursive: true });
    const strayRecordless = join(root, 'layerdb', 'sha256', `${'b'.repeat(64)}.tar-split.gz`);
    writeFileSync(strayRecordless, '');
    const again = await openStore({ root });
    expect(again.recovery.ran).toBe(true);
    expect(again.recovery.removed).toEqual(
      expect.arrayContaining([orphan, join(root, 'overlay', 'l', 'Z'.repeat(26)), join(root, 'volumes', '.new-0123abcd'), strayRecordless]),
    );
    expect(again.recovery.repaired).toEqual(expect.arrayContaining([join(root, 'overlay', 'l', top.link), join(root, 'overlay', top.cacheId, 'lower')]));
    expect(existsSync(orphan)).toBe(false);
    expect(readlinkSync(join(root, 'overlay', 'l', top.link))).toBe(`../${top.cacheId}/diff`);
    expect(readdirSync(join(root, 'layerdb', 'sha256')).sort()).toEqual(
      img!.layers.flatMap((l) => [`${l.chainId.slice(7)}.json`, `${l.chainId.slice(7)}.tar-split.gz`]).sort(),
    );
    // Nothing a complete image needs went: it mounts and reads back.
    await again.createContainer('app', { name: 'c' });
    const m = await again.mountContainer('c');
    expect(files(m.merged)).toEqual(slash({ ...BASE, ...APP }));
    await again.unmountContainer('c');
    const clean = await openStore({ root });
    expect(clean.recovery).toEqual({ ran: true, removed: [], repaired: [], inUse: [] });
  });

  it('docker rmi rules: a tag with others only untags, forced or not; an id tagged in several repositories needs force', async () => {
    const { store, layout } = await setup([{ ref: 'app', layers: [BASE] }]);
    const [img] = await store.importImage(layout, { tag: 'app:1' });
    await store.tag('app:1', 'app:keep');
    expect(await store.removeImage('app:1', { force: true })).toEqual({ untagged: ['app:1'], deleted: [], reclaimed: 0 });
    await store.tag('app:keep', 'other:1');
    await expect(store.removeImage(img!.id.slice(7, 19))).rejects.toMatchObject({ code: 'ERR_CONFLICT', message: expect.stringContaining('referenced in multiple repositories') });
    const forced = await store.removeImage(img!.id, { force: true });
    expect(forced.untagged).toEqual(['app:keep', 'other:1']);
    expect(forced.deleted[0]).toBe(img!.id);
    // Docker Hub's long names are the short ones.
    await store.importImage(layout, { tag: 'docker.io/library/app:2' });
    expect((await store.images())[0]!.refs).toEqual(['app:2']);
    expect((await store.image('library/app:2')).refs).toEqual(['app:2']);
  });

  it('mounts go parents first; a half-made mount is completed; a store reached through a symlink still knows what is mounted', async () => {
    const t = tempDir('ovl-store-');
    const real = join(t, 'real');
    mkdirSync(real);
    symlinkSync(real, join(t, 'link'));
    const layout = join(t, 'layout');
    await writeOciLayout(layout, { layers: [{ data: tarOf(BASE) }] });
    stores.push(real);
    const store = await openStore({ root: join(t, 'link') });
    expect(store.root).toBe(real);
    await store.importImage(layout, { tag: 'app' });
    await store.createContainer('app', { name: 'c', volumes: ['logs:/scratch/logs'], tmpfs: ['/scratch'] });
    const m = await store.mountContainer('c');
    writeFileSync(join(m.merged, 'scratch/logs/x'), 'kept\n');
    expect(readFileSync(join(real, 'volumes/logs/_data/x'), 'utf8')).toBe('kept\n');
    expect((await store.containers())[0]!.mounted).toBe(true);
    expect((await store.df()).containers.active).toBe(1);
    // The volume unmounted behind the store's back (an unmount that died half-way): mounting again completes it.
    sys.umount2Sync(join(m.merged, 'scratch/logs'));
    const again = await store.mountContainer('c');
    expect(again.already).toBe(false);
    expect(readFileSync(join(m.merged, 'scratch/logs/x'), 'utf8')).toBe('kept\n');
    expect((await store.mountContainer('c')).already).toBe(true);
    // A container whose record went while it was mounted: the recovery leaves its dir alone and says so.
    const dir = join(m.merged, '..');
    rmSync(join(real, 'containers', `${(await store.containers())[0]!.id}.json`));
    const reopened = await openStore({ root: real });
    expect(reopened.recovery.inUse).toEqual([dir]);
    expect(existsSync(join(dir, 'diff'))).toBe(true);
    sys.umount2Sync(join(m.merged, 'scratch/logs'));
    sys.umount2Sync(join(m.merged, 'scratch'));
    sys.umount2Sync(m.merged);
    expect((await openStore({ root: real })).recovery.removed).toContain(dir);
  });

  it('refusals name the problem: unknown image or container, bad references, bad volume specs, a taken name', async () => {
    const { store, layout } = await setup([{ ref: 'app', layers: [BASE] }]);
    await store.importImage(layout, { tag: 'app' });
    await expect(store.createContainer('nope')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', message: 'No such image: nope' });
    await expect(store.mountContainer('nope')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', message: 'No such container: nope' });
    await expect(store.tag('app', 'Bad:Name')).rejects.toMatchObject({ code: 'ERR_OVERLAY_SPEC', problems: [{ field: 'tag', problem: expect.stringContaining("'Bad:Name'") }] });
    await expect(store.createContainer('app', { volumes: ['data'], tmpfs: ['relative'] })).rejects.toMatchObject({
      code: 'ERR_OVERLAY_SPEC',
      problems: [
        { field: 'volumes[0]', problem: "'data' is not SOURCE:/path[:ro|rw]" },
        { field: 'tmpfs[0]', problem: "the destination 'relative' must be an absolute path in the container" },
      ],
    });
    await store.createContainer('app', { name: 'one' });
    await expect(store.createContainer('app', { name: 'one' })).rejects.toMatchObject({ code: 'ERR_CONFLICT', message: 'Conflict. The container name "/one" is already in use' });
    // The refused create left no layer dir behind.
    expect((await store.containers()).map((c) => c.name)).toEqual(['one']);
    await expect(store.importImage(layout, { ref: 'missing' })).rejects.toMatchObject({ code: 'ERR_IMAGE' });
  });
});
