/**
 * Idmapped layers (spec.idmap): one copy of an image's layers serves containers with different
 * uid ranges, without a chown. Each lower layer is cloned, checked and idmapped in the mount's
 * own batch; the user namespace carrying the map is made by a short-lived child reaped before
 * the call returns.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { formatPlan, mountOverlay, mountOverlaySync, OverlaySpecError, plan, probeIdmap, probeIdmapSync, probeSync, sys, type OverlayIdMap, type OverlaySpec } from '../../src/index.js';
import { ovl } from '../helpers/cli.js';
import { caught, expectUnmounted } from '../helpers/overlay.js';
import { describeWithKernel } from '../helpers/privileged.js';
import { childProcesses } from '../helpers/proc.js';
import { mountsUnder, openFdCount, tempDir, writeTree } from '../helpers/tmp.js';

const MAP = (outside: number) => ({ uid: [{ inside: 0, outside, count: 65536 }] });

/** An image of two layers, files owned 0 and 1000 on disk, and a container dir per name. */
function image(...containers: string[]) {
  const root = tempDir();
  // mkdtemp makes it 0700: the container's ids must reach the mount point.
  chmodSync(root, 0o755);
  writeTree(root, { 'base/etc/passwd': 'root', 'base/home/user/file': 'user', 'app/bin/app': 'app' });
  chownSync(join(root, 'base/home/user'), 1000, 1000);
  chownSync(join(root, 'base/home/user/file'), 1000, 1000);
  for (const c of containers) writeTree(root, { [`${c}/upper/`]: null, [`${c}/m/`]: null });
  return { root, lower: [join(root, 'app'), join(root, 'base')], at: (p: string) => join(root, p) };
}

function owner(path: string): [number, number] {
  const st = lstatSync(path);
  return [st.uid, st.gid];
}

describeWithKernel(['layersByFd'], 'idmapped lower layers', () => {
  it('files owned 0 and 1000 show as 100000 and 101000; a file written as 100000 lands in upper as 100000; the layers are unchanged', () => {
    const img = image('c1');
    // The container's root owns its upper (as a store makes it): it writes at /.
    chownSync(img.at('c1/upper'), 100000, 100000);
    const m = mountOverlaySync({ lower: img.lower, upper: img.at('c1/upper'), work: img.at('c1/work'), target: img.at('c1/m'), idmap: MAP(100000) });
    try {
      expect(m.strategy).toBe('fd');
      expect(owner(img.at('c1/m/etc/passwd'))).toEqual([100000, 100000]);
      expect(owner(img.at('c1/m/home/user/file'))).toEqual([101000, 101000]);
      expect(owner(img.at('c1/m/bin/app'))).toEqual([100000, 100000]);
      const r = spawnSync('sh', ['-c', `echo new > ${img.at('c1/m/new')} && echo changed >> ${img.at('c1/m/home/user/file')}`], { uid: 100000, gid: 100000, encoding: 'utf8' });
      // uid 100000 is not the file's owner (101000): the append is refused, the create is not.
      expect(r.stderr).toContain('Permission denied');
      const r2 = spawnSync('sh', ['-c', `echo changed >> ${img.at('c1/m/home/user/file')}`], { uid: 101000, gid: 101000, encoding: 'utf8' });
      expect(r2.status, r2.stderr).toBe(0);
      expect(owner(img.at('c1/upper/new'))).toEqual([100000, 100000]);
      // Copied up with the owner the container sees, as the host sees it.
      expect(owner(img.at('c1/upper/home/user/file'))).toEqual([101000, 101000]);
      expect(readFileSync(img.at('c1/m/home/user/file'), 'utf8')).toBe('userchanged\n');
      // Nothing chowned in the image.
      expect(owner(img.at('base/home/user/file'))).toEqual([1000, 1000]);
      expect(owner(img.at('base/etc/passwd'))).toEqual([0, 0]);
      expect(readFileSync(img.at('base/home/user/file'), 'utf8')).toBe('user');
    } finally {
      m.unmountSync();
    }
    expectUnmounted(img.at('c1/m'));
    expect(childProcesses()).toEqual([]);
  });

  it('two containers of one image with different ranges each see their own ids, over one copy of the layers', async () => {
    const img = image('a', 'b');
    const [a, b] = await Promise.all(
      [
        ['a', 100000],
        ['b', 200000],
      ].map(([c, outside]) => mountOverlay({ lower: img.lower, upper: img.at(`${c}/upper`), work: img.at(`${c}/work`), target: img.at(`${c}/m`), idmap: MAP(outside as number) })),
    );
    try {
      expect(owner(img.at('a/m/home/user/file'))).toEqual([101000, 101000]);
      expect(owner(img.at('b/m/home/user/file'))).toEqual([201000, 201000]);
      expect(lstatSync(img.at('a/m/etc/passwd')).ino).toBe(lstatSync(img.at('b/m/etc/passwd')).ino);
    } finally {
      await a!.unmount();
      await b!.unmount();
    }
    expect(mountsUnder(img.root)).toEqual([]);
  });

  it('user namespaces made on every pool thread at once all come back, and leave no process (each child holds only its own gate)', async () => {
    for (let round = 0; round < 5; round++) {
      const all = await Promise.all(Array.from({ length: 16 }, (_, i) => sys.userns(`0 ${100000 + i * 65536} 65536\n`, `0 ${100000 + i * 65536} 65536\n`)));
      expect(new Set(all.map((h) => readlinkSync(`/proc/self/fd/${h.fd}`))).size).toBe(16);
      for (const h of all) h.close();
    }
    expect(childProcesses()).toEqual([]);
  });

  it('a separate gid map; a user namespace given by handle, by fd number and by pid', async () => {
    const img = image('c');
    const spec = (idmap: OverlayIdMap): OverlaySpec => ({ lower: img.lower, target: img.at('c/m'), idmap });
    const check = (uid: number, gid: number) => expect(owner(img.at('c/m/home/user/file'))).toEqual([uid, gid]);
    mountOverlaySync(spec({ uid: [{ inside: 0, outside: 100000, count: 65536 }], gid: [{ inside: 0, outside: 300000, count: 65536 }] })).unmountSync();
    const m1 = mountOverlaySync(spec({ uid: [{ inside: 0, outside: 100000, count: 65536 }], gid: [{ inside: 0, outside: 300000, count: 65536 }] }));
    check(101000, 301000);
    m1.unmountSync();
    using ns = sys.usernsSync('0 400000 65536\n', '0 400000 65536\n');
    const m2 = mountOverlaySync(spec({ userns: ns }));
    check(401000, 401000);
    m2.unmountSync();
    const m3 = mountOverlaySync(spec({ userns: ns.fd }));
    check(401000, 401000);
    m3.unmountSync();
    expect(ns.closed).toBe(false);
    // A process in a user namespace of its own, mapped by us.
    const child = spawn('unshare', ['--user', 'sleep', '60'], { stdio: 'ignore' });
    try {
      const pid = child.pid!;
      for (let i = 0; i < 500 && readlinkSync(`/proc/${pid}/ns/user`) === readlinkSync('/proc/self/ns/user'); i++) await new Promise((r) => setTimeout(r, 10));
      writeFileSync(`/proc/${pid}/uid_map`, '0 500000 65536');
      writeFileSync(`/proc/${pid}/gid_map`, '0 500000 65536');
      const m4 = mountOverlaySync(spec({ pid }));
      check(501000, 501000);
      m4.unmountSync();
    } finally {
      child.kill('SIGKILL');
    }
    // The initial namespace is no map at all: the kernel refuses it, and the hint says so.
    const e = await caught(() => mountOverlay(spec({ pid: process.pid })));
    expect(e).toMatchObject({ code: 'EPERM', stage: 'idmap lower[0]' });
    expect(e.hint).toContain('initial user namespace');
    expectUnmounted(img.at('c/m'));
  });

  it('a failure after the namespace was made (a layer whose filesystem cannot be idmapped) leaves no process, no mount, no fd, and says why', async () => {
    const img = image('c');
    // An overlay cannot be idmapped: make one and use it as a layer.
    writeTree(img.root, { 'ro/': null });
    const inner = mountOverlaySync({ lower: img.lower, target: img.at('ro') });
    try {
      const fds = openFdCount();
      const e = await caught(() => mountOverlay({ lower: [img.at('ro')], upper: img.at('c/upper'), work: img.at('c/work'), target: img.at('c/m'), idmap: MAP(100000) }));
      expect(e).toMatchObject({ code: 'EINVAL', syscall: 'mount_setattr', stage: 'idmap lower[0]', strategy: 'fd' });
      expect(e.hint).toContain('cannot be idmapped');
      expect(mountsUnder(img.root)).toEqual([img.at('ro')]);
      expect(openFdCount()).toBe(fds);
      expect(childProcesses()).toEqual([]);
    } finally {
      inner.unmountSync();
    }
  });

  it('probeIdmap says, per path, whether its filesystem can be idmapped (asking it); ovl probe --idmap prints it', async () => {
    const img = image('c');
    writeTree(img.root, { 'ro/': null });
    const inner = mountOverlaySync({ lower: img.lower, target: img.at('ro') });
    try {
      const fds = openFdCount();
      const r = probeIdmapSync([img.lower[0]!, img.at('ro'), img.at('missing')]);
      expect(r[0]).toMatchObject({ path: img.lower[0], idmap: true });
      expect(r[1]).toEqual({ path: img.at('ro'), filesystem: 'overlay', idmap: false, error: 'EINVAL' });
      expect(r[2]).toEqual({ path: img.at('missing'), idmap: false, error: 'ENOENT' });
      expect(await probeIdmap([img.at('ro')])).toEqual([r[1]]);
      expect(openFdCount()).toBe(fds);
      expect(childProcesses()).toEqual([]);
      const cli = ovl(['probe', '--idmap', img.at('ro')]);
      expect(cli.stdout).toBe(`${img.at('ro')}  overlay  idmap: no (EINVAL)\n`);
    } finally {
      inner.unmountSync();
    }
  });

  it('the plan shows every step; a map the kernel would refuse is refused first, by field; legacy cannot idmap', () => {
    const img = image('c');
    const p = plan({ lower: img.lower, upper: img.at('c/upper'), work: img.at('c/work'), target: img.at('c/m'), idmap: MAP(100000) }, probeSync());
    const text = formatPlan(p);
    expect(text).toContain('clone(CLONE_NEWUSER) child, uid_map "0 100000 65536", gid_map "0 100000 65536"');
    expect(text).toContain(`open_tree(AT_FDCWD, "${img.lower[0]}", OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC) = fd#1`);
    expect(text).toContain('mount_setattr(fd#1, "", AT_EMPTY_PATH, {attr_set: MOUNT_ATTR_IDMAP, userns_fd: fd#0})');
    expect(p.byFd).toEqual(['lower[0]', 'lower[1]', 'upper', 'work']);
    const bad = (idmap: unknown, strategy?: OverlaySpec['strategy']) => {
      try {
        plan({ lower: img.lower, target: img.at('c/m'), idmap: idmap as OverlayIdMap, ...(strategy ? { strategy } : {}) }, probeSync());
      } catch (e) {
        expect(e).toBeInstanceOf(OverlaySpecError);
        return (e as OverlaySpecError).problems;
      }
      throw new Error('expected a refusal');
    };
    expect(bad({ uid: [{ inside: 0, outside: 100000, count: 10 }, { inside: 5, outside: 200000, count: 10 }] })).toEqual([
      { field: 'idmap.uid[1]', problem: 'overlaps idmap.uid[0] inside (ids 5…9)' },
    ]);
    expect(bad(MAP(100000), 'legacy')).toEqual([expect.objectContaining({ field: 'strategy' })]);
  });
});
