/**
 * The mount table the in-use check reads: listmount(2) and the table kept between mounts
 * (src/read/overlay-table.ts), and the shared /dev/kmsg reader (src/mount/kmsg.ts). Each cache
 * must stay exact: a mount made after the table was read, by another process or attached late
 * from a detached fsmount(), is still seen; one unmounted behind our back is forgotten; kernel
 * log records read by one call still reach another call's cursor.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { AT, MNT, mountOverlaySync, MOVE_MOUNT, OverlaySpecError, STATX, sys } from '../../src/index.js';
import { openKernelLog, readKernelLog } from '../../src/mount/kmsg.js';
import { overlayTableStep, overlayTableTask } from '../../src/read/overlay-table.js';
import { runAsync, runSync } from '../../src/sys/io.js';
import { caughtSync, expectUnmounted } from '../helpers/overlay.js';
import { describeWithKernel, itWithKernelLog } from '../helpers/privileged.js';
import { mountsUnder, tempDir, writeTree } from '../helpers/tmp.js';

function dirs() {
  const root = tempDir();
  writeTree(root, { 'a/from-a': 'a', 'b/from-b': 'b', 'u1/': null, 'u2/': null, 'm1/': null, 'm2/': null, 'm3/': null });
  const at = (n: string) => join(root, n);
  return { root, a: at('a'), b: at('b'), u1: at('u1'), u2: at('u2'), w1: at('w1'), w2: at('w2'), w3: at('w3'), m1: at('m1'), m2: at('m2'), m3: at('m3') };
}

function uniqueId(path: string): number {
  const st = sys.statxSync(path, { flags: AT.SYMLINK_NOFOLLOW, mask: STATX.MNT_ID_UNIQUE });
  expect(st.mountIdUnique).toBe(true);
  return st.mountId!;
}

function upperProblems(err: unknown): string[] {
  expect(err).toBeInstanceOf(OverlaySpecError);
  return (err as OverlaySpecError).problems.map((p) => `${p.field}: ${p.problem}`);
}

describeWithKernel('statmount', 'listmount(2)', () => {
  it("lists the namespace's mounts in id order, a new mount's 64-bit id among them; `since` starts after an id", () => {
    const d = dirs();
    const m = mountOverlaySync({ lower: [d.a, d.b], target: d.m1 });
    try {
      const id = uniqueId(d.m1);
      const all = [...sys.listmountSync()];
      expect(all).toContain(id);
      expect(all).toEqual([...all].sort((x, y) => x - y));
      expect(all).toContain(uniqueId('/'));
      const after = [...sys.listmountSync({ since: id })];
      expect(after).not.toContain(id);
      expect(after.every((x) => x > id)).toBe(true);
      // Below a mount: nothing is mounted beneath the overlay.
      expect([...sys.listmountSync({ mountId: id })]).toEqual([]);
    } finally {
      m.unmountSync();
    }
    expect(sys.listmountSync()).not.toContain(NaN);
  });

  it('an id that is no mount: ENOENT; a short (old-style) id: EINVAL; as Node names a failed call', async () => {
    const none = Math.max(...sys.listmountSync()) + 1_000_000;
    const e = caughtSync(() => sys.listmountSync({ mountId: none }));
    expect(e).toMatchObject({ code: 'ENOENT', syscall: 'listmount' });
    await expect(sys.listmount({ mountId: none })).rejects.toMatchObject({ code: 'ENOENT' });
    expect(caughtSync(() => sys.listmountSync({ mountId: 1 }))).toMatchObject({ code: 'EINVAL', syscall: 'listmount' });
  });
});

describeWithKernel('statmount', 'the in-use check with the mount table kept between mounts', () => {
  it("sees another process's overlay mounted after the table was read, and forgets it once that process unmounts it", () => {
    const d = dirs();
    // Fills the table.
    mountOverlaySync({ lower: [d.a], upper: d.u1, work: d.w1, target: d.m1 }).unmountSync();
    // mount(8) in another process: a mount this process did not make and has no record of.
    const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${d.b},upperdir=${d.u1},workdir=${d.w1}`, d.m2], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    try {
      const err = caughtSync(() => mountOverlaySync({ lower: [d.a], upper: d.u1, work: d.w1, target: d.m1 }));
      expect(upperProblems(err)).toEqual([
        expect.stringContaining(`upper: is already the upper dir of the overlay mounted at '${d.m2}'`),
        expect.stringContaining(`work: is already the work dir of the overlay mounted at '${d.m2}'`),
      ]);
      expect(mountsUnder(d.root)).toEqual([d.m2]);
    } finally {
      expect(spawnSync('umount', [d.m2]).status).toBe(0);
    }
    // Gone behind our back: the next mount of the same dirs goes ahead.
    const again = mountOverlaySync({ lower: [d.a], upper: d.u1, work: d.w1, target: d.m1 });
    again.unmountSync();
    expectUnmounted(d.m1);
    expectUnmounted(d.m2);
  });

  it('names where a kept overlay is now after it was moved (mount --move keeps its id)', () => {
    const d = dirs();
    writeTree(d.root, { 'w1/': null });
    const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${d.b},upperdir=${d.u1},workdir=${d.w1}`, d.m2], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    try {
      // The table keeps it at m2 ...
      expect(upperProblems(caughtSync(() => mountOverlaySync({ lower: [d.a], upper: d.u1, work: d.w1, target: d.m1 })))[0]).toContain(`mounted at '${d.m2}'`);
      expect(spawnSync('mount', ['--move', d.m2, d.m3]).status).toBe(0);
      // ... and says m3 once it is there.
      const err = caughtSync(() => mountOverlaySync({ lower: [d.a], upper: d.u1, work: d.w1, target: d.m1 }));
      expect(upperProblems(err)[0]).toContain(`upper: is already the upper dir of the overlay mounted at '${d.m3}'`);
    } finally {
      spawnSync('umount', [d.m3]);
      spawnSync('umount', [d.m2]);
    }
    expectUnmounted(d.m3);
  });

  it('sees an overlay whose id was allocated before the table was read but attached after (fsmount, then move_mount)', () => {
    const d = dirs();
    // A detached overlay on u2: its mount exists (it has an id) but is in no namespace yet.
    const fs = sys.fsopenSync('overlay');
    let detached: ReturnType<typeof sys.fsmountSync> | undefined;
    try {
      sys.fsconfigSetStringSync(fs, 'lowerdir+', d.b);
      sys.fsconfigSetStringSync(fs, 'upperdir', d.u2);
      writeTree(d.root, { 'w2/': null });
      sys.fsconfigSetStringSync(fs, 'workdir', d.w2);
      sys.fsconfigCreateSync(fs);
      detached = sys.fsmountSync(fs);
    } finally {
      fs.close();
    }
    try {
      // The table is read (and kept) while the overlay is detached: not in it.
      mountOverlaySync({ lower: [d.a], upper: d.u1, work: d.w1, target: d.m1 }).unmountSync();
      sys.moveMountSync('', d.m3, { from: detached, flags: MOVE_MOUNT.F_EMPTY_PATH });
      const err = caughtSync(() => mountOverlaySync({ lower: [d.a], upper: d.u2, work: d.w3, target: d.m1 }));
      expect(upperProblems(err)).toEqual([expect.stringContaining(`upper: is already the upper dir of the overlay mounted at '${d.m3}'`)]);
    } finally {
      detached!.close();
      sys.umount2Sync(d.m3, { flags: MNT.DETACH });
    }
    expectUnmounted(d.m1);
  });
});

describeWithKernel('statmount', 'the shared kernel log reader', () => {
  itWithKernelLog([], 'two cursors open at once each get every overlay record logged after them, whichever read it first', async () => {
    const first = runSync(openKernelLog());
    expect(first).not.toBeNull();
    writeFileSync('/dev/kmsg', 'overlayfs: test record one\n');
    const second = runSync(openKernelLog()); // reads record one: kept for the first cursor
    writeFileSync('/dev/kmsg', 'overlayfs: test record two\n');
    const late = await runAsync(readKernelLog(second));
    expect(late.filter((l) => l.startsWith('overlayfs: test record'))).toEqual(['overlayfs: test record two']);
    const early = runSync(readKernelLog(first));
    expect(early.filter((l) => l.startsWith('overlayfs: test record'))).toEqual(['overlayfs: test record one', 'overlayfs: test record two']);
  });

  itWithKernelLog([], "a line another call's read took off the fd still reaches the cursor it came after (the journal, not the order results reach JavaScript)", async () => {
    const failed = runSync(openKernelLog());
    writeFileSync('/dev/kmsg', 'overlayfs: test record of the failed call\n');
    // Another call's cursor, in a batch on the thread pool, reads that record off the shared fd first.
    const other = await runAsync(openKernelLog());
    const [mine, theirs] = await Promise.all([runAsync(readKernelLog(failed)), runAsync(readKernelLog(other))]);
    expect(mine.filter((l) => l.startsWith('overlayfs: test record'))).toEqual(['overlayfs: test record of the failed call']);
    expect(theirs.filter((l) => l.startsWith('overlayfs: test record'))).toEqual([]);
  });
});

describeWithKernel('statmount', 'where listmount is missing', () => {
  it('(ENOSYS) the table falls back to mountinfo for good, and the in-use check still refuses a used upper', () => {
    const d = dirs();
    const enosys = Object.assign(new Error('ENOSYS: function not implemented, listmount'), { code: 'ENOSYS', errno: -38, syscall: 'listmount' });
    const first = mountOverlaySync({ lower: [d.a], upper: d.u1, work: d.w1, target: d.m1 });
    try {
      const seen = runSync(overlayTableTask(enosys));
      expect(seen.map((e) => e.mountPoint)).toContain(d.m1);
      expect(overlayTableStep()).toEqual({ op: 'readFile', path: '/proc/self/mountinfo' });
      const err = caughtSync(() => mountOverlaySync({ lower: [d.b], upper: d.u1, work: d.w2, target: d.m2 }));
      expect(upperProblems(err)).toEqual([expect.stringContaining(`upper: is already the upper dir of the overlay mounted at '${d.m1}'`)]);
    } finally {
      first.unmountSync();
    }
    mountOverlaySync({ lower: [d.b], upper: d.u1, work: d.w2, target: d.m2 }).unmountSync();
    expectUnmounted(d.m2);
  });
});

describeWithKernel('statmount', 'the expectMount step', () => {
  it('passes for the mount on top at the path (by either id), fails ESTALE for a mount stacked over it, and the umount2 after it never runs', () => {
    const d = dirs();
    const ours = mountOverlaySync({ lower: [d.a, d.b], target: d.m1 });
    try {
      const unique = uniqueId(d.m1);
      sys.runStepsSync([{ op: 'expectMount', path: d.m1, mountId: unique, unique: true }]);
      sys.runStepsSync([{ op: 'expectMount', path: d.m1, mountId: ours.mountId }]);
      sys.mountSync('tmpfs', d.m1, 'tmpfs', { data: 'size=1m' });
      try {
        const e = caughtSync(() => sys.runStepsSync([{ op: 'expectMount', path: d.m1, mountId: unique, unique: true }, { op: 'umount2', target: d.m1 }]));
        expect(e).toMatchObject({ code: 'ESTALE', syscall: 'statx', path: d.m1, step: 0 });
        expect(e.message).toBe(`ESTALE: stale file handle, statx '${d.m1}'`);
        // The tmpfs is still there, on top of ours.
        expect(uniqueId(d.m1)).not.toBe(unique);
        expect(mountsUnder(d.root)).toEqual([d.m1, d.m1]);
      } finally {
        sys.umount2Sync(d.m1);
      }
      expect(caughtSync(() => sys.runStepsSync([{ op: 'expectMount', path: join(d.root, 'nowhere'), mountId: unique, unique: true }]))).toMatchObject({ code: 'ENOENT', syscall: 'statx' });
    } finally {
      ours.unmountSync();
    }
    expectUnmounted(d.m1);
  });
});
