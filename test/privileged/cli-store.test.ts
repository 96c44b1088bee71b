/**
 * The store's commands as a user runs them (ovl image import/ls/history/tag/rm, container,
 * volume, system): docker's words, columns and exit codes, --json, --root and OVL_ROOT, and
 * real mounts (a container with a volume, a bind and a tmpfs, all gone after umount).
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { writeOciLayout, type WrittenImage } from '../../src/oci/image/write.js';
import { ovl, ovlOk, rawMountAt, type OvlResult } from '../helpers/cli.js';
import { layerTar } from '../helpers/images.js';
import { describePrivileged } from '../helpers/privileged.js';
import { mountsUnder, tempDir, writeTree } from '../helpers/tmp.js';

const short = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 12);
const HOURS_AGO = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();
/** A created_by longer than docker history's 45 columns. */
const LONG_STEP = 'COPY app /app && a step that is longer than docker history shows';

interface Images {
  layout: string;
  base: WrittenImage;
  app: WrittenImage;
}

/**
 * An OCI layout with base:1 (one layer: 12,353 bytes of files) and app:1 (base's layer and
 * one of 4 bytes), base made two hours ago.
 */
async function images(): Promise<Images> {
  const layout = tempDir('ovl-store-layout-');
  const baseTar = layerTar({ 'etc/os-release': 'ID=test\n', 'bin/big': 'x'.repeat(12_345), 'etc/keep': '' });
  const appTar = layerTar({ 'app/main': 'main' });
  const created = HOURS_AGO(2);
  const base = await writeOciLayout(layout, {
    layers: [{ data: baseTar }],
    ref: 'base:1',
    config: { created, history: [{ created, created_by: 'ADD rootfs /' }] },
  });
  const app = await writeOciLayout(layout, { layers: [{ data: baseTar, createdBy: 'ADD rootfs /' }, { data: appTar, createdBy: LONG_STEP }], ref: 'app:1' });
  return { layout, base, app };
}

let root: string;
/** `ovl ARGS --root ROOT`, expected to succeed silently on stderr; its stdout. */
const ok = (...args: string[]): string => ovlOk([...args, '--root', root]);
/** `ovl ARGS --root ROOT`, whatever it does. */
const run = (...args: string[]): OvlResult => ovl([...args, '--root', root]);
const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

beforeEach(() => {
  root = join(tempDir('ovl-store-'), 'store');
});

afterEach(() => {
  // Each test unmounts what it mounted (ovl container umount or rm -f); nothing is left.
  expect(mountsUnder(root)).toEqual([]);
});

describePrivileged('ovl image (the store)', () => {
  it('import: docker load\'s lines; a second image on the same base says its layer already exists; the layer is kept once', async () => {
    const { layout, base, app } = await images();
    const first = ok('image', 'import', `${layout}:base:1`);
    expect(lines(first)).toEqual([`${short(base.layers[0]!.digest)}: Load complete`, 'Loaded image: base:1']);
    const second = ok('image', 'import', `${layout}:app:1`);
    expect(lines(second)).toEqual([`${short(app.layers[0]!.digest)}: Already exists`, `${short(app.layers[1]!.digest)}: Load complete`, 'Loaded image: app:1']);
    expect(readdirSync(join(root, 'layerdb/sha256')).filter((n) => n.endsWith('.json'))).toHaveLength(2);
    expect(readdirSync(join(root, 'imagedb/sha256'))).toHaveLength(2);

    // Again, tagged: nothing is applied; --json is the ImportedImage[].
    const again = JSON.parse(ok('image', 'import', `${layout}:app:1`, '--tag', 'other/app:2', '--json'));
    expect(again).toHaveLength(1);
    expect(again[0].id).toBe(app.configDigest);
    expect(again[0].refs).toEqual(['app:1', 'other/app:2']);
    expect(again[0].layers.map((l: { applied: boolean }) => l.applied)).toEqual([false, false]);

    // An image whose name in the source is a bare tag is not tagged: docker load's "Loaded image ID".
    const bare = tempDir('ovl-store-bare-');
    const img = await writeOciLayout(bare, { layers: [{ data: layerTar({ f: 'f' }) }], ref: 'latest' });
    expect(lines(ok('image', 'import', bare)).at(-1)).toBe(`Loaded image ID: ${img.configDigest}`);

    // --all: every image of the source.
    const all = JSON.parse(ovlOk(['image', 'import', layout, '--all', '--json', '--root', join(tempDir(), 'other')]));
    expect(all.map((i: { refs: string[] }) => i.refs)).toEqual([['base:1'], ['app:1']]);
  });

  it('save: an OCI layout with each layer rebuilt byte for byte; imported into another store, the same image id', async () => {
    const { layout, app } = await images();
    ok('image', 'import', `${layout}:app:1`);
    // docker image inspect's shape: the top layer's diff as UpperDir, the one below as LowerDir.
    const [inspected] = JSON.parse(ok('image', 'inspect', 'app:1'));
    expect(inspected).toMatchObject({ Id: app.configDigest, RepoTags: ['app:1'], RootFS: { Type: 'layers', Layers: app.layers.map((l) => l.diffId) }, GraphDriver: { Name: 'overlay2' } });
    expect(inspected.GraphDriver.Data.UpperDir).toMatch(new RegExp(`^${root}/overlay/[0-9a-f]{64}/diff$`));
    expect(inspected.GraphDriver.Data.LowerDir.split(':')).toHaveLength(1);
    expect(run('image', 'inspect', 'app:1', 'nope')).toMatchObject({ status: 1, stderr: 'Error: No such image: nope\n' });
    const out = join(tempDir('ovl-saved-'), 'layout');
    const saved = JSON.parse(ok('image', 'save', 'app:1', '-o', out, '--gzip', '--json'));
    expect(saved).toMatchObject([{ id: app.configDigest, ref: 'app:1' }]);
    const other = join(tempDir('ovl-store-'), 'store');
    expect(lines(ovlOk(['image', 'import', out, '--root', other])).at(-1)).toBe('Loaded image: app:1');
    expect(ovlOk(['image', 'ls', '-q', '--no-trunc', '--root', other]).trim()).toBe(app.configDigest);
    expect(run('image', 'save', 'app:1')).toMatchObject({ status: 1, stderr: expect.stringContaining('-o DIR is needed') });
  });

  it('ls, history, tag, rm: docker\'s columns and words, and --json', async () => {
    const { layout, base, app } = await images();
    ok('image', 'import', layout, '--all');

    const ls = lines(ok('image', 'ls'));
    expect(ls[0]).toBe('REPOSITORY   TAG       IMAGE ID       CREATED       SIZE');
    expect(ls.slice(1).sort()).toEqual([
      `app          1         ${short(app.configDigest)}   N/A           12.4kB`,
      `base         1         ${short(base.configDigest)}   2 hours ago   12.4kB`,
    ]);
    expect(lines(ok('image', 'ls', '-q')).sort()).toEqual([short(app.configDigest), short(base.configDigest)].sort());
    expect(lines(ok('image', 'ls', '-q', '--no-trunc')).sort()).toEqual([app.configDigest, base.configDigest].sort());
    const listed = JSON.parse(ok('image', 'ls', '--json'));
    const appRow = listed.find((i: { id: string }) => i.id === app.configDigest);
    expect(appRow).toMatchObject({ refs: ['app:1'], size: 12_357, sharedSize: 12_353, uniqueSize: 4, layers: 2, containers: 0 });

    // history: newest first, <missing> below the top, CREATED BY cut at 45 (…).
    const history = lines(ok('image', 'history', 'app:1'));
    expect(history[0]).toMatch(/^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    expect(history[1]).toMatch(new RegExp(`^${short(app.configDigest)}\\s+N/A\\s+${LONG_STEP.slice(0, 44).replaceAll('&', '\\&')}…\\s+4B\\s*$`));
    expect(history[2]).toMatch(/^<missing>\s+N\/A\s+ADD rootfs \/\s+12\.4kB\s*$/);
    expect(lines(ok('image', 'history', 'base:1'))[1]).toMatch(/^\S{12}\s+2 hours ago\s+ADD rootfs/);
    const full = ok('image', 'history', '--no-trunc', 'app:1');
    expect(full).toContain(app.configDigest);
    expect(full).toContain(LONG_STEP);
    const hj = JSON.parse(ok('image', 'history', 'app:1', '--json'));
    expect(hj.map((h: { id: string; size: number }) => [h.id, h.size])).toEqual([
      [app.configDigest, 4],
      ['<missing>', 12_353],
    ]);

    // tag: silent; by name or by id prefix.
    expect(ok('image', 'tag', 'base:1', 'mybase')).toBe('');
    expect(ok('image', 'tag', short(base.configDigest), 'registry.example:5000/team/base:v2')).toBe('');
    expect(ok('image', 'ls')).toMatch(new RegExp(`^mybase\\s+latest\\s+${short(base.configDigest)}\\s`, 'm'));
    expect(ok('image', 'ls')).toMatch(new RegExp(`^registry\\.example:5000/team/base\\s+v2\\s+${short(base.configDigest)}\\s`, 'm'));

    // rm: a tag of an image with others only untags; the last tag deletes the image and its own layer.
    expect(ok('image', 'rm', 'mybase')).toBe('Untagged: mybase:latest\n');
    const removed = lines(ok('image', 'rm', 'app:1'));
    expect(removed[0]).toBe('Untagged: app:1');
    expect(removed[1]).toBe(`Deleted: ${app.configDigest}`);
    expect(removed.slice(2)).toEqual([expect.stringMatching(/^Deleted: sha256:[0-9a-f]{64}$/)]);
    expect(readdirSync(join(root, 'layerdb/sha256')).filter((n) => n.endsWith('.json'))).toHaveLength(1);
    const rj = JSON.parse(ok('image', 'rm', 'base:1', 'registry.example:5000/team/base:v2', '--json'));
    expect(rj.map((r: { untagged: string[] }) => r.untagged)).toEqual([['base:1'], ['registry.example:5000/team/base:v2']]);
    expect(rj[1].deleted[0]).toBe(base.configDigest);
    expect(lines(ok('image', 'ls'))).toEqual(['REPOSITORY   TAG       IMAGE ID   CREATED   SIZE']);
    expect(readdirSync(join(root, 'layerdb/sha256')).filter((n) => n.endsWith('.json'))).toEqual([]);
  });
});

describePrivileged('ovl container (the store)', () => {
  it('create, ls, mount with a volume, a bind and a tmpfs, diff, umount (all of them gone), commit, rm, inspect', async () => {
    const { layout, app } = await images();
    ok('image', 'import', `${layout}:app:1`);
    const host = writeTree(tempDir('ovl-store-host-'), { 'hosts.txt': 'from the host' });

    const id = ok('container', 'create', 'app:1', '--name', 'web', '-v', 'data:/data', '-v', `${host}:/host:ro`, '--tmpfs', '/scratch:size=1m,mode=1777');
    expect(id).toMatch(/^[0-9a-f]{64}\n$/);
    const cid = id.trim();
    expect(lines(ok('container', 'ls', '-a'))).toEqual([
      expect.stringMatching(/^CONTAINER ID\s+IMAGE\s+CREATED\s+STATUS\s+NAMES$/),
      expect.stringMatching(new RegExp(`^${cid.slice(0, 12)}   app:1\\s+(Less than a second|\\d+ seconds?) ago\\s+Created\\s+web$`)),
    ]);

    const merged = ok('container', 'mount', 'web').trim();
    expect(merged).toBe(join(root, 'overlay', readdirSync(join(root, 'overlay')).find((d) => existsSync(join(root, 'overlay', d, 'merged')))!, 'merged'));
    expect(rawMountAt(merged)?.fsType).toBe('overlay');
    expect(rawMountAt(join(merged, 'scratch'))?.fsType).toBe('tmpfs');
    expect(rawMountAt(join(merged, 'host'))?.mountOptions).toContain('ro');
    expect(rawMountAt(join(merged, 'data'))).toBeDefined();
    expect(ok('container', 'mount', 'web').trim()).toBe(merged); // already mounted: the same dir
    expect(ok('container', 'mount')).toBe(`${cid.slice(0, 12)}  ${merged}\n`);
    expect(ok('container', 'ls')).toMatch(/\s+Mounted\s+web$/m);
    expect(readFileSync(join(merged, 'host/hosts.txt'), 'utf8')).toBe('from the host');
    expect(readFileSync(join(merged, 'app/main'), 'utf8')).toBe('main');

    writeFileSync(join(merged, 'app/new'), 'new');
    rmSync(join(merged, 'etc/os-release'));
    writeFileSync(join(merged, 'data/kept'), 'kept in the volume');
    writeFileSync(join(merged, 'scratch/gone'), 'in the tmpfs');
    const diff = lines(ok('container', 'diff', 'web'));
    expect(diff).toEqual(expect.arrayContaining(['C /app', 'A /app/new', 'C /etc', 'D /etc/os-release']));
    expect(diff.filter((l) => l.includes('kept') || l.includes('gone'))).toEqual([]);
    expect(JSON.parse(ok('container', 'diff', 'web', '--json'))).toContainEqual(expect.objectContaining({ kind: 'A', path: '/app/new' }));

    const inspected = JSON.parse(ok('container', 'inspect', 'web'));
    expect(inspected).toHaveLength(1);
    expect(inspected[0]).toMatchObject({ Id: cid, Name: '/web', Image: app.configDigest, State: { Status: 'mounted', Mounted: true }, GraphDriver: { Name: 'overlay2' } });
    expect(inspected[0].GraphDriver.Data.MergedDir).toBe(merged);
    expect(inspected[0].Mounts.map((m: { Type: string; Destination: string }) => `${m.Type} ${m.Destination}`)).toEqual(['volume /data', 'bind /host', 'tmpfs /scratch']);

    // umount: the volume, the bind and the tmpfs go with the overlay; the volume's files stay in it.
    expect(ok('container', 'umount', 'web')).toBe('web\n');
    expect(mountsUnder(root)).toEqual([]);
    expect(readdirSync(merged)).toEqual([]);
    expect(readFileSync(join(root, 'volumes/data/_data/kept'), 'utf8')).toBe('kept in the volume');
    expect(ok('container', 'ls')).toMatch(/\s+Created\s+web$/m);
    expect(ok('container', 'umount', 'web')).toBe('web\n'); // not mounted: nothing to do

    // Mounted again: the volume's file is back, the tmpfs is new and empty.
    ok('container', 'mount', 'web');
    expect(readFileSync(join(merged, 'data/kept'), 'utf8')).toBe('kept in the volume');
    expect(readdirSync(join(merged, 'scratch'))).toEqual([]);
    ok('container', 'umount', 'web');

    // commit: a new image of the changes, with docker commit's -m and -a.
    const committed = ok('container', 'commit', 'web', 'app:2', '-m', 'added new', '-a', 'tester');
    expect(committed).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const history = JSON.parse(ok('image', 'history', 'app:2', '--json'));
    expect(history[0]).toMatchObject({ id: committed.trim(), createdBy: 'ovl container commit web', comment: 'added new', size: 3 });
    expect(lines(ok('image', 'history', 'app:2'))[1]).toMatch(/^\S{12}\s+.* ago\s+ovl container commit web\s+3B\s+added new$/);

    // A container of the committed image sees the changes; rm -f unmounts it first.
    ok('container', 'create', 'app:2', '--name', 'web2');
    const merged2 = ok('container', 'mount', 'web2').trim();
    expect(readFileSync(join(merged2, 'app/new'), 'utf8')).toBe('new');
    expect(existsSync(join(merged2, 'etc/os-release'))).toBe(false);
    const refused = run('container', 'rm', 'web2');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^Error: You cannot remove a mounted container [0-9a-f]{12} \(web2\)\. Unmount it before removing, or use force\n$/);
    expect(ok('container', 'rm', '-f', 'web2', 'web')).toBe('web2\nweb\n');
    expect(mountsUnder(root)).toEqual([]);
    expect(lines(ok('container', 'ls'))).toHaveLength(1);
    expect(JSON.parse(ok('container', 'ls', '--json'))).toEqual([]);
    // Its named volume stays (docker rm without -v).
    expect(ok('volume', 'ls', '-q')).toBe('data\n');
  });
});

describePrivileged('ovl volume (the store)', () => {
  it('create, ls, inspect, rm; one a container names is refused until the container goes', async () => {
    expect(ok('volume', 'create', 'v1', '--label', 'team=infra')).toBe('v1\n');
    const anonymous = ok('volume', 'create').trim();
    expect(anonymous).toMatch(/^[0-9a-f]{64}$/);
    expect(ok('volume', 'create', 'v1')).toBe('v1\n'); // there already: as docker, that one
    expect(lines(ok('volume', 'ls')).sort()).toEqual(['DRIVER    VOLUME NAME', `local     ${anonymous}`, 'local     v1'].sort());
    const inspected = JSON.parse(ok('volume', 'inspect', 'v1', anonymous));
    expect(inspected.map((v: { Name: string }) => v.Name)).toEqual(['v1', anonymous]);
    expect(inspected[0]).toMatchObject({ Driver: 'local', Mountpoint: join(root, 'volumes/v1/_data'), Labels: { team: 'infra' }, Scope: 'local' });

    const missing = run('volume', 'inspect', 'nope');
    expect(missing).toMatchObject({ status: 1, stdout: '[]\n', stderr: 'Error: no such volume: nope\n' });

    const { layout } = await images();
    ok('image', 'import', `${layout}:base:1`);
    ok('container', 'create', 'base:1', '--name', 'user', '-v', 'v1:/v');
    const inUse = run('volume', 'rm', 'v1');
    expect(inUse).toMatchObject({ status: 1, stdout: '' });
    expect(inUse.stderr).toBe('Error: remove v1: volume is in use - [user]\n');
    // prune (docker's rule since 23.0): anonymous volumes no container names; -a named ones too; never one in use.
    ok('volume', 'create', 'v2');
    writeFileSync(join(root, 'volumes', anonymous, '_data', 'f'), 'x'.repeat(1500));
    expect(ok('volume', 'prune', '-f')).toBe(`Deleted Volumes:\n${anonymous}\n\nTotal reclaimed space: 1.5kB\n`);
    expect(JSON.parse(ok('volume', 'prune', '-a', '--json'))).toEqual({ volumes: ['v2'], reclaimed: 0 });
    expect(lines(ok('volume', 'ls', '-q'))).toEqual(['v1']);
    const anonymous2 = ok('volume', 'create').trim();
    ok('container', 'rm', 'user');
    expect(ok('volume', 'rm', 'v1', anonymous2)).toBe(`v1\n${anonymous2}\n`);
    expect(JSON.parse(ok('volume', 'ls', '--json'))).toEqual([]);
    expect(existsSync(join(root, 'volumes/v1'))).toBe(false);
  });
});

describePrivileged('ovl system (the store)', () => {
  it("df: docker's table, -v's sections and --json; prune: docker's lines, and what it leaves", async () => {
    const { layout } = await images();
    ok('image', 'import', layout, '--all');
    ok('container', 'create', 'app:1', '--name', 'c1', '-v', 'vol:/v');
    const merged = ok('container', 'mount', 'c1').trim();
    writeFileSync(join(merged, 'file'), 'f'.repeat(1000));
    writeFileSync(join(merged, 'v/data'), 'd'.repeat(500));

    // Every layer is under a container's image: nothing to reclaim.
    expect(ok('system', 'df')).toBe(
      [
        'TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE',
        'Images          2         1         12.36kB   0B (0%)',
        'Containers      1         1         1kB       0B (0%)',
        'Local Volumes   1         1         500B      0B (0%)',
        '',
      ].join('\n'),
    );
    const verbose = ok('system', 'df', '-v');
    expect(verbose).toMatch(/^Images space usage:\n\nREPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\s+SHARED SIZE\s+UNIQUE SIZE\s+CONTAINERS\n/);
    expect(verbose).toMatch(/^app\s+1\s+[0-9a-f]{12}\s+N\/A\s+12\.4kB\s+12\.35kB\s+4B\s+1$/m);
    expect(verbose).toMatch(/^base\s+1\s+[0-9a-f]{12}\s+2 hours ago\s+12\.4kB\s+12\.35kB\s+0B\s+0$/m);
    expect(verbose).toMatch(/\n\nContainers space usage:\n\nCONTAINER ID\s+IMAGE\s+LOCAL VOLUMES\s+SIZE\s+CREATED\s+STATUS\s+NAMES\n[0-9a-f]{12}\s+app:1\s+1\s+1kB\s+.* ago\s+Mounted\s+c1\n/);
    expect(verbose).toMatch(/\n\nLocal Volumes space usage:\n\nVOLUME NAME\s+LINKS\s+SIZE\nvol\s+1\s+500B\n$/);
    const usage = JSON.parse(ok('system', 'df', '--json', '--verify'));
    expect(usage.images).toMatchObject({ total: 2, active: 1, size: 12_357, reclaimable: 0 });
    expect(usage.containers).toMatchObject({ total: 1, active: 1, size: 1000 });
    expect(usage.volumes).toMatchObject({ total: 1, active: 1, size: 500 });
    expect(usage.mismatches).toEqual([]);

    // Unmounted, the container's layer is reclaimable; committed without a name, a dangling image.
    ok('container', 'umount', 'c1');
    expect(ok('system', 'df')).toMatch(/^Containers      1         0         1kB       1kB \(100%\)$/m);
    const dangling = ok('container', 'commit', 'c1').trim();
    expect(ok('image', 'ls')).toMatch(new RegExp(`^<none>\\s+<none>\\s+${short(dangling)}\\s`, 'm'));

    // prune (stdin is not a terminal: no question): the container, the dangling image and its layer.
    const pruned = ok('system', 'prune');
    expect(pruned).toMatch(new RegExp(`^Deleted Containers:\nc1\n\nDeleted Images:\ndeleted: ${dangling}\ndeleted: sha256:[0-9a-f]{64}\n\nTotal reclaimed space: 2kB\n$`));
    expect(lines(ok('container', 'ls'))).toHaveLength(1);
    expect(lines(ok('image', 'ls', '-q'))).toHaveLength(2);
    expect(ok('volume', 'ls', '-q')).toBe('vol\n'); // docker system prune keeps volumes
    expect(ok('system', 'prune', '-f')).toBe('Total reclaimed space: 0B\n');
    expect(JSON.parse(ok('system', 'prune', '--json'))).toEqual({ containers: [], images: [], layers: [], reclaimed: 0 });
  });
});

describePrivileged('ovl store commands: failures, usage, --root and OVL_ROOT', () => {
  it("a failure: docker's words on stderr, exit 1; bad usage: the usage, exit 1; several names: the rest still done", async () => {
    const { layout } = await images();
    ok('image', 'import', `${layout}:base:1`);
    expect(run('image', 'rm', 'nope')).toEqual({ status: 1, stdout: '', stderr: 'Error: No such image: nope\n' });
    expect(run('container', 'mount', 'nope')).toEqual({ status: 1, stdout: '', stderr: 'Error: No such container: nope\n' });
    expect(run('image', 'tag', 'base:1', 'Bad:x')).toMatchObject({ status: 1, stderr: expect.stringMatching(/^Error: 'Bad:x' is not a valid image name/) });
    expect(run('container', 'create', 'base:1', '-v', 'data:relative')).toEqual({
      status: 1,
      stdout: '',
      stderr: "Error: the destination 'relative' must be an absolute path in the container\n",
    });
    const importMissing = run('image', 'import', join(root, 'no-such-layout'));
    expect(importMissing.status).toBe(1);
    expect(importMissing.stderr).toMatch(/^Error: .*no-such-layout/);
    ok('container', 'create', 'base:1', '--name', 'one');
    ok('container', 'create', 'base:1', '--name', 'two');
    expect(run('container', 'create', 'base:1', '--name', 'one')).toMatchObject({ status: 1, stderr: 'Error: Conflict. The container name "/one" is already in use\n' });
    const inUse = run('image', 'rm', 'base:1');
    expect(inUse.status).toBe(1);
    expect(inUse.stderr).toMatch(/^Error: conflict: unable to remove image base:1 \(must force\) - container [0-9a-f]{12} \((one|two)\) is using it\n$/);
    expect(run('container', 'rm', 'one', 'nope', 'two')).toEqual({ status: 1, stdout: 'one\ntwo\n', stderr: 'Error: No such container: nope\n' });
    // A mount point the image has as a file cannot take a tmpfs: refused at create, nothing made.
    expect(run('container', 'create', 'base:1', '--name', 'bad', '-v', 'fine:/data', '--tmpfs', '/etc/os-release')).toEqual({
      status: 1,
      stdout: '',
      stderr: "Error: cannot mount at '/etc/os-release': '/etc/os-release' is not a directory in the image\n",
    });
    expect(run('container', 'inspect', 'bad').status).toBe(1);
    // One the container made a file itself: the mount refuses in words (not the kernel's bare
    // EINVAL) and takes down what it mounted before: nothing is left mounted.
    ok('container', 'create', 'base:1', '--name', 'bad', '-v', 'fine:/data', '--tmpfs', '/scratch');
    const m = ok('container', 'mount', 'bad').trim();
    ok('container', 'umount', 'bad');
    rmSync(join(m, '..', 'init', 'scratch'), { recursive: true });
    writeFileSync(join(m, '..', 'diff', 'scratch'), 'a file now');
    expect(run('container', 'mount', 'bad')).toEqual({
      status: 1,
      stdout: '',
      stderr: "Error: cannot mount at '/scratch': a directory cannot be mounted over the file there in the container\n",
    });
    expect(mountsUnder(root)).toEqual([]);
    ok('container', 'rm', 'bad');

    for (const args of [['container', 'create'], ['container', 'ls', '--bogus'], ['image', 'tag', 'base:1'], ['volume', 'rm']]) {
      const r = run(...args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toContain(`usage: ovl ${args[0]} ${args[1]}`);
      expect(r.stdout).toBe('');
    }
    // ovl image ls SOURCE lists the layout, not the store: the store's options are refused with it.
    expect(run('image', 'ls', layout).stderr).toContain('--root is for the store');
    expect(ovlOk(['image', 'ls', layout])).toMatch(/^REF\s+PLATFORM\s+MANIFEST/);
  });

  it('OVL_ROOT names the store when --root does not; ovl --help and ovl GROUP list the groups', () => {
    expect(ovlOk(['volume', 'create', 'from-env'], { env: { OVL_ROOT: root } })).toBe('from-env\n');
    expect(ok('volume', 'ls', '-q')).toBe('from-env\n');
    expect(ovlOk(['volume', 'ls', '-q', '--root', join(root, '..', 'elsewhere')], { env: { OVL_ROOT: root } })).toBe('');

    const help = ovlOk(['--help']);
    for (const group of ['image', 'container', 'volume', 'system']) expect(help).toMatch(new RegExp(`^ {2}${group} COMMAND +\\S`, 'm'));
    expect(help).toMatch(/^ {2}container COMMAND +create, ls, mount, umount, diff, commit, rm, inspect: /m);
    const group = ovl(['system']);
    expect(group.status).toBe(1);
    expect(group.stdout).toMatch(/system df\s+.*\n\s+system prune\s+/);
    expect(ovlOk(['container', 'commit', '--help'])).toContain('usage: ovl container commit NAME [REF]');
  });
});
