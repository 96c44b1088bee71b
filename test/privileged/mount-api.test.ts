import { expect, it } from 'vitest';
import { sys, MOVE_MOUNT } from '../../src/index.js';
import { describeWithKernel, itWithKernel, type KernelFeature } from '../helpers/privileged.js';
import { checkMergedView, expectUnmounted, makeLayers, mountAt, type Layers } from '../helpers/overlay.js';
import { openFdCount } from '../helpers/tmp.js';

function configureSync(fs: sys.FdHandle, x: Layers): void {
  sys.fsconfigSetStringSync(fs, 'lowerdir+', x.l1);
  sys.fsconfigSetStringSync(fs, 'lowerdir+', x.l2);
  sys.fsconfigSetStringSync(fs, 'upperdir', x.upper);
  sys.fsconfigSetStringSync(fs, 'workdir', x.work);
}

async function configure(fs: sys.FdHandle, x: Layers): Promise<void> {
  await sys.fsconfigSetString(fs, 'lowerdir+', x.l1);
  await sys.fsconfigSetString(fs, 'lowerdir+', x.l2);
  await sys.fsconfigSetString(fs, 'upperdir', x.upper);
  await sys.fsconfigSetString(fs, 'workdir', x.work);
}

describeWithKernel('lowerdirPlus', 'new mount API: fsopen, fsconfig lowerdir+ per layer, fsmount, move_mount', () => {
  for (const excl of [false, true]) {
    const create = excl ? 'fsconfigCreateExcl' : 'fsconfigCreate';
    const needs: KernelFeature[] = excl ? ['createExcl'] : [];

    itWithKernel(needs, `sync with ${create}Sync: the merged view is right; umount2Sync empties the target`, () => {
      const x = makeLayers();
      const fdsBefore = openFdCount();
      const fs = sys.fsopenSync('overlay');
      expect(fs.kind).toBe('fs');
      configureSync(fs, x);
      if (excl) sys.fsconfigCreateExclSync(fs);
      else sys.fsconfigCreateSync(fs);
      const mnt = sys.fsmountSync(fs);
      expect(mnt.kind).toBe('mount');
      sys.moveMountSync('', x.merged, { from: mnt, flags: MOVE_MOUNT.F_EMPTY_PATH });
      mnt.close();
      expect(sys.fsReadLogSync(fs)).toEqual([]);
      fs.close();
      expect(fs.closed).toBe(true);
      expect(openFdCount()).toBe(fdsBefore);

      // fsopen without a 'source' key: mountinfo shows "none"; one lowerdir+= entry per layer.
      const m = mountAt(x.merged);
      expect(m?.source).toBe('none');
      expect(m?.superOptions).toContain(`lowerdir+=${x.l1},lowerdir+=${x.l2},upperdir=${x.upper},workdir=${x.work}`);
      checkMergedView(x);
      sys.umount2Sync(x.merged);
      expectUnmounted(x.merged);
    });

    itWithKernel(needs, `Promise forms with ${create}: the merged view is right; umount2 empties the target`, async () => {
      const x = makeLayers();
      const fdsBefore = openFdCount();
      const fs = await sys.fsopen('overlay');
      await configure(fs, x);
      await (excl ? sys.fsconfigCreateExcl(fs) : sys.fsconfigCreate(fs));
      const mnt = await sys.fsmount(fs);
      await sys.moveMount('', x.merged, { from: mnt, flags: MOVE_MOUNT.F_EMPTY_PATH });
      mnt.close();
      fs.close();
      expect(openFdCount()).toBe(fdsBefore);
      checkMergedView(x);
      await sys.umount2(x.merged);
      expectUnmounted(x.merged);
    });
  }
});
