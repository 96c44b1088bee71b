import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { sys, MNT, MOVE_MOUNT, type FdHandle } from '../../src/index.js';
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
