import { expect, it } from 'vitest';
import { sys } from '../../src/index.js';
import { describePrivileged } from '../helpers/privileged.js';
import { checkMergedView, expectUnmounted, legacyData, makeLayers, mountAt } from '../helpers/overlay.js';

describePrivileged('mount(2): lowerdir=L1:L2,upperdir=U,workdir=W', () => {
  it('mountSync: top layer wins, lower-only visible, write copies up, delete whites out; umount2Sync', () => {
    const x = makeLayers();
    sys.mountSync('overlay', x.merged, 'overlay', { data: legacyData(x) });
    const m = mountAt(x.merged);
    expect(m?.source).toBe('overlay');
    expect(m?.superOptions).toContain(`lowerdir=${x.l1}:${x.l2},upperdir=${x.upper},workdir=${x.work}`);
    checkMergedView(x);
    sys.umount2Sync(x.merged);
    expectUnmounted(x.merged);
  });

  it('mount (Promise): the same scenario; umount2 (Promise) empties the target', async () => {
    const x = makeLayers();
    await expect(sys.mount('overlay', x.merged, 'overlay', { data: legacyData(x) })).resolves.toBeUndefined();
    checkMergedView(x);
    await expect(sys.umount2(x.merged)).resolves.toBeUndefined();
    expectUnmounted(x.merged);
  });
});
