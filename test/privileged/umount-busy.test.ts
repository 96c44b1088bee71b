import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { bindMount, mountOverlay, mountOverlaySync, OverlaySpecError, sys, MNT, MOVE_MOUNT, type FdHandle, type OverlaySpec } from '../../src/index.js';
import { ovl } from '../helpers/cli.js';
import { mountsUnder, tempDir, writeTree } from '../helpers/tmp.js';
import { describePrivileged, itWithKernel } from '../helpers/privileged.js';
import {
  caught,
  caughtSync,
  expectUnmounted,
  FSMOUNT_STEP,
  legacyData,
  makeLayers,
  mountAt,
  newApiSteps,
} from '../helpers/overlay.js';

describePrivileged('umount2 of a busy mount', () => {
  it('a file held open inside: EBUSY naming umount2 and the target; MNT.DETACH then works', () => {
    const x = makeLayers();
    sys.mountSync('overlay', x.merged, 'overlay', { data: legacyData(x) });
    const fd = openSync(join(x.merged, 'shared.txt'), 'r');
    try {
      const err = caughtSync(() => sys.umount2Sync(x.merged));
      expect(err.code).toBe('EBUSY');
      expect(err.syscall).toBe('umount2');
      expect(err.path).toBe(x.merged);
      expect(err.message).toBe(`EBUSY: resource busy or locked, umount2 '${x.merged}'`);
      expect(mountAt(x.merged)?.fstype).toBe('overlay');

      sys.umount2Sync(x.merged, { flags: MNT.DETACH });
      expectUnmounted(x.merged);
      // Lazily detached, not gone: the open file still reads through the overlay.
      expect(readFileSync(fd, 'utf8')).toBe('from l1');
    } finally {
      closeSync(fd);
    }
  });

  it('the Promise form rejects EBUSY the same way', async () => {
    const x = makeLayers();
    await sys.mount('overlay', x.merged, 'overlay', { data: legacyData(x) });
    const fd = openSync(join(x.merged, 'l1-only.txt'), 'r');
    try {
      const err = await caught(() => sys.umount2(x.merged));
      expect(err.code).toBe('EBUSY');
      expect(err.path).toBe(x.merged);
    } finally {
      closeSync(fd);
    }
    // With the file closed the mount is no longer busy.
    await sys.umount2(x.merged);
    expectUnmounted(x.merged);
  });
});

describePrivileged('an fsmount fd kept open after move_mount', () => {
  itWithKernel('lowerdirPlus', 'pins the mount: umount2 gives EBUSY until the handle is closed', () => {
    const x = makeLayers();
    const r = sys.runStepsSync(newApiSteps(x, { keep: true, attach: false }));
    const mnt = r.results[FSMOUNT_STEP] as FdHandle;
    sys.moveMountSync('', x.merged, { from: mnt, flags: MOVE_MOUNT.F_EMPTY_PATH });
    expect(mountAt(x.merged)?.fstype).toBe('overlay');

    const err = caughtSync(() => sys.umount2Sync(x.merged));
    expect(err.code).toBe('EBUSY');
    expect(err.syscall).toBe('umount2');
    expect(mountAt(x.merged)?.fstype).toBe('overlay');

    mnt.close();
    sys.umount2Sync(x.merged);
    expectUnmounted(x.merged);
  });

  it('the same with the individual calls (Promise forms)', async () => {
    const x = makeLayers();
    const fs = await sys.fsopen('overlay');
    await sys.fsconfigSetString(fs, 'lowerdir', `${x.l1}:${x.l2}`);
    await sys.fsconfigSetString(fs, 'upperdir', x.upper);
    await sys.fsconfigSetString(fs, 'workdir', x.work);
    await sys.fsconfigCreate(fs);
    const mnt = await sys.fsmount(fs);
    fs.close();
    await sys.moveMount('', x.merged, { from: mnt, flags: MOVE_MOUNT.F_EMPTY_PATH });
    expect((await caught(() => sys.umount2(x.merged))).code).toBe('EBUSY');
    mnt.close();
    await sys.umount2(x.merged);
    expectUnmounted(x.merged);
  });
});

/**
 * A child process (`sleep`, once running) whose working directory is `dir`, until killed; with
 * `ownNamespace`, in a mount namespace of its own, which holds a copy of every mount here.
 */
async function holder(dir: string, ownNamespace = false): Promise<ChildProcess> {
  const sh = ['sh', '-c', 'echo in; exec sleep 60'];
  const [cmd, ...args] = ownNamespace ? ['unshare', '--mount', '--propagation', 'private', ...sh] : sh;
  const child = spawn(cmd!, args, { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((resolve) => child.stdout!.once('data', resolve));
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await gone;
}

function overlayDirs() {
  const root = tempDir();
  writeTree(root, { 'l/f': 'l', 'u/': null, 'm/': null, 'm2/': null });
  const at = (n: string) => join(root, n);
  return { root, spec: { lower: [at('l')], upper: at('u'), work: at('w'), target: at('m') } satisfies OverlaySpec, m2: at('m2') };
}

describePrivileged('unmounting a busy overlay: who holds it, and the truth about detach', () => {
  it('EBUSY names the holder (pid, cwd) and the way out; the CLI says --lazy', async () => {
    const d = overlayDirs();
    const m = await mountOverlay(d.spec);
    const child = await holder(join(d.spec.target));
    try {
      const err = await caught(() => m.unmount());
      expect(err.code).toBe('EBUSY');
      expect(err.holders).toEqual([expect.objectContaining({ pid: child.pid, what: 'cwd', path: d.spec.target })]);
      expect(err.hint).toMatch(new RegExp(`busy, held by pid ${child.pid} \\(sleep\\): cwd ${d.spec.target}.*detach: true`));
      const cli = ovl(['umount', d.spec.target]);
      expect(cli.status).toBe(32);
      expect(cli.stderr).toMatch(new RegExp(`hint: .*pid ${child.pid} \\(sleep\\): cwd .*--lazy`));
    } finally {
      await stop(child);
      await m.unmount();
    }
  });

  it('detach: stillInUse is true with the holders while something holds it, false when nothing does', async () => {
    const d = overlayDirs();
    const idle = await mountOverlay(d.spec);
    expect(await idle.unmount({ detach: true })).toEqual({ stillInUse: false, holders: [], cleaned: [] });

    const m = mountOverlaySync(d.spec);
    const child = await holder(join(d.spec.target));
    try {
      const r = m.unmountSync({ detach: true });
      expect(r.stillInUse).toBe(true);
      expect(r.holders).toEqual([expect.objectContaining({ pid: child.pid, what: 'cwd' })]);
      expect(mountsUnder(d.root)).toEqual([]);
    } finally {
      await stop(child);
    }
  });

  it('a copy in another mount namespace holds it too: named as a mount, once for that namespace', async () => {
    const d = overlayDirs();
    const m = await mountOverlay(d.spec);
    const child = await holder('/', true);
    try {
      const r = await m.unmount({ detach: true });
      expect(r.stillInUse).toBe(true);
      expect(r.holders).toEqual([{ pid: child.pid, command: 'sleep', what: 'mount', path: d.spec.target }]);
    } finally {
      await stop(child);
    }
  });

  it('cleanWorkdir with a copy of the overlay in another mount namespace: unmounted here, not cleaned, still in use', async () => {
    const d = overlayDirs();
    const m = await mountOverlay(d.spec);
    const child = await holder('/', true);
    try {
      const r = await m.unmount({ cleanWorkdir: true });
      expect(r).toEqual({ stillInUse: true, holders: [{ pid: child.pid, command: 'sleep', what: 'mount', path: d.spec.target }], cleaned: [] });
      // The copy still runs on the work dir: the kernel's work/ is there.
      expect(readdirSync(d.spec.work)).toContain('work');
      expect(mountsUnder(d.root)).toEqual([]);
      // And its upper and work stay refused here while it lives.
      await expect(mountOverlay({ ...d.spec, target: d.m2 })).rejects.toBeInstanceOf(OverlaySpecError);
    } finally {
      await stop(child);
    }
  });

  it('detach of an overlay someone else unmounted already: nothing held, nothing remembered', async () => {
    const d = overlayDirs();
    const m = await mountOverlay(d.spec);
    sys.umount2Sync(d.spec.target); // behind the handle's back
    // Something holds the dir the target is in: that is not the overlay.
    const child = await holder(d.root);
    try {
      expect(await m.unmount({ detach: true })).toEqual({ stillInUse: false, holders: [], cleaned: [] });
      const again = await mountOverlay({ ...d.spec, target: d.m2 });
      await again.unmount();
    } finally {
      await stop(child);
    }
  });

  it('a program run from the overlay holds it: named by its executable', async () => {
    const d = overlayDirs();
    const m = await mountOverlay(d.spec);
    copyFileSync('/bin/sleep', join(d.spec.target, 'sleep'));
    const child = spawn(join(d.spec.target, 'sleep'), ['60'], { cwd: '/', stdio: 'ignore' });
    try {
      await new Promise((resolve) => child.once('spawn', resolve));
      const err = await caught(() => m.unmount());
      expect(err.code).toBe('EBUSY');
      expect(err.holders).toEqual([expect.objectContaining({ pid: child.pid, what: 'exe', path: join(d.spec.target, 'sleep') })]);
    } finally {
      await stop(child);
      await m.unmount();
    }
  });

  it("a bind mount's holders are its own, not those of the filesystem it shows", async () => {
    const root = tempDir();
    writeTree(root, { 'src/': null, 'dst/': null, 'elsewhere/': null });
    const b = await bindMount(join(root, 'src'), join(root, 'dst'));
    const inside = await holder(join(root, 'dst'));
    const outside = await holder(join(root, 'elsewhere'));
    try {
      const err = await caught(() => b.unmount());
      expect(err.code).toBe('EBUSY');
      expect(err.holders).toEqual([expect.objectContaining({ pid: inside.pid, what: 'cwd' })]);
    } finally {
      await stop(inside);
      await stop(outside);
      await b.unmount();
    }
  });

  it('a detached overlay still held keeps its upper and work: a new mount of them is refused until it is gone', async () => {
    const d = overlayDirs();
    const m = await mountOverlay(d.spec);
    const fd = openSync(join(d.spec.target, 'f'), 'r');
    let child: ChildProcess | undefined;
    try {
      child = await holder(d.spec.target);
      expect((await m.unmount({ detach: true })).stillInUse).toBe(true);
      closeSync(fd);
      const err = await caught(() => mountOverlay({ ...d.spec, target: d.m2 }));
      expect(err).toBeInstanceOf(OverlaySpecError);
      const problems = (err as unknown as OverlaySpecError).problems;
      expect(problems.map((p) => p.field)).toEqual(['upper', 'work']);
      expect(problems[0]!.problem).toMatch(new RegExp(`still the upper dir of the overlay detached from '${d.spec.target}' while busy.*pid ${child.pid}`));
      expect(mountsUnder(d.root)).toEqual([]);
      await stop(child);
      // Nothing holds it now: the old overlay is gone, and the dirs are free.
      const again = await mountOverlay({ ...d.spec, target: d.m2 });
      await again.unmount();
    } finally {
      if (child) await stop(child);
    }
  });
});
