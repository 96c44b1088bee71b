import { expect, it } from 'vitest';
import { sys, MOVE_MOUNT, type FdHandle } from '../../src/index.js';
import { describePrivileged, itWithKernel } from '../helpers/privileged.js';
import {
  checkMergedView,
  expectUnmounted,
  FSMOUNT_STEP,
  legacyData,
  makeLayers,
  mountAt,
  newApiSteps,
} from '../helpers/overlay.js';
import { openFdCount } from '../helpers/tmp.js';

describePrivileged('runSteps: a whole mount in one native call', () => {
  itWithKernel(['lowerdirPlus', 'createExcl'], 'runStepsSync: fsopen..move_mount mounts the overlay, closes every fd, returns no handles', () => {
    const x = makeLayers();
    const fdsBefore = openFdCount();
    const r = sys.runStepsSync(newApiSteps(x, { excl: true }));
    expect(r.kernelMessages).toEqual([]);
    expect(r.results).toHaveLength(8);
    expect(r.results.every((v) => v === undefined)).toBe(true);
    expect(openFdCount()).toBe(fdsBefore);
    checkMergedView(x);
    sys.runStepsSync([{ op: 'umount2', target: x.merged }]);
    expectUnmounted(x.merged);
  });

  itWithKernel('lowerdirPlus', 'runSteps (Promise): the same scenario, and umount2 as a step', async () => {
    const x = makeLayers();
    const fdsBefore = openFdCount();
    const r = await sys.runSteps(newApiSteps(x));
    expect(r.kernelMessages).toEqual([]);
    expect(openFdCount()).toBe(fdsBefore);
    checkMergedView(x);
    await sys.runSteps([{ op: 'umount2', target: x.merged }]);
    expectUnmounted(x.merged);
  });

  itWithKernel('lowerdirPlus', 'keep: true on fsmount returns a mount handle; the rest of the batch is closed', async () => {
    const x = makeLayers();
    const fdsBefore = openFdCount();
    const r = await sys.runSteps(newApiSteps(x, { keep: true, attach: false }));
    const mnt = r.results[FSMOUNT_STEP] as FdHandle;
    expect(mnt.kind).toBe('mount');
    expect(mnt.closed).toBe(false);
    expect(r.results.filter((v) => v !== undefined)).toEqual([mnt]);
    // Only the kept fd is still open, and it is the detached mount: nothing is attached yet.
    expect(openFdCount()).toBe(fdsBefore + 1);
    expect(mountAt(x.merged)).toBeUndefined();

    sys.moveMountSync('', x.merged, { from: mnt, flags: MOVE_MOUNT.F_EMPTY_PATH });
    mnt.close();
    expect(openFdCount()).toBe(fdsBefore);
    checkMergedView(x);
    await sys.umount2(x.merged);
    expectUnmounted(x.merged);
  });

  itWithKernel('lowerdirPlus', 'keep: true with the move_mount in the same batch: the kept handle is the attached mount', () => {
    const x = makeLayers();
    const r = sys.runStepsSync(newApiSteps(x, { keep: true }));
    const mnt = r.results[FSMOUNT_STEP] as FdHandle;
    expect(mnt.kind).toBe('mount');
    checkMergedView(x);
    mnt.close();
    sys.umount2Sync(x.merged);
    expectUnmounted(x.merged);
  });

  it('a mount(2) step, sync and Promise', async () => {
    const x = makeLayers();
    sys.runStepsSync([{ op: 'mount', source: 'overlay', target: x.merged, fstype: 'overlay', data: legacyData(x) }]);
    expect(mountAt(x.merged)?.source).toBe('overlay');
    checkMergedView(x);
    sys.runStepsSync([{ op: 'umount2', target: x.merged }]);
    expectUnmounted(x.merged);

    const y = makeLayers();
    await sys.runSteps([{ op: 'mount', source: 'overlay', target: y.merged, fstype: 'overlay', data: legacyData(y) }]);
    checkMergedView(y);
    await sys.runSteps([{ op: 'umount2', target: y.merged }]);
    expectUnmounted(y.merged);
  });
});
